"""The bench's two small pieces: one row of the results table, and the one timing loop (median wall time of a
call, after warm-up calls)."""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], n: int, warmup: int = 0) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def row(name: str, value: float, unit: str, **extra) -> dict:
    """One row of `bench/results.json`, printed as it is measured (long groups show progress)."""
    print(f"  {name}: {value:.4g} {unit} {extra}", file=sys.stderr, flush=True)
    return {"name": name, "value": round(value, 4), "unit": unit, **extra}
