"""Image figures: the one mosaic of many small maps, the one single-image figure, the one probability-bar
figure, and the preprocessing steps strip."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.figures import base
from core.figures.base import MUTED, ROLE, figure, heading, image_axes, ink, margin, panel_titles, symmetric_limit

COLOURS = {"diverging": base.diverging, "sequential": base.sequential, "ink": base.ink}  # mosaic scales by name


def tile(maps: np.ndarray, cols: int, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) -> one (R·(H+gap)−gap, C·(W+gap)−gap) canvas with NaN gaps, and the tile index per pixel
    (−1 in the gaps)."""
    n, h, w = maps.shape
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    z = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, dtype=np.float32)
    idx = np.full(z.shape, -1, dtype=np.int32)
    for i in range(n):
        r, c = divmod(i, cols)
        z[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[i]
        idx[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = i
    return z, idx


def mosaic(maps: np.ndarray, cols: int = 8, *, titles: Sequence[str] = (), title: str = "", gap: int | None = None,
           colours: str = "diverging", limit: float | None = None, colorbar_title: str = "value",
           tile_label: str = "tile", height: int | None = None, clickable: bool = False) -> go.Figure:
    """Many (H, W) maps as tiles of ONE heatmap (one trace: fast to build and to send), in one colour scale.

    titles: one per tile, written above it (the gaps widen to hold them). colours: "diverging" (symmetric around
    0, red +, blue −, up to `limit` or the largest |value|), "sequential" (0 up) or "ink" (0 white, no colour bar).
    Hover names the tile, its row and column, and the value. clickable: each tile a click target
    (`base.cell_targets`: `ui.plotly_select.clicked_cell` gives its (row, col) in the grid of tiles)."""
    maps = np.asarray(maps, dtype=np.float32)  # (N, H, W)
    n, h, w = maps.shape
    gap = gap if gap is not None else (max(1, h // 4) if titles else 1)
    z, idx = tile(maps, cols, gap)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    lim = limit if limit is not None else (symmetric_limit(maps) if colours != "ink" else None)
    rr = np.broadcast_to((np.arange(z.shape[0]) % (h + gap))[:, None], z.shape)
    cc = np.broadcast_to((np.arange(z.shape[1]) % (w + gap))[None, :], z.shape)
    trace = {"type": "heatmap", "z": z, "customdata": np.stack([idx, rr, cc], axis=-1), "hoverongaps": False,
             **COLOURS[colours](lim), "showscale": colours != "ink",
             "colorbar": {"title": {"text": colorbar_title}, "thickness": 12, "len": 0.9},
             "hovertemplate": f"{tile_label} %{{customdata[0]}}, row %{{customdata[1]}}, col %{{customdata[2]}}"
                              "<br>%{z:.3f}<extra></extra>"}
    lines = max((t.count("<br>") + 1 for t in titles), default=0)  # title lines above a row of tiles
    annotations = [{"x": (i % cols) * (w + gap) + (w - 1) / 2, "y": (i // cols) * (h + gap) - 0.5, "text": t,
                    "showarrow": False, "yanchor": "bottom", "font": {"size": 11}} for i, t in enumerate(titles)]
    top = (40 if title else 10) + 16 * lines
    if height is None:
        height = (130 * rows + 40) if titles else int(min(900, max(140, 60 + 700 * z.shape[0] / max(z.shape[1], 1))))
    layout = {"title": heading(title), "height": height, "margin": margin(top), "plot_bgcolor": "white",
              "annotations": annotations, **image_axes()}
    data = [trace]
    if clickable:  # an invisible marker at each tile's centre (heatmaps emit no click events)
        data.append(base.cell_targets(rows, cols, x=[c * (w + gap) + (w - 1) / 2 for c in range(cols)],
                                      y=[r * (h + gap) + (h - 1) / 2 for r in range(rows)],
                                      extra=np.arange(rows * cols), size=28,
                                      hover=f"{tile_label} %{{customdata[2]}}: click to zoom"))
        layout.update(base.CLICK_LAYOUT)
    return figure(data, layout)


def _box_shapes(box: tuple[int, int, int, int]) -> list[dict]:
    """The picked window's outline: a black line over a wider white one, visible on any colour scale."""
    t, b, left, right = box
    rect = {"type": "rect", "x0": left - 0.5, "x1": right - 0.5, "y0": t - 0.5, "y1": b - 0.5, "xref": "x", "yref": "y"}
    return [{**rect, "line": {"color": "white", "width": 6}},
            {**rect, "line": {"color": ROLE["selected"], "width": 2.5}}]


def image(img: np.ndarray, title: str = "", height: int = 220, diverging: bool = False,
          limit: float | None = None, colorbar_title: str = "", box: tuple[int, int, int, int] | None = None,
          show_scale: bool | None = None, clickable: bool = False) -> go.Figure:
    """One (H, W) image. Ink images (default): 0 white, ink dark. Signed images (diverging): blue − / red +.
    Optional box = (top, bottom, left, right), bottom and right exclusive, outlined (black on a white halo).
    clickable: every pixel clickable (`base.cell_targets`): `ui.plotly_select.clicked_cell` gives (row, col)."""
    a = np.asarray(img)
    value = "%{z}" if a.dtype.kind in "iub" else "%{z:.3f}"  # whole numbers (uint8 pixels) hover as they are
    scale = base.diverging(limit if limit is not None else symmetric_limit(a)) if diverging else ink(limit)
    data = [{"type": "heatmap", "z": a.astype(np.float32), **scale,
             "showscale": diverging if show_scale is None else show_scale,
             "colorbar": {"title": {"text": colorbar_title}, "thickness": 10},
             "hovertemplate": f"row %{{y}}, col %{{x}}: {value}<extra></extra>"}]
    layout = {"title": heading(title), "height": height, "margin": margin(30 if title else 0),
              "shapes": _box_shapes(box) if box is not None else [], **image_axes()}
    if clickable:
        h, w = a.shape
        data.append(base.cell_targets(h, w, extra=np.round(a.astype(np.float64), 4),
                                      size=max(4, int(0.8 * (height - 40) / max(h, w))),
                                      hover=f"row %{{customdata[0]}}, col %{{customdata[1]}}: "
                                            f"{value.replace('z', 'customdata[2]')} — click to pick it"))
        layout.update(base.CLICK_LAYOUT)
        layout["xaxis"]["range"] = [-0.5, w - 0.5]  # the markers would pad the autorange
        layout["yaxis"].update(range=[h - 0.5, -0.5], autorange=False)  # row 0 on top
    return figure(data, layout)


def probability_bars(probs: np.ndarray, title: str = "", *, true_label: int | None = None, height: int = 220,
                     show_values: bool = False) -> go.Figure:
    """Bars of the class probabilities in %: the predicted class in ROLE["predicted"], the true one (if given)
    outlined in ROLE["true"],
    each value written above its bar with show_values."""
    p = np.asarray(probs, dtype=float)
    pred = int(np.argmax(p))
    classes = range(len(p))
    trace = {"type": "bar", "x": [str(i) for i in classes], "y": 100 * p,
             "marker": {"color": [ROLE["predicted"] if i == pred else MUTED for i in classes],
                        "line": {"color": ROLE["true"], "width": [3 if i == true_label else 0 for i in classes]}},
             "hovertemplate": "class %{x}: %{y:.1f}%<extra></extra>"}
    if show_values:
        trace.update(text=[f"{100 * v:.0f}%" if v >= 0.01 else "" for v in p], textposition="outside")
    layout = {"title": heading(title, 14), "height": height, "margin": margin(40 if title else 10),
              "yaxis": {"title": {"text": "probability (%)"}, "range": [0, 115 if show_values else 100]},
              "xaxis": {"title": {"text": "class"}, "type": "category"}}
    return figure([trace], layout)


def steps(images: Sequence[tuple[str, np.ndarray]], height: int = 190) -> go.Figure:
    """A row of small ink images (0 white, 1 black) with titles: the preprocessing pipeline.
    An image whose title contains 'normalized' gets its own gray scale from its min to max."""
    n = len(images)
    data = []
    for j, (t, img) in enumerate(images):
        sx = "" if j == 0 else str(j + 1)
        lo, hi = (float(img.min()), float(img.max())) if "normalized" in t else (0.0, 1.0)
        data.append({"type": "heatmap", "z": np.asarray(img, dtype=np.float32), **ink(), "zmin": lo, "zmax": hi,
                     "showscale": False, "xaxis": f"x{sx}", "yaxis": f"y{sx}",
                     "hovertemplate": "row %{y}, col %{x}: %{z:.2f}<extra></extra>"})
    layout = {"height": height, "margin": margin(30), "annotations": panel_titles([t for t, _ in images]),
              **image_axes(n)}
    return figure(data, layout)
