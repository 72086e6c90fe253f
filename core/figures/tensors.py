"""Tensor figures: any small tensor as an annotated heatmap, and the graph autograd records."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.figures.base import DIVERGING, PALETTE, ROLE, SEQUENTIAL, axis_name, columns, figure, margin, panel_titles
from core.fmt import num

ANNOTATE_MAX = 144  # cells per matrix up to which values are written in the cells
MAX_PANELS = 6


def _fmt(v: float, is_int: bool) -> str:
    if not np.isfinite(v) or is_int:
        return num(v)
    return num(v) if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


def tensor_heatmap(arr: np.ndarray, title: str, cell_px: int = 48) -> go.Figure:
    """An annotated heatmap of a small tensor of any rank, with a colour bar titled "value".

    0-d and 1-d tensors are one row; 2-d as is (row i = index i of dim 0, column j = index j of dim 1);
    3-d and more are split along the leading dimensions into panels titled with their index, e.g. [1, :, :].
    Diverging colours (blue < 0 < red, white at 0) when values are signed, else the sequential scale from 0
    (white 0 to red).
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
        cax = dict(colorscale=DIVERGING, cmin=-lim, cmax=lim)
    else:
        cax = dict(colorscale=SEQUENTIAL, cmin=0.0, cmax=hi if hi > 0 else 1.0)
    n = len(mats)
    layout, ann = columns(n, gap=0.04), panel_titles(names if n > 1 else [], gap=0.04, size=13)
    data = []
    for k, m in enumerate(mats):
        trace = dict(type="heatmap", z=m, coloraxis="coloraxis", xgap=2, ygap=2,
                     xaxis=axis_name("x", k), yaxis=axis_name("y", k),
                     hovertemplate="index [%{y}, %{x}]: %{z}<extra></extra>" if a.ndim >= 2
                     else "index %{x}: %{z}<extra></extra>")
        if m.size <= ANNOTATE_MAX and m.size:
            trace.update(text=[[_fmt(v, is_int) for v in row] for row in m], texttemplate="%{text}",
                         textfont=dict(size=13))
        data.append(trace)
        layout[axis_name("xaxis", k)].update(dtick=1, showgrid=False, zeroline=False,
                                              title=dict(text=f"dim {max(a.ndim - 1, 0)}" if a.ndim else "",
                                                         font=dict(size=11), standoff=4))
        layout[axis_name("yaxis", k)].update(autorange="reversed", dtick=1, showgrid=False, zeroline=False,
                                              showticklabels=a.ndim >= 2,
                                              title=dict(text=f"dim {a.ndim - 2}" if a.ndim >= 2 else "",
                                                         font=dict(size=11), standoff=4))
    tallest = max((m.shape[0] for m in mats), default=1)
    top = 45 if n == 1 else 70
    height = int(min(max(200, tallest * cell_px + top + 60), 600))
    layout.update(coloraxis=dict(**cax, colorbar=dict(title=dict(text="value", side="top"), thickness=10, nticks=4,
                                                      lenmode="pixels", len=max(90, height - top - 50))),
                  title=dict(text=title, font=dict(size=14)), height=height, annotations=ann,
                  margin=margin(top))
    return figure(data, layout)


def autograd_graph(nodes: Sequence, edges: Sequence) -> go.Figure:
    """The recorded graph, inputs on the left and the loss on the right.

    Nodes: GraphNode-like (id, label, kind, value, grad, depth). Edges: (src, dst, label) in forward direction;
    each arrow is labelled with the tensor it carries forward (the source node's name); the backward functions
    are named in the nodes themselves ("y = AddBackward0").
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
    short = {n.id: n.label.split(" = ")[0].split(" (")[0] for n in nodes}  # "w (leaf)" -> "w", "y = Add…" -> "y"
    ann = []
    for e in edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        # The arrow stops `standoff` pixels short of both markers, so its head never sits on a node or its label.
        ann.append(dict(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", standoff=14,
                        startstandoff=14, showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.5, text="",
                        arrowcolor="#bbbbbb" if e.label == "no grad" else ROLE["neutral"]))
        # A forward arrow carries a tensor: it is labelled with that tensor's name, not a backward function.
        ann.append(dict(x=x0 + 0.45 * (x1 - x0), y=y0 + 0.45 * (y1 - y0), text=f"<i>{short[e.src]}</i>",
                        showarrow=False, font=dict(size=10, color="#666666"), bgcolor="rgba(255,255,255,0.85)"))
    colors = {"leaf": PALETTE[2], "op": PALETTE[0], "constant": "#aaaaaa"}  # kinds of node, not roles
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
            # Labels are annotations drawn after the arrows, on a white ground: a line passing under one never
            # hides its text (scatter text would sit under the arrow annotations).
            ann.append(dict(x=pos[n.id][0], y=pos[n.id][1], xref="x", yref="y", text=s, showarrow=False,
                            yanchor="top", yshift=-12, font=dict(size=11), bgcolor="rgba(255,255,255,0.92)"))
        data.append(dict(type="scatter", x=[pos[n.id][0] for n in group], y=[pos[n.id][1] for n in group],
                         mode="markers", name=name, text=text, hoverinfo="text",
                         marker=dict(size=18, color=colors[kind], symbol="square" if kind == "op" else "circle")))
    layout = dict(height=380, margin=margin(50), plot_bgcolor="white", annotations=ann,
                  title=dict(text="Graph recorded by autograd — forward runs left → right, "
                                  "backward() walks it right → left", font=dict(size=14)),
                  xaxis=dict(visible=False, range=[-0.6, max_depth + 0.6]),
                  yaxis=dict(visible=False, range=[-1.9, 1.3]),
                  legend=dict(orientation="h", yanchor="top", y=0.02, x=0))
    return figure(data, layout)
