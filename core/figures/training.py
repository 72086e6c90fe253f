"""Training figures: the live loss, runs overlaid (like TensorBoard), the confusion matrix, per-class bars."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import plotly.graph_objects as go

from core.figures.base import (
    CLICK_LAYOUT,
    COUNTS,
    PALETTE,
    ROLE,
    cell_targets,
    columns,
    figure,
    heading,
    integer_ticks,
    log_ticks,
    margin,
    panel_titles,
    plain,
)


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
    seconds: float = 0.0  # training time of the whole run (the time axis spreads its steps evenly over it)

    @classmethod
    def of(cls, label: str, history: _History, seconds: float = 0.0) -> Curve:
        """The curve of a run's history (anything with step_loss, steps_per_epoch, val_loss, val_acc)."""
        return cls(label, history.step_loss, history.steps_per_epoch, history.val_loss, history.val_acc, seconds)


XAxis = Literal["step", "epoch", "wall"]
X_TITLES: dict[str, str] = {"step": "optimizer step", "epoch": "epoch", "wall": "training time (s)"}


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
    """The curve drawn while training runs: raw per-step loss and its smoothed trend. The legend sits inside the
    plot's top-right corner (the loss falls away from it), so it never collides with the title."""
    x = np.arange(1, len(step_loss) + 1)
    c = ROLE["train"]
    data = [{"type": "scatter", "x": x, "y": np.asarray(step_loss, dtype=float), "mode": "lines",
             "name": "train loss (per step)", "line": {"color": c, "width": 1}, "opacity": 0.35},
            {"type": "scatter", "x": x, "y": smooth(step_loss), "mode": "lines", "name": "smoothed",
             "line": {"color": c, "width": 2.5}}]
    layout = {"title": heading("Training loss, live", 14), "height": 320, "margin": margin(40, b=40),
              "legend": {"x": 1, "xanchor": "right", "y": 1, "yanchor": "top", "bgcolor": "rgba(255,255,255,0.8)"},
              "xaxis": {"title": {"text": "optimizer step"}, "range": [0, max(total_steps, 1)]},
              "yaxis": {"title": {"text": "cross-entropy loss"}, "rangemode": "tozero"}}
    return figure(data, layout)


CHANCE = 10.0  # % accuracy of guessing among MNIST's 10 classes: the floor the accuracy axis shows


def _train_y(cv: Curve, smoothing: float) -> np.ndarray:
    return smooth(cv.step_loss, smoothing) if smoothing > 0 else np.asarray(cv.step_loss, dtype=float)


def _single_run(cv: Curve, x: XAxis, smoothing: float, on: str = "validation") -> list[dict]:
    """One run: four curves, each with its own legend entry (clicking one hides only that one)."""
    train, val = ROLE["train"], ROLE["validation"]
    xs, xe = _x(cv, x)
    return [
        {"type": "scatter", "x": xs, "y": np.asarray(cv.step_loss, dtype=float), "mode": "lines",
         "line": {"color": train, "width": 1}, "opacity": 0.3, "name": "train loss (raw, per batch)"},
        {"type": "scatter", "x": xs, "y": _train_y(cv, smoothing), "mode": "lines",
         "line": {"color": train, "width": 2}, "name": "train loss (smoothed)"},
        {"type": "scatter", "x": xe, "y": np.asarray(cv.val_loss, dtype=float), "mode": "lines+markers",
         "line": {"color": val, "dash": "dot"}, "name": f"{on} loss"},
        {"type": "scatter", "x": xe, "y": 100 * np.asarray(cv.val_acc, dtype=float),
         "mode": "lines+markers", "line": {"color": val}, "xaxis": "x2", "yaxis": "y2",
         "name": f"{on} accuracy"}]


def _one_of_runs(cv: Curve, x: XAxis, smoothing: float, colour: str, on: str = "validation") -> list[dict]:
    """One of several runs: its colour in both panels and ONE legend entry (the run's label) that shows or hides
    the whole run; the line styles are explained once, in the legend's title."""
    name = plain(cv.label)  # a run's name is the learner's text: shown as written, never as markup
    group = {"legendgroup": name, "line": {"color": colour, "width": 2}}
    xs, xe = _x(cv, x)
    at = f"at {X_TITLES[x]} %{{x:.4g}}"
    return [
        {"type": "scatter", "x": xs, "y": _train_y(cv, smoothing), "mode": "lines", "name": name, **group,
         "hovertemplate": f"train (smoothed) %{{y:.3f}} {at}<extra>%{{fullData.name}}</extra>"},
        {"type": "scatter", "x": xe, "y": np.asarray(cv.val_loss, dtype=float),
         "mode": "lines+markers", "name": name, "showlegend": False, **group,
         "line": {"color": colour, "dash": "dot"},
         "hovertemplate": f"{on} %{{y:.3f}} {at}<extra>%{{fullData.name}}</extra>"},
        {"type": "scatter", "x": xe, "y": 100 * np.asarray(cv.val_acc, dtype=float),
         "mode": "lines+markers", "xaxis": "x2", "yaxis": "y2", "name": name, "showlegend": False, **group,
         "hovertemplate": f"{on} accuracy %{{y:.2f}}% {at}<extra>%{{fullData.name}}</extra>"}]


def run_curves(curves: Sequence[Curve], x: XAxis = "epoch", smoothing: float = 0.9,
               log_y: bool = False, chance: float = CHANCE, evaluated_on: str = "validation") -> go.Figure:
    """Overlay runs. Left: train loss per batch (smoothed with a debiased EMA of weight `smoothing`, 0 = raw; raw
    too for a single run) and validation loss per epoch (dotted). Right: validation accuracy per epoch, on an axis
    from 0 % with chance (`chance` %) marked, so a 1-point difference looks like one point. x: by optimizer step,
    epoch (ticks at whole epochs only) or training time; `log_y` puts the loss on a log scale.

    `evaluated_on`: what the per-epoch curves were measured on ("validation", or "test" where a task has too few
    labels to hold some out, as transfer's). The legend sits under the plot, in pixels below the axis titles (it
    grows the figure instead of covering them): one entry per curve for a single run, one entry per run for
    several."""
    single = len(curves) == 1
    data: list[dict] = []
    for i, cv in enumerate(curves):
        data += _single_run(cv, x, smoothing, evaluated_on) if single else _one_of_runs(
            cv, x, smoothing, PALETTE[i % len(PALETTE)], evaluated_on)
    epochs = max((max(len(cv.val_loss), len(cv.step_loss) / max(cv.steps_per_epoch, 1)) for cv in curves),
                 default=1)
    epochs = int(np.ceil(epochs))
    entries = 4 if single else len(curves)
    per_row = 2 if single else 1
    legend_px = 24 * (-(-entries // per_row)) + (22 if not single else 0)
    layout = {"height": 380 + legend_px, "margin": margin(40, b=60 + legend_px),
              "annotations": panel_titles(("Loss", f"{evaluated_on.capitalize()} accuracy"), gap=0.1, size=16),
              "legend": {"orientation": "h" if single else "v", "yref": "container", "y": 0, "yanchor": "bottom",
                         "x": 0, "entrywidth": 0.5 if single else None, "entrywidthmode": "fraction",
                         "title": {"text": "" if single else "solid: train loss (smoothed) · dotted: "
                                   f"{evaluated_on} loss · right: {evaluated_on} accuracy", "side": "top"}},
              "shapes": [{"type": "line", "xref": "x2 domain", "x0": 0, "x1": 1, "yref": "y2", "y0": chance,
                          "y1": chance, "line": {"color": ROLE["neutral"], "dash": "dash", "width": 1}}],
              **columns(2, gap=0.1)}
    layout["annotations"].append({"text": "chance", "xref": "x2 domain", "x": 1, "xanchor": "right", "yref": "y2",
                                  "y": chance, "yanchor": "bottom", "showarrow": False,
                                  "font": {"size": 10, "color": ROLE["neutral"]}})
    if single:
        layout["legend"].pop("title")
    else:
        layout["legend"].pop("entrywidth")
    layout["xaxis"]["title"] = {"text": X_TITLES[x]}
    layout["xaxis2"]["title"] = {"text": X_TITLES[x]}
    if x == "epoch":
        layout["xaxis"].update({**integer_ticks(epochs), "tick0": 0, "range": [0, epochs + 0.2]})
        layout["xaxis2"].update(integer_ticks(epochs))
    else:
        layout["xaxis"]["rangemode"] = layout["xaxis2"]["rangemode"] = "tozero"
    loss_values = [v for cv in curves for v in (*cv.step_loss, *cv.val_loss) if v > 0]
    layout["yaxis"].update(title={"text": "cross-entropy loss" + (" (log scale)" if log_y else "")},
                           **(log_ticks(min(loss_values, default=0.01), max(loss_values, default=10.0)) if log_y
                              else {"rangemode": "tozero"}))
    layout["yaxis2"].update(title={"text": "accuracy (%)"}, range=[0, 101])
    return figure(data, layout)


def confusion(cm: np.ndarray, title: str = "Confusion matrix (test set)", clickable: bool = False,
              labels: Sequence[str] = ()) -> go.Figure:
    """Counts with the true class on rows and the predicted class on columns (named by `labels`, else 0..n-1).

    clickable: every cell clickable (`base.cell_targets`): `ui.plotly_select.clicked_cell` gives (true, predicted)."""
    n = cm.shape[0]
    labels = list(labels) or [str(i) for i in range(n)]
    data = [{"type": "heatmap", "z": cm.tolist(), "x": labels, "y": labels, "colorscale": COUNTS,
             "text": cm.tolist(), "texttemplate": "%{text}", "colorbar": {"title": {"text": "count"}, "thickness": 12},
             "hovertemplate": "true %{y}, predicted %{x}: %{z}<extra></extra>"}]
    layout = {"title": {"text": title}, "height": 420, "margin": margin(40 if title else 10),
              "xaxis": {"title": {"text": "predicted class"}, "type": "category"},
              "yaxis": {"title": {"text": "true class"}, "type": "category", "autorange": "reversed"}}
    if clickable:
        data.append(cell_targets(n, n, x=labels, y=labels, extra=cm, size=24,
                                 hover="true %{y}, predicted %{x}: %{customdata[2]} — click to see them"))
        layout.update(CLICK_LAYOUT)
    return figure(data, layout)


def per_class_bars(acc: np.ndarray, title: str = "Per-class accuracy (test set)") -> go.Figure:
    """Accuracy of each class in % (acc: fractions), the value written above each bar."""
    data = [{"type": "bar", "x": [str(i) for i in range(len(acc))], "y": (100 * np.asarray(acc)).tolist(),
             "marker": {"color": ROLE["validation"]}, "text": [f"{100 * a:.1f}" for a in acc],
             "textposition": "outside",
             "hovertemplate": "class %{x}: %{y:.1f}%<extra></extra>"}]
    layout = {"title": {"text": title}, "height": 300, "margin": margin(40 if title else 10),
              "yaxis": {"title": {"text": "accuracy (%)"}, "range": [0, 112]},
              "xaxis": {"title": {"text": "class"}, "type": "category"}}
    return figure(data, layout)
