"""Training runs page: rerun time with 50 stored runs (target < 300 ms on CPU).

The runs are stored through the real store (real untrained weights of each architecture, histories shaped like
training's), so the page lists, validates and plots exactly what it would after 50 trainings.

Run alone: `python -m bench.runs_page`; `python -m bench.runs_page --fill HOME N` fills a store for screenshots.
"""
from __future__ import annotations

import os
import sys
import tempfile
from functools import partial
from pathlib import Path

from bench.timing import median_ms

os.environ.setdefault("PTCE_OFFLINE", "1")
os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-bench-"))

ROOT = Path(__file__).resolve().parents[1]


def synthetic_run(i: int):
    """Run number `i` of a family of distinct runs (Net2 and CNNDemo, several optimizers, sizes, seeds): real
    untrained weights of the architecture and a history shaped like training's. No training happens."""
    import numpy as np
    import torch

    from core.config import ModelConfig, TrainConfig
    from core.models import build_model
    from core.record import History, Run

    arch = ("net2", "cnn")[i % 2]
    hidden = (16, 32, 64, 128)[(i // 2) % 4]
    opt = ("adam", "sgd", "momentum")[(i // 8) % 3]
    cfg = TrainConfig(ModelConfig(arch, hidden), opt, (1e-3, 1e-2, 0.1)[i % 3], batch_size=(64, 256, 512)[i % 3],
                      epochs=5 + i % 6, seed=i // 24, data_source="mnist-sample")
    spe = -(-4000 // cfg.batch_size)
    steps = spe * cfg.epochs
    t = np.arange(1, steps + 1)
    loss = 2.3 * np.exp(-t / (steps / 3)) + 0.1 + 0.05 * np.random.default_rng(i).random(steps)
    val = [float(loss[(e + 1) * spe - 1]) for e in range(cfg.epochs)]
    acc = [min(0.99, 0.5 + 0.45 * (1 - np.exp(-(e + 1) / 2))) for e in range(cfg.epochs)]
    model = build_model(cfg.model, torch.Generator().manual_seed(i))
    train_s = float(steps * 0.004)
    metrics = {"test_acc": acc[-1], "test_loss": val[-1], "train_s": train_s, "wall_s": train_s + 0.5,
               "samples_per_s": 4000 * cfg.epochs / train_s, "device": "CPU · 2 threads", "n_train": 4000,
               "n_test": 1000, "concurrent_runs": 1 + i % 3}
    return Run(cfg, model.state_dict(), History(loss.tolist(), spe, val, acc), metrics)


def fill_store(root: Path, n: int) -> int:
    """Store synthetic runs 0..n-1 that are not stored yet; returns how many were new."""
    from core.store import RunStore

    store = RunStore(root)
    added = 0
    for i in range(n):
        run = synthetic_run(i)
        if store.load(run.config) is None:
            store.save(run)
            added += 1
    return added


_median_ms = partial(median_ms, warmup=0)  # this module's warm-up calls


def rows(n: int = 7) -> list[dict]:
    from streamlit.testing.v1 import AppTest

    from core.config import Paths

    fill_store(Paths.from_env().runs, 50)
    at = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=300)
    at.run()
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    listed = len(at.data_editor[0].value)
    at.run()  # warm-up: the first reruns still fill pandas' and Plotly's lazy imports
    out = [{"name": f"Training runs page rerun, {listed} stored runs, 3 overlaid (AppTest, warm)",
            "value": round(_median_ms(at.run, n), 1), "unit": "ms", "target": "< 300 ms"}]

    def smooth_moved() -> None:
        at.slider(key="runs_smooth").set_value(0.5 if at.slider(key="runs_smooth").value != 0.5 else 0.8)
        at.run()

    out.append({"name": "Training runs page rerun after moving the smoothing slider", "value":
                round(_median_ms(smooth_moved, n), 1), "unit": "ms", "target": "< 300 ms"})
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--fill":
        print(fill_store(Path(sys.argv[2]) / "runs", int(sys.argv[3])), "runs added")
    else:
        for r in rows():
            print(f"{r['name']:<80} {r['value']:>9.1f} {r['unit']} {r.get('target', '')}")
