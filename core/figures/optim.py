"""Optimizer figures: paths over a 2-D loss surface and the loss after each step."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.figures.base import HEIGHTS, figure, log_ticks, margin, top_legend

PATH_COLORS = ("#ff4136", "#00d5ff", "#ff851b", "#f012be")  # readable on Viridis contours and on white


def contour_paths(xs: np.ndarray, ys: np.ndarray, Z: np.ndarray, paths: dict[str, np.ndarray],
                  minima: Sequence[tuple[float, float]], log_scale: bool, title: str) -> go.Figure:
    """Filled contours of the surface (colour bar = loss, or log10 of loss above its minimum) with each
    optimizer's path: a marker per step, the start circled, minima as stars."""
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


def loss_per_step(losses: dict[str, np.ndarray], log_y: bool, floor: float = 1e-12) -> go.Figure:
    """Loss after each step; on a log axis values below `floor` (float32 reaching 0) are drawn at `floor`."""
    data = [dict(type="scatter", x=np.arange(len(vals)), y=np.maximum(vals, floor) if log_y else vals, mode="lines",
                 name=name, line=dict(color=PATH_COLORS[i % len(PATH_COLORS)], width=2))
            for i, (name, vals) in enumerate(losses.items())]
    layout = dict(height=320, margin=margin(70),
                  title=dict(text="Loss f(x, y) after each step", font=dict(size=14)),
                  xaxis=dict(title=dict(text="step")),
                  yaxis=dict(title=dict(text="loss" + (f" (log scale, floor {floor:g})" if log_y else "")),
                             **(_log_axis(losses, floor) if log_y else {"type": "linear"})),
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    return figure(data, layout)
