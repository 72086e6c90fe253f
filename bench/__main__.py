"""`python -m bench`: the performance table, each ratio measured side by side in this one run.

Writes bench/results.json: a list of rows {name, value, unit, baseline?, ratio?, target?, device}.
Options: --quick (fewer steps; for a smoke run), --only PREFIX (rows whose group starts with it).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the app runs (ui/__init__.py)
os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-bench-"))

import torch

from bench.seed_loop import seed_epoch_seconds
from bench.timing import row
from core.config import Paths, default_device, device_label
from core.data.mnist import MNISTData, load_mnist
from core.data.split import Split
from core.models.registry import architecture, build_model
from core.optimizers import make_optimizer
from core.runs.store import RunStore
from core.training.config import default_config
from core.training.estimate import time_steps
from core.training.loop import fit, load_model

ROOT = Path(__file__).resolve().parents[1]
EPOCH = 60_000
SPEED_TARGETS = {("net2", 64): "≥ 10× (batch 64)", ("net2", "default"): "≥ 20× (default batch)"}


def tiled(data: MNISTData, n: int = EPOCH) -> MNISTData:
    """A 60,000-digit training split (the bundled sample repeated when that is the active source)."""
    reps = -(-n // len(data.train))
    train = Split(data.train.images.repeat(reps, 1, 1)[:n].contiguous(),
                  data.train.labels.repeat(reps)[:n].contiguous())
    return MNISTData(data.source, data.description, train, data.test)


def compute_only_seconds(arch: str, batch: int, device: torch.device, steps: int) -> float:
    """Pure model compute: the fastest forward+backward+step on one resident batch, per 60,000 samples."""
    cfg = default_config(arch, "mnist-sample")  # type: ignore[arg-type]
    return time_steps(cfg.model, cfg.optimizer, batch, device, steps) / batch * EPOCH


def epoch_rows(data: MNISTData, device: torch.device, quick: bool) -> list[dict]:
    rows = []
    big = tiled(data)
    for arch, seed_steps in (("net2", 150), ("cnn", 80)):
        name = architecture(arch).name
        default = default_config(arch, data.source)  # type: ignore[arg-type]
        g = torch.Generator().manual_seed(0)
        model = build_model(default.model, g)
        opt = make_optimizer(default.optimizer, model.parameters(), default.lr, default.momentum, fused=True)
        steps = seed_steps // 5 if quick else seed_steps
        secs, seen = seed_epoch_seconds(model, opt, big.train.images, big.train.labels, 64, max_steps=steps)
        seed_s = secs / seen * EPOCH  # measured over `steps` batches, scaled to 60,000 samples
        rows.append(row(f"{name}: seed loop (PIL -> ToTensor -> Normalize, DataLoader), batch 64", seed_s,
                        "s/epoch", note=f"measured over {seen:,} samples on CPU, scaled to 60,000"))
        for bs in (64, default.batch_size):
            cfg = replace(default, batch_size=bs, epochs=1)
            run_data = big if not quick else tiled(data, 6_000)
            run = fit(cfg, run_data, device)
            engine_s = run.metrics["train_s"] / len(run_data.train) * EPOCH
            base = seed_s if device.type == "cpu" else None
            rows.append(row(f"{name}: engine, batch {bs}", engine_s, "s/epoch",
                            baseline=round(seed_s, 4), ratio=round(seed_s / engine_s, 1),
                            target=SPEED_TARGETS.get((arch, 64 if bs == 64 else "default"), ""),
                            **({} if base else {"note": "baseline measured on CPU"})))
            limit = compute_only_seconds(arch, bs, device, 20 if quick else 60)
            rows.append(row(f"{name}: pure model compute (resident batch), batch {bs}", limit, "s/epoch",
                            note=f"engine is at {100 * limit / engine_s:.0f}% of this limit"))
    return rows


def accuracy_rows(data: MNISTData, device: torch.device, store: RunStore, quick: bool) -> list[dict]:
    rows = []
    targets = {("net2", "mnist-sample"): 0.93, ("cnn", "mnist-sample"): 0.965,
               ("net2", "mnist-full"): 0.975, ("cnn", "mnist-full"): 0.988}
    for arch in ("net2", "cnn"):
        cfg = default_config(arch, data.source)  # type: ignore[arg-type]
        if quick:
            cfg = replace(cfg, epochs=1)
        run = fit(cfg, data, device)
        store.save(run)
        name = architecture(arch).name
        t = targets[(arch, data.source)]
        rows.append(row(f"{name}: test accuracy, default run ({cfg.epochs} epochs, {data.source})",
                        100 * run.metrics["test_acc"], "%", target=f"≥ {100 * t:g}%",
                        met=bool(run.metrics["test_acc"] >= t)))
        rows.append(row(f"{name}: wall time of that run", run.metrics["wall_s"], "s"))
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            loaded = store.load(cfg)
            load_model(loaded, device)
            times.append(time.perf_counter() - t0)
        rows.append(row(f"{name}: load a stored run (verify + safetensors + model)", 1000 * statistics.median(times),
                        "ms", target="well under 1 s"))
    return rows


def apptest_rerun_ms(page: str, setup=None, reruns: int = 5) -> float:
    """Median AppTest rerun time of a page (after one warm-up run that fills the caches)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / page), default_timeout=300)
    at.run()
    if setup:
        setup(at)
        at.run()
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].message}")
    times = []
    for _ in range(reruns):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def page_rows(quick: bool) -> list[dict]:
    ms = apptest_rerun_ms("pages/fully_connected.py", reruns=3 if quick else 7)
    rows = [row("Fully connected page: rerun with a stored run (AppTest)", ms, "ms")]
    for module in ("bench.concept_pages", "bench.conv_pages", "bench.inspection", "bench.layer_pages",
                   "bench.runs_page"):
        try:
            rows += __import__(module, fromlist=["rows"]).rows()
        except ModuleNotFoundError:
            continue
    return rows


def print_table(rows: list[dict], device: str) -> None:
    print(f"\nPyTorch Concept Explorer benchmark · {device}\n")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        extra = []
        if "ratio" in r:
            extra.append(f"{r['ratio']}× vs {r['baseline']:g} {r['unit']}")
        if r.get("target"):
            extra.append(f"target {r['target']}")
        if r.get("note"):
            extra.append(r["note"])
        print(f"{r['name']:<{width}}  {r['value']:>10.4g} {r['unit']:<8} {' · '.join(extra)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few steps: a smoke run, not a measurement")
    parser.add_argument("--only", default="",
                        help="run only groups starting with this: epoch, accuracy, pages, transfer(-offline, -page), "
                             "store, attribution, uploads, load, download, estimates, playground, own")
    parser.add_argument("--also-active", action="store_true",
                        help="repeat the epoch rows in a child process with OMP_WAIT_POLICY=ACTIVE")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results.json"), help="where to write the rows")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("PTCE_THREADS", 0)) or os.cpu_count() or 1)
    device = default_device()
    paths = Paths.from_env()
    data = load_mnist(paths, allow_download=False)
    store = RunStore(paths.runs)
    label = device_label(device)
    print(f"data: {data.description}; runs in {paths.runs}", file=sys.stderr)
    groups = {"epoch": lambda: epoch_rows(data, device, args.quick),
              "accuracy": lambda: accuracy_rows(data, device, store, args.quick),
              "pages": lambda: page_rows(args.quick),
              "transfer": lambda: __import__("bench.transfer", fromlist=["rows"]).rows(device, args.quick),
              "transfer-offline": lambda: __import__("bench.transfer", fromlist=["rows"]).offline_rows(device,
                                                                                                     args.quick),
              "transfer-page": lambda: __import__("bench.transfer", fromlist=["rows"]).page_rows(device, args.quick),
              "own": lambda: __import__("bench.own_classes", fromlist=["rows"]).rows(device, args.quick),
              "store": lambda: __import__("bench.store", fromlist=["rows"]).rows(20 if args.quick else 60),
              "attribution": lambda: __import__("bench.attribution", fromlist=["rows"]).rows(quick=args.quick),
              "uploads": lambda: __import__("bench.uploads", fromlist=["rows"]).rows(),
              "load": lambda: __import__("bench.load", fromlist=["rows"]).rows(args.quick),
              "download": lambda: __import__("bench.downloads", fromlist=["rows"]).rows(args.quick),
              "estimates": lambda: __import__("bench.estimates", fromlist=["rows"]).rows(args.quick),
              "playground": lambda: __import__("bench.playground", fromlist=["rows"]).rows(args.quick)}
    rows = []
    for name, fn in groups.items():
        if name.startswith(args.only) or not args.only:
            print(f"running {name} rows…", file=sys.stderr)
            rows += fn()
    policy = os.environ["OMP_WAIT_POLICY"]
    for r in rows:
        r["device"] = label
        r.setdefault("omp_wait_policy", policy)
    if args.also_active:  # the app's PASSIVE policy is robust to busy cores; ACTIVE is faster on idle ones
        child = Path(tempfile.mkdtemp()) / "active.json"
        subprocess.run([sys.executable, "-m", "bench", "--only", "epoch", "--json", str(child)]
                       + (["--quick"] if args.quick else []),
                       cwd=ROOT, env={**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}, check=True, stdout=subprocess.DEVNULL)
        for r in json.loads(child.read_text()):
            r["name"] += " [OMP_WAIT_POLICY=ACTIVE]"
            rows.append(r)
    print_table(rows, f"{label} · rows without a tag ran with OMP_WAIT_POLICY={policy}, as the app does")
    out = Path(args.json)
    out.write_text(json.dumps(rows, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
