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
from tools.fake_runs import fill_store

os.environ.setdefault("PTCE_OFFLINE", "1")
os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-bench-"))

ROOT = Path(__file__).resolve().parents[1]


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
