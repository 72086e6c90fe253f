"""`python -m bench --only store`: SIGKILL a process that overwrites a stored run, at random moments, and count
how often the run survived intact and how many temp entries outlived the next store start.

The kill loop (tools/fake_runs.py) is the one `tests/test_store.py` runs (30 kills there); here it runs longer
and also times a save, a verified load and a store start.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from core.models.registry import ModelConfig


def rows(kills: int = 60) -> list[dict]:
    from bench.timing import row
    from core.runs.store import RunStore
    from tools.fake_runs import STORE_CFG, kill_loop, make_run

    root = Path(tempfile.mkdtemp(prefix="ptce-bench-store-"))
    figures = kill_loop(root, kills)
    out = [row("Run store: SIGKILL during save/overwrite (kills)", figures["kills"], "kills"),
           row("Run store: runs intact after the next start", figures["intact"], "runs",
               target=f"{figures['kills']} of {figures['kills']}"),
           row("Run store: kills that landed inside a write", figures["mid_write"], "kills"),
           row("Run store: temp entries left after the next start", figures["temps_left"], "entries", target="0")]
    store = RunStore(Path(tempfile.mkdtemp(prefix="ptce-bench-store-")))
    run = make_run(replace(STORE_CFG, model=ModelConfig("net2", 512)))
    timings: dict[str, list[float]] = {"save": [], "load": [], "start": []}
    for _ in range(5):
        t0 = time.perf_counter()
        store.save(run)
        t1 = time.perf_counter()
        store.load(run.config)
        t2 = time.perf_counter()
        RunStore(store.root)
        t3 = time.perf_counter()
        for name, dt in zip(timings, (t1 - t0, t2 - t1, t3 - t2)):
            timings[name].append(dt)
    for name, what in (("save", "atomic save of a Net2 h512 run (two files, fsync, rename)"),
                       ("load", "verified load (schema, sha256, dtypes, finiteness)"),
                       ("start", "store start (sweep)")):
        out.append(row(f"Run store: {what}", 1000 * statistics.median(timings[name]), "ms"))
    return out
