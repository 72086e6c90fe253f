"""Figures for the Transfer learning page: the frozen-vs-trainable map and the strategy comparison."""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

STATE_COLOURS = {"True": "#2ca02c", "False": "#9e9e9e", "Partial": "#ff7f0e"}
STATE_WORDS = {"True": "trainable", "False": "frozen", "Partial": "partly trainable"}


def frozen_map(rows: Sequence) -> go.Figure:
    """Treemap of the network's parameterized modules (core.transfer.LayerState rows), area = parameters,
    colour = trainable (green) / frozen (gray) / partial (orange)."""
    ids = [r.name or "resnet18" for r in rows]
    parents = ["" if not r.name else (r.name.rsplit(".", 1)[0] if "." in r.name else "resnet18") for r in rows]
    return go.Figure(dict(
        data=[{"type": "treemap", "ids": ids, "labels": [(r.name.rsplit(".", 1)[-1] or "resnet18") for r in rows],
               "parents": parents, "values": [r.params for r in rows], "branchvalues": "total",
               "marker": {"colors": [STATE_COLOURS[r.trainable] for r in rows]},
               "customdata": [[r.kind, STATE_WORDS[r.trainable]] for r in rows],
               "hovertemplate": "%{id} (%{customdata[0]})<br>%{value:,} parameters<br>%{customdata[1]}<extra></extra>",
               "maxdepth": 3}],
        layout={"margin": {"l": 5, "r": 5, "t": 30, "b": 5}, "height": 420,
                "title": {"text": "Frozen vs trainable: area = parameters; green trainable, gray frozen, "
                                  "orange partial", "font": {"size": 13}}},
    ))


def strategy_curves(runs: Sequence[tuple[str, Sequence[float]]]) -> go.Figure:
    """Validation accuracy per epoch, one line per run (label, accuracies 0..1)."""
    return go.Figure(dict(
        data=[{"type": "scatter", "mode": "lines+markers", "name": label, "x": list(range(1, len(acc) + 1)),
               "y": [100 * a for a in acc]} for label, acc in runs],
        layout={"margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "height": 320,
                "xaxis": {"title": {"text": "epoch"}}, "yaxis": {"title": {"text": "target test accuracy (%)"}},
                "title": {"text": "Strategies on the target task", "font": {"size": 13}}},
    ))
