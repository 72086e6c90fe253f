"""Layer shapes page: rerun times (target < 300 ms on CPU) and the cost of its measurements.

- the page rerun with warm caches (AppTest), and a rerun after editing one layer (new stack: shapes,
  summary and graph computed afresh);
- propagation + code of CNNDemo's stack; the summary (FlopCounterMode) and the graph of ResNet-18.

Run alone: `python -m bench.layer_pages`.
"""
from __future__ import annotations

import os
import tempfile
from functools import partial
from pathlib import Path

from bench.timing import median_ms

os.environ.setdefault("PTCE_OFFLINE", "1")
os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-bench-"))

ROOT = Path(__file__).resolve().parents[1]


_median_ms = partial(median_ms, warmup=1)  # this module's warm-up calls


def _row(name: str, ms: float, target: str = "") -> dict:
    r = {"name": name, "value": round(ms, 1), "unit": "ms"}
    if target:
        r["target"] = target
    return r


def rows(n: int = 5) -> list[dict]:
    import torchvision
    from streamlit.testing.v1 import AppTest

    from core.models import graph, stacks
    from core.models.inspection import summarize

    at = AppTest.from_file(str(ROOT / "pages" / "layer_shapes.py"), default_timeout=300)
    at.run()
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    out = [_row("Layer shapes page rerun (AppTest, warm caches)", _median_ms(at.run, n), "< 300 ms")]
    widths = iter(range(2, 200))

    def edit() -> None:  # a new out_channels each time: nothing cached for the new stack
        v = at.session_state["ls_version"]
        at.number_input(key=f"ls_3_Conv2d_{v}_out_channels").set_value(next(widths))
        at.run()

    out.append(_row("Layer shapes page rerun after editing a layer (new shapes, summary, graph)",
                    _median_ms(edit, n), "< 300 ms"))
    stack = stacks.PRESETS["cnn"].stack
    out.append(_row("propagate + code of CNNDemo's stack",
                    _median_ms(lambda: (stacks.propagate(stack), stacks.code(stack)), n)))
    resnet = torchvision.models.resnet18(weights=None)
    out.append(_row("summarize ResNet-18, 1×3×224×224 (FlopCounterMode on a shape-only copy)",
                    _median_ms(lambda: summarize(resnet, (1, 3, 224, 224)), 3)))
    out.append(_row("module graph of ResNet-18, 1×3×64×64 (trace + DOT)",
                    _median_ms(lambda: graph.module_dot(resnet, (1, 3, 64, 64)), 3)))
    return out


if __name__ == "__main__":
    for r in rows():
        print(f"{r['name']:<80} {r['value']:>9.1f} {r['unit']} {r.get('target', '')}")
