"""Optimizer figures: paths over a 2-D loss surface and the loss after each step."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.figures.base import HEIGHTS, figure, log_ticks, margin, top_legend

PATH_COLORS = ("#ff4136", "#00d5ff", "#ff851b", "#f012be")  # readable on Viridis contours and on white
# Paths overlap along a valley floor (Rosenbrock's): each also has its own dash and current-point symbol, so they
# stay apart in grayscale and where one is drawn over another.
PATH_DASHES = ("solid", "dash", "dot", "dashdot")
PATH_SYMBOLS = ("circle", "square", "diamond", "triangle-up")
STEP_MARKERS_UP_TO = 300  # paths this short get a dot per step (the zig-zag is visible); longer ones a line only


def _style(i: int) -> tuple[str, str, str]:
    return PATH_COLORS[i % len(PATH_COLORS)], PATH_DASHES[i % len(PATH_DASHES)], PATH_SYMBOLS[i % len(PATH_SYMBOLS)]


def contour_paths(xs: np.ndarray, ys: np.ndarray, Z: np.ndarray, paths: dict[str, np.ndarray],
                  minima: Sequence[tuple[float, float]], log_scale: bool, title: str,
                  at: int | None = None) -> go.Figure:
    """Filled contours of the surface (colour bar = loss, or log10 of loss above its minimum) with each
    optimizer's path (S + 1, 2): walked up to step `at` (None: the end), the rest faint, and a large marker where
    each optimizer is at that step (a path that stopped early stays at its last point). The start is circled,
    minima are stars."""
    if log_scale:
        z = np.log10(Z - float(Z.min()) + 1e-3)
        cb = "log10(loss − min)"
    else:
        z, cb = Z, "loss"
    data = [dict(type="contour", x=xs, y=ys, z=z, colorscale=HEIGHTS, ncontours=30, opacity=0.9,
                 line=dict(width=0.5), colorbar=dict(title=dict(text=cb), thickness=12),
                 hovertemplate="x %{x:.2f}, y %{y:.2f}: " + ("log10 " if log_scale else "") +
                 "%{z:.3g}<extra></extra>", showlegend=False)]
    for i, (name, path) in enumerate(paths.items()):
        c, dash, symbol = _style(i)
        end = len(path) - 1 if at is None else min(at, len(path) - 1)
        walked = path[:end + 1]
        hover = name + " step %{customdata}: (%{x:.3f}, %{y:.3f})<extra></extra>"
        if end < len(path) - 1:  # the road ahead, faint
            data.append(dict(type="scatter", x=path[end:, 0], y=path[end:, 1], mode="lines", legendgroup=name,
                             showlegend=False, line=dict(color=c, width=1, dash=dash), opacity=0.35,
                             hoverinfo="skip", name=name + " (ahead)"))
        dots = len(path) <= STEP_MARKERS_UP_TO
        data.append(dict(type="scatter", x=walked[:, 0], y=walked[:, 1], mode="lines+markers" if dots else "lines",
                         name=name, legendgroup=name, line=dict(color=c, width=2.5, dash=dash),
                         **({"marker": dict(size=4, color=c, line=dict(color="#000", width=0.5))} if dots else {}),
                         customdata=np.arange(end + 1), hovertemplate=hover))
        data.append(dict(type="scatter", x=[walked[-1, 0]], y=[walked[-1, 1]], mode="markers", legendgroup=name,
                         showlegend=False, name=f"{name} at step {end}",
                         marker=dict(symbol=symbol, size=15, color=c, line=dict(color="#fff", width=2)),
                         customdata=[end], hovertemplate=hover))
    if paths:
        start = next(iter(paths.values()))[0]
        data.append(dict(type="scatter", x=[start[0]], y=[start[1]], mode="markers", name="start",
                         marker=dict(symbol="circle-open", size=16, color="#000", line=dict(width=3))))
    data.append(dict(type="scatter", x=[m[0] for m in minima], y=[m[1] for m in minima], mode="markers",
                     name="minimum", marker=dict(symbol="star", size=16, color="#ffdc00",
                                                 line=dict(color="#000", width=1))))
    layout = dict(height=580, margin=margin(100),  # the title on top, the legend's two rows under it
                  title=dict(text=title, font=dict(size=14), yref="container", y=1, yanchor="top", pad=dict(t=8)),
                  xaxis=dict(title=dict(text="x = p[0]"), range=[float(xs[0]), float(xs[-1])], constrain="domain"),
                  yaxis=dict(title=dict(text="y = p[1]"), range=[float(ys[0]), float(ys[-1])], scaleanchor="x",
                             constrain="domain"),
                  legend=top_legend(1.01))
    return figure(data, layout)


def _log_axis(losses: dict[str, np.ndarray], floor: float) -> dict:
    """A log axis over all finite losses (at least `floor`), ticked at powers of ten."""
    vals = np.concatenate([np.maximum(np.asarray(v, dtype=float), floor) for v in losses.values()] or [np.ones(1)])
    vals = vals[np.isfinite(vals)]
    return log_ticks(float(vals.min()), float(vals.max())) if vals.size else {"type": "log"}


def loss_per_step(losses: dict[str, np.ndarray], log_y: bool, floor: float = 1e-12,
                  at: int | None = None) -> go.Figure:
    """Loss after each step (each optimizer in its path's colour and dash); on a log axis values below `floor`
    (float32 reaching 0) are drawn at `floor`. `at`: a vertical line at the step the race shows."""
    data = [dict(type="scatter", x=np.arange(len(vals)), y=np.maximum(vals, floor) if log_y else vals, mode="lines",
                 name=name, line=dict(color=_style(i)[0], width=2, dash=_style(i)[1]))
            for i, (name, vals) in enumerate(losses.items())]
    layout = dict(height=320, margin=margin(70),
                  title=dict(text="Loss f(x, y) after each step", font=dict(size=14)),
                  xaxis=dict(title=dict(text="step")),
                  yaxis=dict(title=dict(text="loss" + (f" (log scale, floor {floor:g})" if log_y else "")),
                             **(_log_axis(losses, floor) if log_y else {"type": "linear"})),
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    if at is not None:
        layout["shapes"] = [dict(type="line", xref="x", yref="paper", x0=at, x1=at, y0=0, y1=1,
                                 line=dict(color="#555", width=1, dash="dot"))]
    return figure(data, layout)
