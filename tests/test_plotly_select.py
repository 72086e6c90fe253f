"""ui.plotly_select: the one reader of the clicked cell, on the selection events Streamlit stores for a chart."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.figures.training import confusion
from ui import plotly_select


def _event(*points: dict) -> SimpleNamespace:
    return SimpleNamespace(selection=SimpleNamespace(points=list(points)))


@pytest.mark.parametrize("state, cell", [
    ({}, None),  # the chart was never clicked
    ({"cm": _event()}, None),  # a second click on the same cell clears the selection
    ({"cm": _event({"x": "2", "y": "1", "customdata": [1, 2, 5]})}, (1, 2)),
    ({"cm": _event({"x": 3.0, "y": 4.0})}, None),  # a point of another trace: no cell
])
def test_clicked_cell_reads_row_and_column_from_the_point(monkeypatch, state, cell):
    monkeypatch.setattr(plotly_select.st, "session_state", state)
    assert plotly_select.clicked_cell("cm") == cell


def test_a_click_on_any_confusion_cell_reads_back_as_that_cell(monkeypatch):
    """Whatever the axis labels (class names here), the point Streamlit hands back names its (row, column)."""
    cm = np.arange(9).reshape(3, 3)
    targets = confusion(cm, clickable=True, labels=["cat", "dog", "owl"]).data[1]
    for i, (x, y, custom) in enumerate(zip(targets.x, targets.y, targets.customdata)):
        monkeypatch.setattr(plotly_select.st, "session_state", {"cm": _event({"x": x, "y": y, "customdata": custom})})
        assert plotly_select.clicked_cell("cm") == divmod(i, 3) and cm[divmod(i, 3)] == custom[2]
