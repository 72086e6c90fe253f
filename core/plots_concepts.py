"""Plotly figures for the concept pages (tensors, autograd, losses, optimizers): arrays in, go.Figure out.

Figures are built from plain dicts with hand-placed subplot domains instead of
`make_subplots` (which costs ~25-50 ms per call): the pages redraw on every slider
move and must rerun in well under 300 ms.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.plots import PALETTE

ANNOTATE_MAX = 144  # cells per matrix up to which values are written in the cells
MAX_PANELS = 6
PATH_COLORS = ("#ff4136", "#00d5ff", "#ff851b", "#f012be")  # readable on Viridis contours and on white
MARGIN = dict(l=10, r=10, t=50, b=10)


def _axis_name(kind: str, i: int) -> str:
    return kind + ("" if i == 0 else str(i + 1))


def _columns(n: int, titles: Sequence[str], gap: float = 0.06, title_y: float = 1.0) -> tuple[dict, list[dict]]:
    """Layout entries for n side-by-side panels: {xaxis, yaxis, xaxis2, ...} and their title annotations."""
    width = (1 - gap * (n - 1)) / n
    layout: dict = {}
    ann = []
    for i in range(n):
        x0 = i * (width + gap)
        layout[_axis_name("xaxis", i)] = dict(domain=[x0, x0 + width], anchor=_axis_name("y", i))
        layout[_axis_name("yaxis", i)] = dict(anchor=_axis_name("x", i))
        if titles and titles[i]:
            ann.append(dict(text=titles[i], x=x0 + width / 2, y=title_y, xref="paper", yref="paper",
                            xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=13)))
    return layout, ann


def _fmt(v: float, is_int: bool) -> str:
    if not np.isfinite(v):
        return str(v)
    if is_int:
        return str(int(v))
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


def tensor_heatmap(arr: np.ndarray, title: str, cell_px: int = 48) -> go.Figure:
    """An annotated heatmap of a small tensor of any rank, with a colour bar titled "value".

    0-d and 1-d tensors are one row; 2-d as is (row i = index i of dim 0, column j = index j of dim 1);
    3-d and more are split along the leading dimensions into panels titled with their index, e.g. [1, :, :].
    Diverging colours (blue < 0 < red, white at 0) when values are signed, else one hue from 0.
    """
    a = np.asarray(arr)
    is_int = a.dtype.kind in "iub"
    a = a.astype(np.float64)
    if a.ndim <= 2:
        mats, names = [a.reshape(1, -1) if a.ndim < 2 else a], [""]
    else:
        idx = list(np.ndindex(*a.shape[:-2]))
        mats = list(a.reshape(-1, *a.shape[-2:])[:MAX_PANELS])
        names = [f"[{', '.join(map(str, i))}, :, :]" for i in idx[:MAX_PANELS]]
        if len(idx) > MAX_PANELS:
            title += f" (first {MAX_PANELS} of {len(idx)} slices)"
    finite = a[np.isfinite(a)] if a.size else np.zeros(0)
    if finite.size == 0:
        finite = np.zeros(1)
    lo, hi = float(finite.min()), float(finite.max())
    if lo < 0:
        lim = max(abs(lo), abs(hi)) or 1.0
        cax = dict(colorscale="RdBu_r", cmin=-lim, cmax=lim)
    else:
        cax = dict(colorscale="Blues", cmin=0.0, cmax=hi if hi > 0 else 1.0)
    n = len(mats)
    layout, ann = _columns(n, names if n > 1 else [], gap=0.04)
    data = []
    for k, m in enumerate(mats):
        trace = dict(type="heatmap", z=m, coloraxis="coloraxis", xgap=2, ygap=2,
                     xaxis=_axis_name("x", k), yaxis=_axis_name("y", k),
                     hovertemplate="index [%{y}, %{x}]: %{z}<extra></extra>" if a.ndim >= 2
                     else "index %{x}: %{z}<extra></extra>")
        if m.size <= ANNOTATE_MAX and m.size:
            trace.update(text=[[_fmt(v, is_int) for v in row] for row in m], texttemplate="%{text}",
                         textfont=dict(size=13))
        data.append(trace)
        layout[_axis_name("xaxis", k)].update(dtick=1, showgrid=False, zeroline=False,
                                              title=dict(text=f"dim {max(a.ndim - 1, 0)}" if a.ndim else "",
                                                         font=dict(size=11), standoff=4))
        layout[_axis_name("yaxis", k)].update(autorange="reversed", dtick=1, showgrid=False, zeroline=False,
                                              showticklabels=a.ndim >= 2,
                                              title=dict(text=f"dim {a.ndim - 2}" if a.ndim >= 2 else "",
                                                         font=dict(size=11), standoff=4))
    tallest = max((m.shape[0] for m in mats), default=1)
    top = 45 if n == 1 else 70
    height = int(min(max(200, tallest * cell_px + top + 60), 600))
    layout.update(coloraxis=dict(**cax, colorbar=dict(title=dict(text="value", side="top"), thickness=10, nticks=4,
                                                      lenmode="pixels", len=max(90, height - top - 50))),
                  title=dict(text=title, font=dict(size=14)), height=height, annotations=ann,
                  margin=dict(l=10, r=10, t=top, b=10))
    return go.Figure(dict(data=data, layout=layout))


def autograd_graph(nodes: Sequence, edges: Sequence) -> go.Figure:
    """The recorded graph, inputs on the left and the loss on the right.

    Nodes: GraphNode-like (id, label, kind, value, grad, depth). Edges: (src, dst, label) in forward direction;
    the edge label is the backward function that receives the gradient along it.
    """
    max_depth = max(n.depth for n in nodes)
    by_depth: dict[int, list] = {}
    for n in nodes:
        by_depth.setdefault(n.depth, []).append(n)
    pos = {}
    for d, group in by_depth.items():
        group.sort(key=lambda n: (n.kind == "constant", n.label))
        for i, n in enumerate(group):
            pos[n.id] = (max_depth - d, (len(group) - 1) / 2 - i)
    ann = []
    for e in edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        ann.append(dict(x=x1 - 0.12, y=y1, ax=x0 + 0.12, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                        showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.5, text="",
                        arrowcolor="#bbbbbb" if e.label == "no grad" else "#555555"))
        ann.append(dict(x=(x0 + x1) / 2, y=(y0 + y1) / 2 + 0.1, text=f"<i>{e.label}</i>", showarrow=False,
                        font=dict(size=10, color="#888888"), bgcolor="rgba(255,255,255,0.8)"))
    colors = {"leaf": PALETTE[2], "op": PALETTE[0], "constant": "#aaaaaa"}
    data = []
    for kind, name in (("op", "operation (grad_fn)"), ("leaf", "leaf tensor (requires_grad)"),
                       ("constant", "constant (no grad)")):
        group = [n for n in nodes if n.kind == kind]
        if not group:
            continue
        text = []
        for n in group:
            s = f"<b>{n.label}</b>"
            if n.value is not None:
                s += f"<br>value {n.value:.4g}"
            if n.grad is not None:
                s += f"<br>∂loss/∂· = {n.grad:.4g}"
            text.append(s)
        data.append(dict(type="scatter", x=[pos[n.id][0] for n in group], y=[pos[n.id][1] for n in group],
                         mode="markers+text", name=name, text=text, textposition="bottom center",
                         hoverinfo="text", textfont=dict(size=11),
                         marker=dict(size=18, color=colors[kind], symbol="square" if kind == "op" else "circle")))
    layout = dict(height=380, margin=MARGIN, plot_bgcolor="white", annotations=ann,
                  title=dict(text="Graph recorded by autograd — forward runs left → right, "
                                  "backward() walks it right → left", font=dict(size=14)),
                  xaxis=dict(visible=False, range=[-0.6, max_depth + 0.6]),
                  yaxis=dict(visible=False, range=[-1.9, 1.3]),
                  legend=dict(orientation="h", yanchor="top", y=0.02, x=0))
    return go.Figure(dict(data=data, layout=layout))


def ce_bars(classes: Sequence[str], scaled: np.ndarray, probs: np.ndarray, log_probs: np.ndarray,
            grad: np.ndarray, target: int) -> go.Figure:
    """Four panels for the CE breakdown; the target class is red in each."""
    titles = ("logits z (after temperature)", "softmax(z) = probability", "LogSoftmax(z)",
              "∂CE/∂z = softmax − one-hot")
    layout, ann = _columns(4, titles, gap=0.05)
    data = []
    for k, (vals, fmt) in enumerate(((scaled, ".3g"), (probs, ".3f"), (log_probs, ".3g"), (grad, ".3f"))):
        data.append(dict(type="bar", x=list(classes), y=np.asarray(vals, dtype=float),
                         marker=dict(color=[PALETTE[3] if i == target else PALETTE[0] for i in range(len(vals))]),
                         text=[f"{v:{fmt}}" for v in vals], textposition="auto", showlegend=False,
                         xaxis=_axis_name("x", k), yaxis=_axis_name("y", k),
                         hovertemplate="class %{x}: %{y:.6g}<extra></extra>"))
        layout[_axis_name("xaxis", k)].update(type="category", title=dict(text="class (red = target)"))
    layout["yaxis2"].update(range=[0, 1])
    layout.update(height=300, margin=MARGIN, annotations=ann)
    return go.Figure(dict(data=data, layout=layout))


def ce_temperature(temps: np.ndarray, losses: np.ndarray, current: float) -> go.Figure:
    data = [dict(type="scatter", x=temps, y=losses, mode="lines", name="cross-entropy",
                 line=dict(color=PALETTE[0]))]
    layout = dict(height=280, margin=MARGIN,
                  title=dict(text="Same logits and target, other temperatures", font=dict(size=14)),
                  xaxis=dict(title=dict(text="temperature T (logits divided by T), log scale"), type="log"),
                  yaxis=dict(title=dict(text="cross-entropy loss (nats)"), rangemode="tozero"),
                  shapes=[dict(type="line", x0=current, x1=current, y0=0, y1=1, yref="paper",
                               line=dict(dash="dot", color="#888"))],
                  annotations=[dict(x=np.log10(current), y=1, yref="paper", text=f"T = {current:g}",
                                    showarrow=False, yanchor="bottom")])
    return go.Figure(dict(data=data, layout=layout))


def regression_curves(preds: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]], target: float
                      ) -> go.Figure:
    layout, ann = _columns(2, ("loss(prediction, target)", "gradient ∂loss/∂prediction"), gap=0.08)
    data = []
    for i, (name, (loss, grad)) in enumerate(curves.items()):
        c = PALETTE[i]
        data.append(dict(type="scatter", x=preds, y=loss, mode="lines", name=name, line=dict(color=c),
                         legendgroup=name, xaxis="x", yaxis="y"))
        data.append(dict(type="scatter", x=preds, y=grad, mode="lines", name=name, line=dict(color=c),
                         legendgroup=name, showlegend=False, xaxis="x2", yaxis="y2"))
    shapes = [dict(type="line", x0=target, x1=target, y0=0, y1=1, xref=x, yref=f"{y} domain",
                   line=dict(dash="dot", color="#888")) for x, y in (("x", "y"), ("x2", "y2"))]
    for k in (0, 1):
        layout[_axis_name("xaxis", k)].update(title=dict(text=f"prediction (target = {target:g}, dotted)"))
    layout["yaxis"].update(title=dict(text="loss"))
    layout["yaxis2"].update(title=dict(text="gradient"))
    layout.update(height=340, margin=dict(l=10, r=10, t=60, b=10), annotations=ann, shapes=shapes,
                  legend=dict(orientation="h", yanchor="bottom", y=1.1, x=0))
    return go.Figure(dict(data=data, layout=layout))


def best_constant(targets: np.ndarray, grid: np.ndarray, mean_loss: dict[str, np.ndarray],
                  best: dict[str, float]) -> go.Figure:
    layout, ann = _columns(2, ("targets and each loss's best constant prediction",
                               "mean loss over the targets for a constant prediction c"), gap=0.08)
    data = [dict(type="scatter", x=np.arange(len(targets)), y=targets, mode="markers", name="targets",
                 marker=dict(color="#333", size=9), xaxis="x", yaxis="y")]
    for i, (name, values) in enumerate(mean_loss.items()):
        c = PALETTE[i]
        data.append(dict(type="scatter", x=[-0.5, len(targets) - 0.5], y=[best[name]] * 2, mode="lines",
                         line=dict(color=c, width=2), name=f"{name}: best c = {best[name]:.2f}", legendgroup=name,
                         xaxis="x", yaxis="y"))
        data.append(dict(type="scatter", x=grid, y=values / max(float(values.max()), 1e-12), mode="lines",
                         line=dict(color=c), name=name, legendgroup=name, showlegend=False, xaxis="x2", yaxis="y2"))
    layout["xaxis"].update(title=dict(text="target number"), dtick=1)
    layout["yaxis"].update(title=dict(text="target value"))
    layout["xaxis2"].update(title=dict(text="constant prediction c"))
    layout["yaxis2"].update(title=dict(text="mean loss (each scaled to max 1)"))
    layout.update(height=340, margin=dict(l=10, r=10, t=60, b=10), annotations=ann,
                  legend=dict(orientation="h", yanchor="bottom", y=1.1, x=0))
    return go.Figure(dict(data=data, layout=layout))


def per_class_loss(per_class: np.ndarray, mean: float) -> go.Figure:
    data = [dict(type="bar", x=[str(i) for i in range(len(per_class))], y=per_class, marker=dict(color=PALETTE[0]),
                 text=[f"{v:.3f}" for v in per_class], textposition="outside",
                 hovertemplate="digit %{x}: mean loss %{y:.4f}<extra></extra>")]
    top = float(np.max(per_class)) * 1.2 if len(per_class) else 1.0
    layout = dict(height=300, margin=MARGIN,
                  title=dict(text="Mean cross-entropy per digit class (test set)", font=dict(size=14)),
                  xaxis=dict(title=dict(text="true digit"), type="category"),
                  yaxis=dict(title=dict(text="mean cross-entropy (nats)"), range=[0, max(top, mean * 1.2, 1e-3)]),
                  shapes=[dict(type="line", x0=0, x1=1, xref="paper", y0=mean, y1=mean,
                               line=dict(dash="dot", color="#d62728"))],
                  annotations=[dict(x=0, xref="paper", y=mean, text=f"all digits: {mean:.3f}", showarrow=False,
                                    xanchor="left", yanchor="bottom", font=dict(color="#d62728"),
                                    bgcolor="rgba(255,255,255,0.85)")])
    return go.Figure(dict(data=data, layout=layout))


def contour_paths(xs: np.ndarray, ys: np.ndarray, Z: np.ndarray, paths: dict[str, np.ndarray],
                  minima: Sequence[tuple[float, float]], log_scale: bool, title: str) -> go.Figure:
    """Filled contours of the surface (colour bar = loss, or log10 of loss above its minimum) with each
    optimizer's path: a marker per step, the start circled, minima as stars."""
    if log_scale:
        z = np.log10(Z - float(Z.min()) + 1e-3)
        cb = "log10(loss − min)"
    else:
        z, cb = Z, "loss"
    data = [dict(type="contour", x=xs, y=ys, z=z, colorscale="Viridis", ncontours=30, opacity=0.9,
                 line=dict(width=0.5), colorbar=dict(title=dict(text=cb), thickness=12),
                 hovertemplate="x %{x:.2f}, y %{y:.2f}: " + ("log10 " if log_scale else "") +
                 "%{z:.3g}<extra></extra>", showlegend=False)]
    for i, (name, path) in enumerate(paths.items()):
        c = PATH_COLORS[i % len(PATH_COLORS)]
        data.append(dict(type="scatter", x=path[:, 0], y=path[:, 1], mode="lines+markers", name=name,
                         line=dict(color=c, width=2), marker=dict(size=4, color=c, line=dict(color="#000", width=0.5)),
                         customdata=np.arange(len(path)),
                         hovertemplate=name + " step %{customdata}: (%{x:.3f}, %{y:.3f})<extra></extra>"))
    if paths:
        start = next(iter(paths.values()))[0]
        data.append(dict(type="scatter", x=[start[0]], y=[start[1]], mode="markers", name="start",
                         marker=dict(symbol="circle-open", size=16, color="#000", line=dict(width=3))))
    data.append(dict(type="scatter", x=[m[0] for m in minima], y=[m[1] for m in minima], mode="markers",
                     name="minimum", marker=dict(symbol="star", size=16, color="#ffdc00",
                                                 line=dict(color="#000", width=1))))
    layout = dict(height=560, margin=dict(l=10, r=10, t=80, b=10), title=dict(text=title, font=dict(size=14)),
                  xaxis=dict(title=dict(text="x = p[0]"), range=[float(xs[0]), float(xs[-1])], constrain="domain"),
                  yaxis=dict(title=dict(text="y = p[1]"), range=[float(ys[0]), float(ys[-1])], scaleanchor="x",
                             constrain="domain"),
                  legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0))
    return go.Figure(dict(data=data, layout=layout))


def loss_per_step(losses: dict[str, np.ndarray], log_y: bool, floor: float = 1e-12) -> go.Figure:
    """Loss after each step; on a log axis values below `floor` (float32 reaching 0) are drawn at `floor`."""
    data = [dict(type="scatter", x=np.arange(len(vals)), y=np.maximum(vals, floor) if log_y else vals, mode="lines",
                 name=name, line=dict(color=PATH_COLORS[i % len(PATH_COLORS)], width=2))
            for i, (name, vals) in enumerate(losses.items())]
    layout = dict(height=320, margin=dict(l=10, r=10, t=70, b=10),
                  title=dict(text="Loss f(x, y) after each step", font=dict(size=14)),
                  xaxis=dict(title=dict(text="step")),
                  yaxis=dict(title=dict(text="loss" + (f" (log scale, floor {floor:g})" if log_y else "")),
                             type="log" if log_y else "linear", exponentformat="e"),
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    return go.Figure(dict(data=data, layout=layout))


def digit_strip(images: np.ndarray, titles: Sequence[str], gap: int = 4) -> go.Figure:
    """(N, 28, 28) digits side by side in ONE heatmap (ink dark), each titled above; far cheaper than N subplots."""
    n, h, w = images.shape
    strip = np.full((h, n * (w + gap) - gap), np.nan)
    for i, img in enumerate(images):
        strip[:, i * (w + gap): i * (w + gap) + w] = img
    ann = [dict(x=i * (w + gap) + (w - 1) / 2, y=-1.5, text=t, showarrow=False, yanchor="bottom",
                font=dict(size=11)) for i, t in enumerate(titles)]
    data = [dict(type="heatmap", z=strip, colorscale="gray_r", showscale=False, hoverinfo="skip")]
    layout = dict(height=200, margin=dict(l=0, r=0, t=10, b=0), annotations=ann,
                  xaxis=dict(visible=False, range=[-1, strip.shape[1]]),
                  yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", range=[h, -12]),
                  plot_bgcolor="white")
    return go.Figure(dict(data=data, layout=layout))
