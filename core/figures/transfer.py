"""Figures for the Transfer learning page: the frozen-vs-trainable map, per-layer gradient norms and the
resolution trade-off across stored runs."""
from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from core.figures.base import MUTED, PALETTE, figure, heading, log_ticks, margin
from core.transfer.config import TRANSFER_RESOLUTIONS, TRANSFER_STRATEGY_LABELS

STATE_COLOURS = {"True": "#2ca02c", "False": "#9e9e9e", "Partial": "#ff7f0e"}
STATE_WORDS = {"True": "trainable", "False": "frozen", "Partial": "partly trainable"}
ROOT = "resnet18"
# One colour and marker per strategy (from the run palette; not green, orange or gray, which mean trainable,
# partly trainable and frozen on this page).
STRATEGY_STYLE: dict[str, tuple[str, str]] = {"feature": (PALETTE[0], "circle"), "finetune": (PALETTE[4], "diamond"),
                                              "full": (PALETTE[3], "square"), "scratch": (PALETTE[5], "x")}


def overall_state(rows: Sequence) -> str:
    """True / False / Partial over the whole model, from its top-level rows' states."""
    states = {r.trainable for r in rows if r.depth == 1 and r.total_params}
    return states.pop() if len(states) == 1 else "Partial"


def frozen_map(rows: Sequence, max_depth: int = 3) -> go.Figure:
    """Treemap of the network's parameterized modules (core.models.inspection.LayerRow rows, containers included),
    area = parameters, colour = trainable (green) / frozen (gray) / partial (orange)."""
    rows = [r for r in rows if r.total_params]
    total = sum(r.total_params for r in rows if r.depth == 1)
    state = overall_state(rows)
    ids = [ROOT, *(r.name for r in rows)]
    parents = ["", *((r.name.rsplit(".", 1)[0] if "." in r.name else ROOT) for r in rows)]
    states = [state, *(r.trainable for r in rows)]
    return figure([{
        "type": "treemap", "ids": ids, "labels": [ROOT, *(r.name.rsplit(".", 1)[-1] for r in rows)],
        "parents": parents, "values": [total, *(r.total_params for r in rows)], "branchvalues": "total",
        "marker": {"colors": [STATE_COLOURS[s] for s in states]},
        "customdata": [["ResNet", STATE_WORDS[state]], *([r.kind, STATE_WORDS[r.trainable]] for r in rows)],
        "texttemplate": "%{label}<br>%{value:,}", "maxdepth": max_depth, "textfont": {"color": "#111"},
        "hovertemplate": "%{id} (%{customdata[0]})<br>%{value:,} parameters<br>%{customdata[1]}<extra></extra>"}],
        {"margin": margin(36, 5, 5), "height": 440,
         "title": heading("Area = parameters · green trainable, gray frozen, orange partly trainable · "
                          "click a box to open it")})


def block_strip(rows: Sequence) -> go.Figure:
    """The network in order, one bar per stem layer / BasicBlock / head (LayerRow rows of depth 1 and the blocks
    at depth 2), parameters on a log axis so the 2,565-parameter head is as visible as a 4.7-million block."""
    shown = [r for r in rows if r.total_params and (r.depth == 1 and r.kind != "Sequential" or
                                                    r.depth == 2 and r.kind == "BasicBlock")]
    return figure([{
        "type": "bar", "orientation": "h", "y": [r.name for r in shown], "x": [r.total_params for r in shown],
        "marker": {"color": [STATE_COLOURS[r.trainable] for r in shown]},
        "text": [f"{r.total_params:,} · {STATE_WORDS[r.trainable]}" for r in shown], "textposition": "outside",
        "cliponaxis": False, "customdata": [r.kind for r in shown],
        "hovertemplate": "%{y} (%{customdata}): %{x:,} parameters<extra></extra>"}],
        {"title": heading("Input → output, one bar per layer or BasicBlock (log scale)"), "height": 380,
         "margin": margin(36, 10, 10), "showlegend": False,
         "xaxis": {"type": "log", "title": {"text": "parameters"}, "range": [2, 8.3]},
         "yaxis": {"autorange": "reversed", "type": "category"}})


def gradient_norms(grads: Sequence) -> go.Figure:
    """L2 norm of each parameterized layer's gradient after one step (core.transfer.LayerGrad rows), on a log
    axis: trainable layers as bars, frozen layers as gray crosses on the floor, labelled exactly 0."""
    names = [g.name for g in grads]
    live = [g for g in grads if g.trainable]
    finite = [g.grad_norm for g in live if math.isfinite(g.grad_norm)]  # a diverged step's NaN has no bar
    floor = min((n for n in finite if n > 0), default=1.0) / 10
    data = [{"type": "bar", "x": [g.name for g in live], "y": [g.grad_norm for g in live], "name": "trainable",
             "marker": {"color": PALETTE[2]}, "hovertemplate": "%{x}: %{y:.3g}<extra></extra>"},
            {"type": "scatter", "mode": "markers", "x": [g.name for g in grads if not g.trainable],
             "y": [floor] * sum(not g.trainable for g in grads), "name": "frozen: exactly 0",
             "marker": {"symbol": "x", "color": MUTED, "size": 9},
             "customdata": [g.grad_norm for g in grads if not g.trainable],
             "hovertemplate": "%{x}: frozen, gradient %{customdata}<extra></extra>"}]
    return figure(data, {
        "title": heading("Gradient norm per layer after one training step (log scale)"), "height": 360,
        "margin": margin(40, 10, 10), "legend": {"orientation": "h", "y": 1.08, "x": 1, "xanchor": "right"},
        "xaxis": {"type": "category", "categoryorder": "array", "categoryarray": names, "tickangle": -60,
                  "tickfont": {"size": 9}},
        "yaxis": {**log_ticks(floor * 0.8, max(finite, default=floor * 10) * 1.25),
                  "title": {"text": "‖grad‖₂"}}})


def resolution_tradeoff(points: Sequence) -> go.Figure:
    """Target accuracy against input resolution (core.transfer.resolution.ResolutionPoint rows): one marker style per
    strategy, a line through its resolutions, the run's time on hover."""
    data = []
    for strategy, (colour, symbol) in STRATEGY_STYLE.items():
        mine = sorted((p for p in points if p.strategy == strategy), key=lambda p: p.resolution)
        if not mine:
            continue
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": TRANSFER_STRATEGY_LABELS[strategy],
            "x": [p.resolution for p in mine], "y": [100 * p.acc for p in mine],
            "marker": {"color": colour, "symbol": symbol, "size": 11}, "line": {"color": colour, "width": 1.5},
            "customdata": [[p.wall_s, p.features_s, p.runs] for p in mine],
            "hovertemplate": "%{x} px: %{y:.1f}% target accuracy<br>time %{customdata[0]:.1f} s"
                             + (" (backbone pass %{customdata[1]:.1f} s)" if strategy == "feature" else "")
                             + "<br>best of %{customdata[2]} stored run(s)<extra>" + TRANSFER_STRATEGY_LABELS[strategy]
                             + "</extra>"})
    ticks = list(TRANSFER_RESOLUTIONS)
    return figure(data, {
        "title": heading("Input resolution vs target accuracy, your stored runs (hover: time)"), "height": 300,
        "margin": margin(60, 10, 10), "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        "xaxis": {"type": "log", "tickvals": ticks, "ticktext": [f"{r} px" for r in ticks],
                  "range": [math.log10(ticks[0] / 1.25), math.log10(ticks[-1] * 1.25)],
                  "title": {"text": "input resolution (log scale)"}},
        "yaxis": {"title": {"text": "target accuracy %"}, "range": [0, 102]}})
