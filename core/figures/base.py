"""The one set of layout helpers every figure builder uses, and the one `figure(data, layout)`.

Every figure is written as one plain dict and handed to `go.Figure` once: no `make_subplots`, no chains of
`update_*` calls, so pages that redraw on every slider move stay fast. Plotly's property-by-property
validation is the largest cost left (bench/NOTES.md), and it changes nothing the browser receives once colour
scales are written out as lists, as they are here. So the app builds figures unvalidated, and the test suite
(which draws every figure of every page) sets `PTCE_CHECK_FIGURES=1`: then each figure is validated and its
JSON compared with the unvalidated one, so a misspelt property or a value Plotly would have rewritten fails a test.
Signed quantities use one diverging scale centred on zero (blue negative, white zero, red positive);
non-negative ones (after ReLU, counts) one sequential scale from 0. Colours that mean something have one
meaning everywhere (`ROLE`), and numbers are written by one formatter (`core.fmt.num`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import get_colorscale

Colorscale = list[list]  # [[stop in 0..1, "rgb(r, g, b)"], ...], written out: Plotly.js knows fewer names
CHECK_ENV = "PTCE_CHECK_FIGURES"  # "1": validate every figure and compare (the test suite sets it)

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")  # runs, series
MUTED = "#c7c7c7"  # bars that are not the point of the figure
DIVERGING: Colorscale = get_colorscale("RdBu_r")
SEQUENTIAL: Colorscale = get_colorscale("Reds")  # values from 0 up (after ReLU): white 0 to red, DIVERGING's top
COUNTS: Colorscale = get_colorscale("Blues")  # how many (confusion matrices, kernel positions): white 0 to blue
INK: Colorscale = get_colorscale("gray_r")  # 0 = white paper, high = dark ink, as MNIST is usually shown
HEIGHTS: Colorscale = get_colorscale("Viridis")  # a loss surface's contour levels

# One meaning per colour, on every page: the class a model predicts is always orange, the true class always
# green; positive values red and negative blue (the two ends of DIVERGING); training curves blue, validation purple;
# what the learner picked on a picture is outlined black on a white halo (it reads on ink, red and blue alike).
ROLE = {
    "predicted": "#ff7f0e",
    "true": "#2ca02c",
    "positive": "#d6604d",
    "negative": "#4393c3",
    "train": "#1f77b4",
    "validation": "#9467bd",
    "neutral": "#555555",
    "selected": "#111111",
}


def figure(data: Sequence[dict], layout: dict) -> go.Figure:
    """The one way a figure is built: traces and layout as plain dicts (validated when `CHECK_ENV` is "1")."""
    spec = {"data": list(data), "layout": layout}
    fast = go.Figure(spec, _validate=False)
    if os.environ.get(CHECK_ENV) != "1":
        return fast
    checked = go.Figure(spec)  # raises on a misspelt property or a bad value
    where = _first_difference(_sent(fast), _sent(checked))
    if where:
        raise ValueError(f"Plotly's validation rewrites this figure at {where}; write the value as Plotly would "
                         "(a colour scale as a list, for example)")
    return checked


def _first_difference(a, b, path: str = "") -> str:
    """The path of the first place where two JSON values differ, with both values ("" when equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            found = _first_difference(a.get(k), b.get(k), f"{path}.{k}")
            if found:
                return found
        return ""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _first_difference(x, y, f"{path}[{i}]"))), "")
    return "" if a == b else f"{path or 'the figure'}: {str(a)[:120]} != {str(b)[:120]}"


def _sent(fig: go.Figure) -> dict:
    """What the browser receives (the JSON st.plotly_chart sends), with empty containers dropped
    (validation leaves out an empty annotation list; the browser treats both the same)."""
    def prune(v):
        if isinstance(v, dict):
            return {k: prune(x) for k, x in v.items() if x not in ({}, [], None)}
        if isinstance(v, list):
            return [prune(x) for x in v]
        return v

    return prune(json.loads(pio.to_json(fig, validate=False)))


def plain(text: object) -> str:
    """Outside text (a run name, a file name) as a Plotly label: Plotly reads tags in every label (`<a href>` becomes
    a live link, `<b>` bold), so `&`, `<` and `>` are written as the entities it shows as those characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def margin(t: int = 30, side: int = 10, b: int = 10) -> dict:
    return {"l": side, "r": side, "t": t, "b": b}


def heading(text: str, size: int = 13) -> dict:
    """A title dict (figure or panel) in a given font size."""
    return {"text": text, "font": {"size": size}}


def axis_name(kind: str, i: int) -> str:
    """Plotly's name of panel i's axis: ("xaxis", 0) -> "xaxis", ("x", 2) -> "x3"."""
    return kind + ("" if i == 0 else str(i + 1))


def _domains(n: int, gap: float) -> list[list[float]]:
    w = (1 - gap * (n - 1)) / max(n, 1)
    return [[i * (w + gap), i * (w + gap) + w] for i in range(n)]


def columns(n: int, gap: float = 0.06) -> dict:
    """Layout entries for n side-by-side panels: {xaxis, yaxis, xaxis2, yaxis2, ...}, each pair anchored."""
    out: dict = {}
    for i, dom in enumerate(_domains(n, gap)):
        out[axis_name("xaxis", i)] = {"domain": dom, "anchor": axis_name("y", i)}
        out[axis_name("yaxis", i)] = {"anchor": axis_name("x", i)}
    return out


def image_axes(n: int = 1, gap: float = 0.03) -> dict:
    """Layout entries for n image panels side by side: row 0 on top, square pixels, no ticks."""
    out = columns(n, gap)
    for i in range(n):
        out[axis_name("xaxis", i)].update(visible=False, constrain="domain")
        out[axis_name("yaxis", i)].update(visible=False, autorange="reversed", scaleanchor=axis_name("x", i),
                                          constrain="domain")
    return out


CLICK_LAYOUT = {"clickmode": "event+select", "dragmode": False}  # layout entries of a figure made clickable


def cell_targets(n_rows: int, n_cols: int, *, x: Sequence | None = None, y: Sequence | None = None,
                 extra: Sequence | np.ndarray | None = None, hover: str = "row %{customdata[0]}, col %{customdata[1]}",
                 size: int = 24) -> dict:
    """The one way to make a grid (a heatmap) clickable: an invisible marker at the centre of each of its
    n_rows × n_cols cells, row-major, because Plotly heatmaps emit no selection events and markers do.

    Cell (r, c) sits at (x[c], y[r]) (default: column and row numbers). Every point's customdata is
    [r, c] plus extra[r·n_cols + c] when given (hover shows it as %{customdata[2]}), so
    `ui.plotly_select.clicked_cell` reads the cell back whatever the axis labels. Put CLICK_LAYOUT in the layout."""
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    xs = list(x) if x is not None else list(range(n_cols))
    ys = list(y) if y is not None else list(range(n_rows))
    flat = np.asarray(extra).reshape(-1).tolist() if extra is not None else None
    custom = [[int(r), int(c)] + ([flat[i]] if flat is not None else []) for i, (r, c) in enumerate(zip(rows, cols))]
    hidden = {"marker": {"opacity": 0}}
    return {"type": "scatter", "x": [xs[c] for c in cols], "y": [ys[r] for r in rows], "mode": "markers",
            "customdata": custom, "marker": {"size": size, "opacity": 0, "color": "#000"},
            "selected": hidden, "unselected": hidden, "showlegend": False, "name": "cells",
            "hovertemplate": hover + "<extra></extra>"}


def panel_titles(titles: Sequence[str], gap: float = 0.03, y: float = 1.0, size: int = 11) -> list[dict]:
    """Annotations centred above each of len(titles) panels laid out by `columns`/`image_axes` with `gap`."""
    return [{"text": t, "x": (dom[0] + dom[1]) / 2, "y": y, "xref": "paper", "yref": "paper", "showarrow": False,
             "xanchor": "center", "yanchor": "bottom", "font": {"size": size}}
            for t, dom in zip(titles, _domains(len(titles), gap)) if t]


def symmetric_limit(*arrays: np.ndarray) -> float:
    """The largest |value| over all arrays (NaN ignored), 1.0 when there is none: a shared colour range."""
    m = max((float(np.nanmax(np.abs(a))) for a in arrays if np.size(a)), default=0.0)
    return m if m > 0 else 1.0


def diverging(limit: float) -> dict:
    """Heatmap colours for signed values: symmetric around 0, white at 0."""
    return {"colorscale": DIVERGING, "zmin": -limit, "zmax": limit, "zmid": 0}


def sequential(limit: float | None = None, colorscale: Colorscale = SEQUENTIAL) -> dict:
    """Heatmap colours for values from 0 up (the range is the data's own when limit is None)."""
    return {"colorscale": colorscale} if limit is None else {"colorscale": colorscale, "zmin": 0, "zmax": limit}


def ink(limit: float | None = None) -> dict:
    """Heatmap colours for images: 0 white, ink dark."""
    return sequential(limit, INK)


def top_legend(y: float = 1.02) -> dict:
    return {"orientation": "h", "yanchor": "bottom", "y": y, "x": 0}


def integer_ticks(n: int) -> dict:
    """Axis entries for 1..n epochs: ticks on whole numbers only (at most about 10 of them)."""
    return {"tick0": 1, "dtick": max(1, -(-n // 10)), "range": [0.5, max(n, 1) + 0.5]}


def log_ticks(lo: float, hi: float) -> dict:
    """Axis entries for a log axis from lo to hi (> 0) whose every label is the number at its tick: over a few
    decades powers of ten only, written 0.1, 1, 10 (10⁻⁶ over many); within two decades 1-2-5 steps written out
    (0.02, 0.05, 0.1, 0.2), never Plotly's "2 5 0.1 2 5" minor labels, which read as the numbers 2 and 5."""
    if not (np.isfinite(lo) and np.isfinite(hi)):  # a diverged value (NaN, inf) has no place on the axis
        lo, hi = (lo, lo * 100) if np.isfinite(lo) else (hi / 100, hi) if np.isfinite(hi) else (0.01, 1.0)
    lo, hi = max(min(lo, hi), 1e-300), max(lo, hi, 1e-300)
    decades = np.log10(hi) - np.log10(lo)
    if decades < 2:
        first, last = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
        steps = [m * 10.0 ** e for e in range(first, last + 1) for m in (1, 2, 5)]
        vals = [v for v in steps if lo * 0.9999 <= v <= hi * 1.0001]
        if len(vals) < 2:  # a range narrower than one 1-2-5 step: its ends
            vals = [float(f"{lo:.2g}"), float(f"{hi:.2g}")]
        vals = sorted({float(f"{v:.6g}") for v in vals})
        return {"type": "log", "tickvals": vals, "ticktext": [f"{v:g}" for v in vals]}
    return {"type": "log", "dtick": max(1, int(np.ceil(decades / 8))),
            "exponentformat": "power" if decades > 6 or hi > 1e4 or lo < 1e-3 else "none"}
