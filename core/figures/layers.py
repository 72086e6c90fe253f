"""Figures of the Layer shapes page: the shape flow of a stack (or any model's layer list)."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from core.figures.base import figure


def shape_flow(labels: list[str], shapes: list[tuple[int, ...]], failed: str = "") -> go.Figure:
    """One bar per layer: how many numbers one sample holds after it (log scale), its shape written on the bar.

    `failed`: the label of the layer that doesn't fit, drawn as a red marker after the last bar."""
    sizes = [math.prod(s) for s in shapes]
    text = ["×".join(map(str, s)) for s in shapes]
    data = [dict(type="bar", x=labels, y=sizes, text=text, textposition="outside", cliponaxis=False,
                 marker=dict(color="#4c78a8"), name="output",
                 hovertemplate="%{x}<br>shape %{text}<br>%{y:,} numbers per sample<extra></extra>")]
    if failed:
        data.append(dict(type="scatter", x=[failed], y=[sizes[-1] if sizes else 1], mode="markers+text",
                         marker=dict(color="#d62728", symbol="x", size=16), text=["does not fit"],
                         textposition="top center", name="failing layer", hoverinfo="skip"))
    layout = dict(height=320, margin=dict(l=10, r=10, t=30, b=10), showlegend=False,
                  yaxis=dict(type="log", title=dict(text="numbers per sample"), dtick=1),  # powers of ten only
                  xaxis=dict(type="category", tickangle=-30), title=dict(text="Shape after each layer", x=0))
    return figure(data, layout)
