"""Convolution figures: kernels, one output value by hand, padding coverage, the shape flow, mistakes, saliency.

Signed quantities (weights, pre-ReLU feature maps, saliency) use the one diverging scale centred on zero.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.figures.base import (
    COUNTS,
    MUTED,
    ROLE,
    axis_name,
    diverging,
    figure,
    heading,
    image_axes,
    ink,
    margin,
    panel_titles,
    symmetric_limit,
)
from core.figures.images import image, mosaic
from core.fmt import num

KIND_COLOURS = {"Input": "#bdbdbd", "Conv2d": "#1f77b4", "ReLU": "#ff7f0e", "MaxPool2d": "#2ca02c",
                "Flatten": "#7f7f7f", "Linear": "#9467bd"}


def channel_kernels(weights: np.ndarray, out_channel: int, limit: float, title: str = "") -> go.Figure:
    """One output channel of a conv layer's weights (O, I, k, k): its I kernels of k×k, one per input channel,
    each titled "in i", on the shared diverging scale `limit` (the whole layer's, so channels compare)."""
    kernels = np.asarray(weights[out_channel], dtype=np.float32)  # (I, k, k)
    cols = 8 if kernels.shape[0] > 8 else kernels.shape[0]
    return mosaic(kernels, cols, titles=[f"in {i}" for i in range(kernels.shape[0])], title=title, limit=limit,
                  colorbar_title="weight", tile_label="input channel")


def arithmetic(patch: np.ndarray, kernel: np.ndarray, products: np.ndarray, in_channel: int,
               patch_limit: float | None = None, kernel_limit: float | None = None) -> go.Figure:
    """Input patch, kernel and element-wise products (k, k) side by side, each with its numbers written in.
    Pass the whole input's and the whole layer's limits so the colours mean the same as in the big pictures."""
    data = []
    for j, (z, name, lim) in enumerate(((patch, "input", patch_limit), (kernel, "weight", kernel_limit),
                                        (products, "product", None))):
        sx = "" if j == 0 else str(j + 1)
        text = [[num(v, 2) for v in row] for row in np.asarray(z, dtype=np.float64)]
        data.append({"type": "heatmap", "z": z, "text": text, "texttemplate": "%{text}",
                     "textfont": {"size": 13}, **diverging(lim or symmetric_limit(z)), "showscale": False,
                     "xaxis": f"x{sx}", "yaxis": f"y{sx}",
                     "hovertemplate": f"{name} row %{{y}}, col %{{x}}: %{{z:.4f}}<extra></extra>"})
    titles = [f"input patch (ch {in_channel})", "× kernel weights", "= products"]
    layout = {"height": 250, "margin": margin(30), "annotations": panel_titles(titles, gap=0.06, size=12),
              **image_axes(3, 0.06)}
    return figure(data, layout)


def channel_sums(sums: np.ndarray, bias: float, value: float) -> go.Figure:
    """Each input channel's share of one output value, then the bias, then the total."""
    names = [f"ch {i}" for i in range(len(sums))] + ["bias", "= value"]
    trace = {"type": "waterfall", "x": names, "y": [float(s) for s in sums] + [float(bias), 0.0],
             "measure": ["relative"] * (len(sums) + 1) + ["total"],
             "increasing": {"marker": {"color": ROLE["positive"]}},
             "decreasing": {"marker": {"color": ROLE["negative"]}}, "totals": {"marker": {"color": ROLE["neutral"]}},
             "hovertemplate": "%{x}: %{y:.4f}<extra></extra>"}
    layout = {"title": heading(f"Each input channel's 9 products summed, then the bias: total {num(value, 4)}"),
              "height": 250, "margin": margin(40), "showlegend": False, "xaxis": {"type": "category"},
              "yaxis": {"title": {"text": "contribution"}}}
    return figure([trace], layout)


def coverage(counts: np.ndarray, is_padding: np.ndarray, uncovered: np.ndarray, first_taps: np.ndarray,
             title: str = "") -> go.Figure:
    """Padded input: how many kernel positions use each pixel; padding gray, never-covered pixels red ×,
    the kernel's taps at its first position outlined."""
    z = counts.astype(np.float32)
    side = counts.shape[0]
    data = [
        {"type": "heatmap", "z": np.where(is_padding, 1.0, np.nan), "colorscale": [[0, "#e0e0e0"], [1, "#e0e0e0"]],
         "showscale": False, "hoverinfo": "skip", "hoverongaps": False},
        {"type": "heatmap", "z": np.where(is_padding, np.nan, z), "colorscale": COUNTS, "zmin": 0,
         "zmax": max(1.0, float(z.max())), "hoverongaps": False,
         "colorbar": {"title": {"text": "kernel<br>positions"}, "thickness": 12},
         "hovertemplate": "row %{y}, col %{x}: used by %{z} kernel positions<extra></extra>"},
    ]
    r, c = np.nonzero(first_taps)
    data.append({"type": "scatter", "x": c, "y": r, "mode": "markers", "name": "kernel taps at output (0, 0)",
                 "marker": {"symbol": "square-open", "size": max(6, min(16, 300 // side)), "color": "#ff7f0e",
                            "line": {"width": 2}}, "hoverinfo": "skip"})
    ur, uc = np.nonzero(uncovered)
    if len(ur):
        data.append({"type": "scatter", "x": uc, "y": ur, "mode": "markers", "name": "never covered",
                     "marker": {"symbol": "x", "size": max(5, min(10, 200 // side)), "color": "#d62728"},
                     "hoverinfo": "skip"})
    axes = image_axes()
    axes["xaxis"]["range"] = [-0.5, side - 0.5]
    layout = {"title": heading(title), "height": int(min(520, 160 + 14 * side)), "margin": margin(40 if title else 10),
              "legend": {"orientation": "h", "y": -0.02, "yanchor": "top"}, "plot_bgcolor": "white", **axes}
    return figure(data, layout)


def shape_flow(stages: Sequence[tuple[str, str, tuple[int, ...], str, int]]) -> go.Figure:
    """The tensor shapes through a model as a row of blocks.

    stages: (layer name, layer kind, output shape without batch, parameter formula, parameter count),
    starting with ("input", "Input", (1, 28, 28), "", 0). Block height follows the spatial size,
    the number of stacked sheets the channel count; vectors are thin bars.
    """
    n = len(stages)
    shapes, top_text, bottom_text, right_edges = [], [], [], []
    max_side = max((s[2][-1] for s in stages if len(s[2]) == 3), default=1)
    max_vec = max((s[2][0] for s in stages if len(s[2]) == 1), default=10)
    for i, (name, kind, shape, formula, params) in enumerate(stages):
        colour = KIND_COLOURS.get(kind, "#17becf")
        if len(shape) == 3:
            c, h, _ = shape
            half = 0.15 + 0.75 * h / max_side
            sheets = int(min(6, 1 + np.log2(max(c, 1))))
            for k in range(sheets - 1, -1, -1):
                off = 0.05 * k
                shapes.append({"type": "rect", "x0": i - 0.3 + off, "x1": i + 0.3 + off, "y0": -half + off,
                               "y1": half + off, "line": {"color": "white", "width": 1}, "fillcolor": colour,
                               "opacity": 0.9})
            label = "×".join(str(d) for d in shape)
            right = i + 0.3 + 0.05 * (sheets - 1)
        else:
            v = shape[0] if shape else 1
            half = 0.15 + 0.75 * np.log10(max(v, 1)) / np.log10(max(max_vec, 10))
            shapes.append({"type": "rect", "x0": i - 0.08, "x1": i + 0.08, "y0": -half, "y1": half,
                           "line": {"color": "white", "width": 1}, "fillcolor": colour, "opacity": 0.9})
            label = f"{v:,}"
            right = i + 0.08
        top_text.append(f"<b>{label}</b>")
        p = f"<br>{formula.replace(' + ', '<br>+ ')}<br>= <b>{params:,}</b>" if params else ""
        bottom_text.append(f"<b>{name}</b><br><i>{kind}</i>{p}")
        left = i - (0.3 if len(shape) == 3 else 0.08)
        if i:
            shapes.append({"type": "line", "x0": right_edges[-1] + 0.04, "x1": left - 0.04, "y0": 0, "y1": 0,
                           "line": {"color": "#555", "width": 1.5}})
        right_edges.append(right)
    data = [
        {"type": "scatter", "x": list(range(n)), "y": [1.38] * n, "mode": "text", "text": top_text,
         "textfont": {"size": 12}, "hoverinfo": "skip"},
        {"type": "scatter", "x": list(range(n)), "y": [-1.0] * n, "mode": "text", "text": bottom_text,
         "textposition": "bottom center", "textfont": {"size": 11}, "hoverinfo": "skip"},
    ]
    layout = {"shapes": shapes, "height": 360, "margin": margin(10), "showlegend": False, "plot_bgcolor": "white",
              "xaxis": {"visible": False, "range": [-0.6, n - 0.4]}, "yaxis": {"visible": False, "range": [-2.2, 1.55]}}
    return figure(data, layout)



def mistakes(images: np.ndarray, probs: np.ndarray, true: int, pred: int, indices: Sequence[int]) -> go.Figure:
    """Misclassified digits (n, 28, 28) on top, each one's 10 probabilities below (predicted and true class in
    their ROLE colours)."""
    n = len(images)
    gap = 0.02
    w = (1 - gap * (n - 1)) / max(n, 1)
    colours = [MUTED] * 10
    p_col, t_col = ROLE["predicted"], ROLE["true"]
    colours[pred], colours[true] = p_col, t_col
    data, layout = [], {"height": 320, "margin": margin(50), "showlegend": False, "bargap": 0.15}
    for j in range(n):
        a, b = 2 * j, 2 * j + 1  # the image panel and the bar panel
        xa, ya, xb, yb = (axis_name(k, i) for k, i in (("x", a), ("y", a), ("x", b), ("y", b)))
        dom = [j * (w + gap), j * (w + gap) + w]
        data.append({"type": "heatmap", "z": images[j], **ink(), "showscale": False, "xaxis": xa,
                     "yaxis": ya, "hovertemplate": "row %{y}, col %{x}: %{z}<extra></extra>"})
        data.append({"type": "bar", "x": list(range(10)), "y": 100 * probs[j], "marker": {"color": colours},
                     "xaxis": xb, "yaxis": yb, "hovertemplate": "class %{x}: %{y:.1f}%<extra></extra>"})
        layout[axis_name("xaxis", a)] = {"domain": dom, "visible": False, "anchor": ya, "constrain": "domain"}
        layout[axis_name("yaxis", a)] = {"domain": [0.45, 1.0], "visible": False, "autorange": "reversed",
                                         "scaleanchor": xa, "anchor": xa, "constrain": "domain"}
        layout[axis_name("xaxis", b)] = {"domain": dom, "anchor": yb, "tickvals": sorted({true, pred}),
                                         "tickfont": {"size": 10}, "range": [-0.6, 9.6]}
        layout[axis_name("yaxis", b)] = {"domain": [0.0, 0.38], "anchor": xb, "range": [0, 100],
                                         "showticklabels": j == 0, "title": {"text": "%" if j == 0 else ""}}
    layout["annotations"] = [
        {"text": f"test #{i}<br><span style='color:{p_col}'>{pred}: {100 * p[pred]:.0f}%</span> · "
                 f"<span style='color:{t_col}'>{true}: {100 * p[true]:.0f}%</span>", "x": j * (w + gap) + w / 2,
         "y": 1.0, "xref": "paper", "yref": "paper", "showarrow": False, "yanchor": "bottom", "font": {"size": 10}}
        for j, (i, p) in enumerate(zip(indices, probs))]
    return figure(data, layout)


def saliency(grad: np.ndarray, limit: float, title: str = "", height: int = 260) -> go.Figure:
    """Signed saliency: red = more ink here raises the class score, blue = lowers it."""
    return image(grad, title=title, height=height, diverging=True, limit=limit,
                 colorbar_title="∂ score<br>/ ∂ pixel")

