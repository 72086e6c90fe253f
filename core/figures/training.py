"""Training figures: the live loss, runs overlaid (like TensorBoard), the confusion matrix, per-class bars."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import plotly.graph_objects as go

from core.figures.base import PALETTE, axis_name, columns, figure, margin, panel_titles, top_legend


class _History(Protocol):
    step_loss: Sequence[float]
    steps_per_epoch: int
    val_loss: Sequence[float]
    val_acc: Sequence[float]


@dataclass(frozen=True)
class Curve:
    """One run as `run_curves` draws it: train loss per step, validation loss and accuracy per epoch."""
    label: str
    step_loss: Sequence[float]
    steps_per_epoch: int
    val_loss: Sequence[float]
    val_acc: Sequence[float]  # fractions in [0, 1]
    seconds: float = 0.0  # training time of the whole run (the wall-time axis spreads steps evenly over it)

    @classmethod
    def of(cls, label: str, history: _History, seconds: float = 0.0) -> Curve:
        """The curve of a run's history (anything with step_loss, steps_per_epoch, val_loss, val_acc)."""
        return cls(label, history.step_loss, history.steps_per_epoch, history.val_loss, history.val_acc, seconds)


XAxis = Literal["step", "epoch", "wall"]
X_TITLES: dict[str, str] = {"step": "optimizer step", "epoch": "epoch", "wall": "training time (s)"}
LINE_KEY = "solid: train loss per step (smoothed) · dotted with dots: validation loss per epoch"


def _x(cv: Curve, x: XAxis) -> tuple[np.ndarray, np.ndarray]:
    """(x of each step, x of each epoch end) on the chosen axis."""
    steps = np.arange(1, len(cv.step_loss) + 1, dtype=float)
    epochs = np.arange(1, len(cv.val_loss) + 1, dtype=float)
    spe = max(cv.steps_per_epoch, 1)
    if x == "step":
        return steps, epochs * spe
    if x == "wall":
        per_step = cv.seconds / max(len(cv.step_loss), 1)
        return steps * per_step, epochs * spe * per_step
    return steps / spe, epochs


def smooth(values: Sequence[float], weight: float = 0.9) -> np.ndarray:
    """TensorBoard-style exponential moving average, debiased so it starts at the first value."""
    out, avg = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out[i] = avg / (1 - weight ** (i + 1))
    return out


def live_loss(step_loss: Sequence[float], total_steps: int) -> go.Figure:
    """The curve drawn while training runs: raw per-step loss and its smoothed trend."""
    x = np.arange(1, len(step_loss) + 1)
    data = [{"type": "scatter", "x": x, "y": np.asarray(step_loss, dtype=float), "mode": "lines",
             "name": "train loss (per step)",
             "line": {"color": PALETTE[0], "width": 1}, "opacity": 0.35},
            {"type": "scatter", "x": x, "y": smooth(step_loss), "mode": "lines", "name": "smoothed",
             "line": {"color": PALETTE[0], "width": 2.5}}]
    layout = {"title": {"text": "Training loss, live"}, "height": 320, "margin": margin(40), "legend": top_legend(),
              "xaxis": {"title": {"text": "optimizer step"}, "range": [0, max(total_steps, 1)]},
              "yaxis": {"title": {"text": "cross-entropy loss"}, "rangemode": "tozero"}}
    return figure(data, layout)


def run_curves(curves: Sequence[Curve], x: XAxis = "epoch", smoothing: float = 0.9,
               log_y: bool = False) -> go.Figure:
    """Overlay runs. Left: train loss per step (smoothed with a debiased EMA of weight `smoothing`; raw too, faint,
    for a single run) and validation loss per epoch (dotted, dots). Right: validation accuracy per epoch.
    A run has one colour in both panels and one legend entry (clicking it hides the whole run); the line styles
    are explained once, above the panels. `log_y` puts the loss on a log scale."""
    single = len(curves) == 1
    data = []
    for i, cv in enumerate(curves):
        c = PALETTE[i % len(PALETTE)]
        xs, xe = _x(cv, x)
        group = {"legendgroup": f"run{i}", "showlegend": False, "hovertemplate": f"{cv.label}<br>%{{x:.4g}}: "
                 "%{y:.4g}<extra></extra>"}
        if single:
            data.append({"type": "scatter", "x": xs, "y": np.asarray(cv.step_loss, dtype=float), "mode": "lines",
                         "line": {"color": c, "width": 1}, "opacity": 0.3, "name": "train loss (raw)", **group})
        y = smooth(cv.step_loss, smoothing) if smoothing > 0 else np.asarray(cv.step_loss, dtype=float)
        data.append({"type": "scatter", "x": xs, "y": y, "mode": "lines", "line": {"color": c, "width": 2},
                     **group, "name": cv.label, "showlegend": True})
        data.append({"type": "scatter", "x": xe, "y": np.asarray(cv.val_loss, dtype=float), "mode": "lines+markers",
                     "line": {"color": c, "dash": "dot"}, "name": f"{cv.label} · validation loss", **group})
        data.append({"type": "scatter", "x": xe, "y": 100 * np.asarray(cv.val_acc, dtype=float),
                     "mode": "lines+markers", "line": {"color": c}, "xaxis": "x2", "yaxis": "y2",
                     "name": f"{cv.label} · validation accuracy", **group})
    legend_px = 21 * len(curves) + 10  # the legend lists the runs below the panels, at most one per row
    plot_px = 340
    key = {"text": LINE_KEY, "x": 0, "y": 1.0, "xref": "paper", "yref": "paper", "xanchor": "left", "yanchor": "bottom",
           "yshift": 26, "showarrow": False, "font": {"size": 12, "color": "#555"}}
    layout = {"height": plot_px + legend_px + 60, "margin": margin(56, b=legend_px + 50),
              "annotations": panel_titles(("Loss", "Validation accuracy"), gap=0.08, size=15) + [key],
              "legend": {"orientation": "h", "yanchor": "top", "y": -60 / plot_px, "x": 0, "font": {"size": 12}},
              **columns(2, gap=0.08)}
    layout[axis_name("xaxis", 0)]["title"] = {"text": X_TITLES[x]}
    layout[axis_name("xaxis", 1)]["title"] = {"text": X_TITLES[x]}
    layout["yaxis"].update(title={"text": "cross-entropy loss" + (" (log scale)" if log_y else "")},
                           **({"type": "log"} if log_y else {"rangemode": "tozero"}))
    layout["yaxis2"]["title"] = {"text": "accuracy (%)"}
    return figure(data, layout)


def confusion(cm: np.ndarray, title: str = "Confusion matrix (test set)", clickable: bool = False) -> go.Figure:
    """Counts with the true class on rows and the predicted class on columns.

    clickable: invisible markers at the cell centres (Plotly heatmaps emit no click selections, markers do),
    so `st.plotly_chart(on_select=...)` sees which cell was clicked."""
    n = cm.shape[0]
    labels = [str(i) for i in range(n)]
    data = [{"type": "heatmap", "z": cm.tolist(), "x": labels, "y": labels, "colorscale": "Blues",
             "text": cm.tolist(), "texttemplate": "%{text}", "colorbar": {"title": {"text": "count"}, "thickness": 12},
             "hovertemplate": "true %{y}, predicted %{x}: %{z}<extra></extra>"}]
    layout = {"title": {"text": title}, "height": 420, "margin": margin(40 if title else 10),
              "xaxis": {"title": {"text": "predicted class"}, "type": "category"},
              "yaxis": {"title": {"text": "true class"}, "type": "category", "autorange": "reversed"}}
    if clickable:
        rows, cols = np.divmod(np.arange(n * n), n)
        data.append({"type": "scatter", "x": [str(c) for c in cols], "y": [str(r) for r in rows], "mode": "markers",
                     "customdata": cm.reshape(-1), "marker": {"size": 24, "opacity": 0, "color": "#000"},
                     "showlegend": False, "name": "cells",
                     "hovertemplate": "true %{y}, predicted %{x}: %{customdata} — click to see them<extra></extra>"})
        layout.update(clickmode="event+select", dragmode=False)
    return figure(data, layout)


def per_class_bars(acc: np.ndarray, title: str = "Per-class accuracy (test set)") -> go.Figure:
    """Accuracy of each class in % (acc: fractions), the value written above each bar."""
    data = [{"type": "bar", "x": [str(i) for i in range(len(acc))], "y": (100 * np.asarray(acc)).tolist(),
             "marker": {"color": PALETTE[0]}, "text": [f"{100 * a:.1f}" for a in acc], "textposition": "outside",
             "hovertemplate": "class %{x}: %{y:.1f}%<extra></extra>"}]
    layout = {"title": {"text": title}, "height": 300, "margin": margin(40 if title else 10),
              "yaxis": {"title": {"text": "accuracy (%)"}, "range": [0, 112]},
              "xaxis": {"title": {"text": "class"}, "type": "category"}}
    return figure(data, layout)
