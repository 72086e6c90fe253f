"""Training figures: the live loss, runs overlaid (like TensorBoard), the confusion matrix, per-class bars."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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

    @classmethod
    def of(cls, label: str, history: _History) -> Curve:
        """The curve of a run's history (anything with step_loss, steps_per_epoch, val_loss, val_acc)."""
        return cls(label, history.step_loss, history.steps_per_epoch, history.val_loss, history.val_acc)


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


def run_curves(curves: Sequence[Curve]) -> go.Figure:
    """Overlay runs. Left: train loss per step (raw only for a single run, faint) and smoothed, plus validation
    loss per epoch (dots). Right: validation accuracy per epoch. A run has one colour in both panels."""
    single = len(curves) == 1
    data = []
    for i, cv in enumerate(curves):
        c = PALETTE[i % len(PALETTE)]
        epochs_x = np.arange(1, len(cv.step_loss) + 1) / max(cv.steps_per_epoch, 1)  # steps in units of epochs
        group = {"legendgroup": cv.label}
        if single:
            data.append({"type": "scatter", "x": epochs_x, "y": np.asarray(cv.step_loss, dtype=float), "mode": "lines",
                         "line": {"color": c, "width": 1}, "opacity": 0.3, "name": "train loss (raw)", **group})
        data.append({"type": "scatter", "x": epochs_x, "y": smooth(cv.step_loss), "mode": "lines",
                     "line": {"color": c, "width": 2},
                     "name": "train loss (smoothed)" if single else f"{cv.label} · train (smoothed)", **group})
        ex = np.arange(1, len(cv.val_loss) + 1)
        data.append({"type": "scatter", "x": ex, "y": np.asarray(cv.val_loss, dtype=float), "mode": "lines+markers",
                     "line": {"color": c, "dash": "dot"},
                     "name": "validation loss" if single else f"{cv.label} · validation", **group})
        data.append({"type": "scatter", "x": np.arange(1, len(cv.val_acc) + 1),
                     "y": 100 * np.asarray(cv.val_acc, dtype=float),
                     "mode": "lines+markers", "line": {"color": c}, "xaxis": "x2", "yaxis": "y2",
                     "name": "validation accuracy" if single else cv.label, "showlegend": not single, **group})
    layout = {"height": 420, "margin": margin(40, b=40), "annotations": panel_titles(("Loss", "Validation accuracy"),
                                                                                    gap=0.08, size=16),
              "legend": {"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0}, **columns(2, gap=0.08)}
    layout[axis_name("xaxis", 0)]["title"] = {"text": "epoch"}
    layout[axis_name("xaxis", 1)]["title"] = {"text": "epoch"}
    layout["yaxis"].update(title={"text": "cross-entropy loss"}, rangemode="tozero")
    layout["yaxis2"]["title"] = {"text": "accuracy (%)"}
    return figure(data, layout)


def confusion(cm: np.ndarray, title: str = "Confusion matrix (test set)", clickable: bool = False,
              labels: Sequence[str] = ()) -> go.Figure:
    """Counts with the true class on rows and the predicted class on columns (named by `labels`, else 0..n-1).

    clickable: invisible markers at the cell centres (Plotly heatmaps emit no click selections, markers do),
    so `st.plotly_chart(on_select=...)` sees which cell was clicked."""
    n = cm.shape[0]
    labels = list(labels) or [str(i) for i in range(n)]
    data = [{"type": "heatmap", "z": cm.tolist(), "x": labels, "y": labels, "colorscale": "Blues",
             "text": cm.tolist(), "texttemplate": "%{text}", "colorbar": {"title": {"text": "count"}, "thickness": 12},
             "hovertemplate": "true %{y}, predicted %{x}: %{z}<extra></extra>"}]
    layout = {"title": {"text": title}, "height": 420, "margin": margin(40 if title else 10),
              "xaxis": {"title": {"text": "predicted class"}, "type": "category"},
              "yaxis": {"title": {"text": "true class"}, "type": "category", "autorange": "reversed"}}
    if clickable:
        rows, cols = np.divmod(np.arange(n * n), n)
        data.append({"type": "scatter", "x": [labels[c] for c in cols], "y": [labels[r] for r in rows],
                     "mode": "markers",
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
