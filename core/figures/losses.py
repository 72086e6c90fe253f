"""Loss-function figures: cross-entropy taken apart, regression losses and their gradients, per-class loss."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.figures.base import (
    MUTED,
    PALETTE,
    ROLE,
    axis_name,
    columns,
    figure,
    log_ticks,
    margin,
    panel_titles,
    top_legend,
)
from core.fmt import num


def ce_bars(classes: Sequence[str], scaled: np.ndarray, probs: np.ndarray, log_probs: np.ndarray,
            grad: np.ndarray, target: int) -> go.Figure:
    """Four panels for the CE breakdown; the target (true) class in ROLE["true"] in each."""
    titles = ("logits z (after temperature)", "softmax(z) = probability", "LogSoftmax(z)",
              "∂CE/∂z = softmax − one-hot")
    layout, ann = columns(4, gap=0.05), panel_titles(titles, gap=0.05, size=13)
    data = []
    for k, (vals, decimals) in enumerate(((scaled, None), (probs, 3), (log_probs, None), (grad, 3))):
        data.append(dict(type="bar", x=list(classes), y=np.asarray(vals, dtype=float),
                         marker=dict(color=[ROLE["true"] if i == target else MUTED for i in range(len(vals))]),
                         text=[num(v, decimals) for v in vals], textposition="auto", showlegend=False,
                         xaxis=axis_name("x", k), yaxis=axis_name("y", k),
                         hovertemplate="class %{x}: %{y:.6g}<extra></extra>"))
        layout[axis_name("xaxis", k)].update(type="category", title=dict(text="class (green = target)"))
    layout["yaxis2"].update(range=[0, 1])
    layout.update(height=300, margin=margin(50), annotations=ann)
    return figure(data, layout)


def ce_temperature(temps: np.ndarray, losses: np.ndarray, current: float) -> go.Figure:
    data = [dict(type="scatter", x=temps, y=losses, mode="lines", name="cross-entropy",
                 line=dict(color=PALETTE[0]))]
    layout = dict(height=280, margin=margin(50),
                  title=dict(text="Same logits and target, other temperatures", font=dict(size=14)),
                  xaxis=dict(title=dict(text="temperature T (logits divided by T), log scale"),
                             **log_ticks(float(np.min(temps)), float(np.max(temps)))),
                  yaxis=dict(title=dict(text="cross-entropy loss (nats)"), rangemode="tozero"),
                  shapes=[dict(type="line", x0=current, x1=current, y0=0, y1=1, yref="paper",
                               line=dict(dash="dot", color="#888"))],
                  annotations=[dict(x=np.log10(current), y=1, yref="paper", text=f"T = {current:g}",
                                    showarrow=False, yanchor="bottom")])
    return figure(data, layout)


def regression_curves(preds: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]], target: float
                      ) -> go.Figure:
    layout = columns(2, gap=0.08)
    ann = panel_titles(("loss(prediction, target)", "gradient ∂loss/∂prediction"), gap=0.08, size=13)
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
        layout[axis_name("xaxis", k)].update(title=dict(text=f"prediction (target = {target:g}, dotted)"))
    layout["yaxis"].update(title=dict(text="loss"))
    layout["yaxis2"].update(title=dict(text="gradient"))
    layout.update(height=340, margin=margin(60), annotations=ann, shapes=shapes,
                  legend=top_legend(1.1))
    return figure(data, layout)


def best_constant(targets: np.ndarray, grid: np.ndarray, mean_loss: dict[str, np.ndarray],
                  best: dict[str, float]) -> go.Figure:
    layout = columns(2, gap=0.08)
    ann = panel_titles(("targets and each loss's best constant prediction",
                        "mean loss over the targets for a constant prediction c"), gap=0.08, size=13)
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
    layout.update(height=340, margin=margin(60), annotations=ann,
                  legend=top_legend(1.1))
    return figure(data, layout)


def per_class_loss(per_class: np.ndarray, mean: float) -> go.Figure:
    data = [dict(type="bar", x=[str(i) for i in range(len(per_class))], y=per_class, marker=dict(color=PALETTE[0]),
                 text=[f"{v:.3f}" for v in per_class], textposition="outside",
                 hovertemplate="digit %{x}: mean loss %{y:.4f}<extra></extra>")]
    top = float(np.max(per_class)) * 1.2 if len(per_class) else 1.0
    layout = dict(height=300, margin=margin(50),
                  title=dict(text="Mean cross-entropy per digit class (test set)", font=dict(size=14)),
                  xaxis=dict(title=dict(text="true digit"), type="category"),
                  yaxis=dict(title=dict(text="mean cross-entropy (nats)"), range=[0, max(top, mean * 1.2, 1e-3)]),
                  shapes=[dict(type="line", x0=0, x1=1, xref="paper", y0=mean, y1=mean,
                               line=dict(dash="dot", color=ROLE["neutral"]))],
                  annotations=[dict(x=0, xref="paper", y=mean, text=f"all digits: {mean:.3f}", showarrow=False,
                                    xanchor="left", yanchor="bottom", font=dict(color=ROLE["neutral"]),
                                    bgcolor="rgba(255,255,255,0.85)")])
    return figure(data, layout)
