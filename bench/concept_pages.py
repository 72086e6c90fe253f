"""Rerun times of the concept pages: Tensors & autograd, Loss functions, Optimizers (target < 300 ms on CPU).

Each page runs in Streamlit's AppTest; after a warm-up (imports, process-wide caches, MNIST) the
median of several plain reruns is reported — what a learner waits for after moving a control that
needs no new computation beyond the page's own. Extra rows time the expensive interactions:
a slider that forces four new optimizer paths (cache cleared each time) and the Loss page with a
Net2 in the run store (per-digit losses on the whole test split each rerun).

Run alone: `python -m bench.concept_pages`.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PTCE_OFFLINE", "1")
os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-bench-"))

ROOT = Path(__file__).resolve().parents[1]
TARGET = "< 300 ms"


def _apptest(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=300)
    at.run()
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    return at


def _median_ms(at, n: int, warmup: int, before=None) -> float:
    for _ in range(warmup):
        if before:
            before()
        at.run()
    times = []
    for _ in range(n):
        if before:
            before()
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    return 1000 * statistics.median(times)


def _row(name: str, ms: float, note: str = "") -> dict:
    r = {"name": name, "value": round(ms, 1), "unit": "ms", "target": TARGET}
    if note:
        r["note"] = note
    return r


def rows(n: int = 7, warmup: int = 2) -> list[dict]:
    import torch

    from ui import optim

    out = []
    titles = {"tensors": "Tensors & autograd", "losses": "Loss functions", "optimizers": "Optimizers"}
    for page, title in titles.items():
        at = _apptest(page)
        if page == "optimizers":  # its first run starts the server's one-off background races: not a rerun's cost
            optim.warm_default_races().join()
        out.append(_row(f"{title} page rerun (AppTest, no training)", _median_ms(at, n, warmup)))

    # Optimizers: moving a slider that changes every path (4 optimizers x the default steps of torch.optim)
    from core.lessons.optim2d import Surface

    at = _apptest("optimizers")
    out.append(_row(f"Optimizers page: slider that recomputes 4 paths x {Surface().default_steps} steps",
                    _median_ms(at, n, warmup, before=optim.optim_trajectory.clear),
                    "path cache cleared before each rerun"))

    # Loss functions with a Net2 in the store: the per-digit losses run on every rerun
    from core.models.registry import build_model
    from core.training.config import default_config
    from core.training.record import History, Run
    from ui import resources

    original = resources.stored_run

    def stored(cfg):
        model = build_model(cfg.model, torch.Generator().manual_seed(0)).eval().requires_grad_(False)
        run = Run(cfg, model.state_dict(), History([1.0], 1, [1.0], [0.5]),
                  {"test_acc": 0.5, "train_s": 1.0, "device": "cpu", "samples_per_s": 1.0})
        return run, model

    resources.stored_run = stored
    try:
        at = _apptest("losses")
        cfg = default_config("net2", "mnist-sample")
        out.append(_row(f"Loss functions page rerun with a stored Net2 (h{cfg.model.hidden}, whole test split)",
                        _median_ms(at, n, warmup), "untrained weights stand in for a trained run: same compute"))
    finally:
        resources.stored_run = original
    return out


if __name__ == "__main__":
    for r in rows():
        print(f"{r['name']:<80} {r['value']:>8.1f} {r['unit']}  (target {r['target']})")
