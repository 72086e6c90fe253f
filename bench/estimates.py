"""Estimate vs actual rows (`python -m bench --only estimates`): each page's default run on a freshly started server
(an empty store), pressed the way a learner presses Train, timed from the click to the result being drawn, next to
the estimate the page showed before the click. The issue's target: within ±30 % on a quiet machine.

Sessions are headless (tools/headless_session.py: the frontend's websocket protocol, fragment timers included), so
the browser's own drawing is not on the same cores. The first row is the first run of the server: it waits for the
training worker to start. Optimizers, Loss functions and Draw default to the Fully connected and Convolutions
pages' runs, so those rows are theirs too.
"""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from bench.timing import row
from tools.app_server import running_server
from tools.headless_session import HeadlessSession

ESTIMATE = re.compile(r"\*\*~([0-9.]+) s\*\*")
LANDED = re.compile("Trained now|Loaded from the run store")
# (row name, page address, Train button label); the first ones run on every bench, the slow ones not with --quick
PAGES = (
    ("Fully connected net: default Net2 run (the server's first: a worker starts)", "fully_connected", "Train"),
    ("Layer shapes: the default stack's run", "layer_shapes", "Train"),
    ("Fully connected net: Net2, seed 1 (after the server has seen a run land)", "fully_connected?seed=1", "Train"),
)
SLOW = (
    ("Convolutions: default CNNDemo run", "convolutions", "Train"),
    ("Transfer learning: default run (feature extraction, with the digits pretraining once)", "transfer",
     "Train this strategy"),
)


def estimate_vs_actual(url: str, button: str, timeout_s: float = 900.0) -> tuple[float, float, str]:
    """(estimate the page showed, seconds from the click to the result drawn, the estimate's parts) for one page's
    Train button."""
    with HeadlessSession(url, timeout_s=120) as s:
        s.wait_for_button(button, timeout_s)
        text, shown = next((t, m) for t in reversed(s.texts) if (m := ESTIMATE.search(t)))
        since = len(s.texts)
        t0 = time.perf_counter()
        s.click(button)
        landed = s.wait_for(LANDED, timeout_s, since=since)
        assert s.exceptions == 0, s.state()
        parts = re.search(r"(\d[^;(]*? s training.*?)(?:; training speed|\)\.)", text)  # "8.1 s training + ..."
        return float(shown.group(1)), landed - t0, parts.group(1) if parts else ""


def rows(quick: bool = False) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory(prefix="ptce-estimates-") as home, \
            running_server(Path(home)) as (_, base):
        for name, page, button in PAGES + (() if quick else SLOW):
            est, actual, parts = estimate_vs_actual(f"{base}/{page}", button)
            off = (est - actual) / actual
            out.append(row(f"{name}: click to result", actual, "s", baseline=est, ratio=round(est / actual, 2),
                           target="estimate within ±30%", met=abs(off) <= 0.30,
                           note=f"estimated {est:g} s before the click ({100 * off:+.0f}%): {parts}"))
    return out
