"""Clicks on grid figures: the one reader of "which cell was clicked" in a Plotly chart made clickable with
`core.figures.base.cell_targets` (confusion matrices, feature maps), and of any clicked point's customdata (the
Playground's neurons and edges). Pair it with
`st.plotly_chart(fig, key=key, on_select=callback, selection_mode="points")` and call it in the callback."""
from __future__ import annotations

import streamlit as st


def clicked_point(key: str) -> tuple[int, ...] | None:
    """The whole numeric customdata of the point just clicked in the chart with widget key `key` (a Playground edge
    is [layer, neuron, source]); None when the click selected nothing or hit a point without one."""
    event = st.session_state.get(key)
    points = event.selection.points if event is not None else []
    custom = points[0].get("customdata") if points else None
    if not isinstance(custom, (list, tuple)) or not all(isinstance(v, (int, float)) for v in custom):
        return None
    return tuple(int(v) for v in custom)


def clicked_cell(key: str) -> tuple[int, int] | None:
    """(row, col) of the cell just clicked in the chart with widget key `key`; None when the click selected
    nothing (a second click on the same cell clears the selection) or hit no cell."""
    event = st.session_state.get(key)
    points = event.selection.points if event is not None else []
    custom = points[0].get("customdata") if points else None
    if not isinstance(custom, (list, tuple)) or len(custom) < 2:
        return None
    return int(custom[0]), int(custom[1])
