"""Plotly figure builders: arrays in, `go.Figure` out. No state, no Streamlit."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """TensorBoard-style exponential moving average, debiased so it starts at the first value."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** i))
    return out


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def live_loss(step_loss: Sequence[float], total_steps: int) -> go.Figure:
    """The curve drawn while training runs: raw per-step loss and its smoothed trend."""
    x = np.arange(1, len(step_loss) + 1)
    fig = go.Figure()
    fig.add_scatter(x=x, y=list(step_loss), mode="lines", name="train loss (per step)",
                    line=dict(color=PALETTE[0], width=1), opacity=0.35)
    fig.add_scatter(x=x, y=smooth(step_loss), mode="lines", name="smoothed", line=dict(color=PALETTE[0], width=2.5))
    fig.update_xaxes(title="optimizer step", range=[0, max(total_steps, 1)])
    fig.update_yaxes(title="cross-entropy loss", rangemode="tozero")
    return _layout(fig, "Training loss, live")


def run_curves(runs: Sequence[tuple[str, Sequence[float], int, Sequence[float], Sequence[float]]]) -> go.Figure:
    """Overlay runs: each is (label, step_loss, steps_per_epoch, val_loss, val_acc).

    Left: train loss per step (faint) and smoothed, plus validation loss per epoch (dots).
    Right: validation accuracy per epoch. Runs share a colour across both panels.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Validation accuracy"), horizontal_spacing=0.08)
    for i, (label, step_loss, spe, val_loss, val_acc) in enumerate(runs):
        c = PALETTE[i % len(PALETTE)]
        epochs_x = np.arange(1, len(step_loss) + 1) / max(spe, 1)  # steps in units of epochs
        show_raw = len(runs) == 1
        if show_raw:
            fig.add_scatter(x=epochs_x, y=list(step_loss), mode="lines", line=dict(color=c, width=1), opacity=0.3,
                            name="train loss (raw)", legendgroup=label, row=1, col=1)
        fig.add_scatter(x=epochs_x, y=smooth(step_loss), mode="lines", line=dict(color=c, width=2),
                        name=f"{label} · train (smoothed)" if not show_raw else "train loss (smoothed)",
                        legendgroup=label, row=1, col=1)
        ex = np.arange(1, len(val_loss) + 1)
        fig.add_scatter(x=ex, y=list(val_loss), mode="lines+markers", line=dict(color=c, dash="dot"),
                        name=f"{label} · validation" if not show_raw else "validation loss", legendgroup=label,
                        row=1, col=1)
        fig.add_scatter(x=ex, y=[100 * a for a in val_acc], mode="lines+markers", line=dict(color=c),
                        name=label if not show_raw else "validation accuracy", legendgroup=label,
                        showlegend=not show_raw, row=1, col=2)
    fig.update_xaxes(title_text="epoch", row=1, col=1)
    fig.update_xaxes(title_text="epoch", row=1, col=2)
    fig.update_yaxes(title_text="cross-entropy loss", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="accuracy (%)", row=1, col=2)
    _layout(fig, "", height=420)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, x=0), margin=dict(b=40))
    return fig


def image_grid(images: np.ndarray, titles: Sequence[str], cols: int = 8, diverging: bool = True,
               colorbar_title: str = "weight") -> go.Figure:
    """(N, H, W) arrays as tiles of one heatmap (one trace: fast to build and to send), titled, with
    one colour scale; diverging = symmetric around 0 (red +, blue -) with a legend."""
    n, h, w = images.shape
    rows, gap = max(1, -(-n // cols)), max(1, h // 4)  # vertical gaps hold the titles
    canvas = np.full((rows * (h + gap) - gap, min(n, cols) * (w + gap) - gap), np.nan)  # gaps stay blank
    which = np.full(canvas.shape, -1, dtype=np.int16)  # tile index under each pixel, for the hover text
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        y, x = r * (h + gap), c * (w + gap)
        canvas[y:y + h, x:x + w] = img
        which[y:y + h, x:x + w] = i
    lim = float(np.nanmax(np.abs(images))) if diverging and n else 1.0
    scale = dict(colorscale="RdBu_r", zmin=-lim, zmax=lim, zmid=0) if diverging else dict(colorscale="gray_r")
    fig = go.Figure(go.Heatmap(z=canvas, customdata=which, hoverongaps=False, **scale,
                               colorbar=dict(title=colorbar_title, thickness=12),
                               hovertemplate="tile %{customdata}: %{z:.3f}<extra></extra>"))
    fig.update_layout(annotations=[
        dict(x=(i % cols) * (w + gap) + (w - 1) / 2, y=(i // cols) * (h + gap) - 0.5, text=title, showarrow=False,
             yanchor="bottom", font=dict(size=11)) for i, title in enumerate(titles)])
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(height=130 * rows + 40, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def _figure(trace: dict, title: str, height: int, **axes) -> go.Figure:
    """One trace and its layout as plain dicts, validated once (several update_* calls cost 10x more)."""
    layout = dict(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), **axes)
    return go.Figure(dict(data=[trace], layout=layout))


def probability_bars(probs: np.ndarray, true_label: int | None = None, title: str = "") -> go.Figure:
    """Bars of the 10 class probabilities; the predicted class in blue, the true one outlined."""
    pred = int(np.argmax(probs))
    trace = dict(type="bar", x=[str(i) for i in range(len(probs))], y=(100 * np.asarray(probs)).tolist(),
                 marker=dict(color=[PALETTE[0] if i == pred else "#c7c7c7" for i in range(len(probs))],
                             line=dict(color=PALETTE[2], width=[3 if i == true_label else 0 for i in range(len(probs))])),
                 hovertemplate="class %{x}: %{y:.1f}%<extra></extra>")
    return _figure(trace, title, 220, yaxis=dict(title="probability (%)", range=[0, 100]),
                   xaxis=dict(title="class", type="category"))


def confusion(cm: np.ndarray, title: str = "Confusion matrix (test set)") -> go.Figure:
    """Counts with true class on rows and predicted class on columns."""
    labels = [str(i) for i in range(cm.shape[0])]
    trace = dict(type="heatmap", z=cm.tolist(), x=labels, y=labels, colorscale="Blues", text=cm.tolist(),
                 texttemplate="%{text}", colorbar=dict(title=dict(text="count"), thickness=12),
                 hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>")
    return _figure(trace, title, 420, xaxis=dict(title="predicted class", type="category"),
                   yaxis=dict(title="true class", type="category", autorange="reversed"))


def per_class_bars(acc: np.ndarray, title: str = "Per-class accuracy (test set)") -> go.Figure:
    trace = dict(type="bar", x=[str(i) for i in range(len(acc))], y=(100 * np.asarray(acc)).tolist(),
                 marker=dict(color=PALETTE[0]), text=[f"{100 * a:.1f}" for a in acc], textposition="outside",
                 hovertemplate="class %{x}: %{y:.1f}%<extra></extra>")
    return _figure(trace, title, 300, yaxis=dict(title="accuracy (%)", range=[0, 112]),
                   xaxis=dict(title="class", type="category"))


def digit(image: np.ndarray, title: str = "", height: int = 160) -> go.Figure:
    """One grayscale digit (H, W) with 0 = white, ink dark, as MNIST is usually shown."""
    trace = dict(type="heatmap", z=np.asarray(image).tolist(), colorscale="gray_r", showscale=False,
                 hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>")
    fig = _figure(trace, title, height, xaxis=dict(visible=False),
                  yaxis=dict(visible=False, scaleanchor="x", autorange="reversed"))
    fig.layout.margin = dict(l=0, r=0, t=30 if title else 0, b=0)
    return fig
