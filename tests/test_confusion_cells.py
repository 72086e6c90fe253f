"""ui.confusion_cells, the one confusion-cell picker: its mistake cells against the confusion matrix PyTorch
counts, click points back to cells, and the widget itself in AppTest (selectbox, a diagonal click's note)."""
from __future__ import annotations

import numpy as np
import torch
from streamlit.testing.v1 import AppTest

from core.models.inspection import confusion_matrix
from support import rerun
from ui.confusion_cells import _clicked, cell_note, mistake_cells


def test_mistake_cells_are_the_off_diagonal_counts_most_frequent_first():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (300,), generator=g)
    preds = torch.where(torch.rand(300, generator=g) < 0.7, labels, torch.randint(0, 4, (300,), generator=g))
    cm = confusion_matrix(labels, preds, 4).numpy()
    cells = mistake_cells(cm)
    for (t, p), n in cells.items():
        assert t != p and n == int(((labels == t) & (preds == p)).sum()) > 0
    assert len(cells) == sum(1 for t in range(4) for p in range(4) if t != p and cm[t, p])
    assert list(cells.values()) == sorted(cells.values(), reverse=True)
    assert mistake_cells(np.diag([5, 3])) == {}


def test_a_cell_without_mistakes_gets_a_note_in_plain_words():
    cm = np.array([[4, 0], [2, 7]])
    assert "7 correctly classified" in cell_note(cm, (1, 1), ["a", "b"], "images")
    assert "No a was mistaken for a b" in cell_note(cm, (0, 1), ["a", "b"], "images")


def test_a_click_chooses_a_mistake_or_leaves_a_note(monkeypatch):
    from types import SimpleNamespace

    import streamlit as st

    cm = np.array([[5, 2], [0, 6]])
    state: dict = {}
    monkeypatch.setattr(st, "session_state", state)
    for (t, p), cell, note in (((1, 1), None, (1, 1)), ((1, 0), None, (1, 0)), ((0, 1), (0, 1), None)):
        point = {"x": "ab"[p], "y": "ab"[t], "customdata": [t, p, int(cm[t, p])]}  # as core.figures' cell targets
        state["t_cm"] = SimpleNamespace(selection=SimpleNamespace(points=[point]))
        _clicked("t", cm)
        assert state.get("t_cell") == cell and state.get("t_cell_note") == note


def _picker_page() -> None:
    import numpy as np
    import streamlit as st

    from ui.confusion_cells import pick_cell

    cm = np.array([[5, 2, 0], [0, 6, 4], [1, 0, 9]])
    st.session_state["picked"] = pick_cell("t", cm, ["ant", "bee", "cat"], model_name="net", noun="images")


def test_the_picker_widget_lists_mistakes_and_explains_a_diagonal_click():
    at = rerun(AppTest.from_function(_picker_page))
    box = at.selectbox(key="t_cell")
    assert box.options == ["true bee → predicted cat (4 images)", "true ant → predicted bee (2 images)",
                           "true cat → predicted ant (1 image)"]
    assert at.session_state["picked"] == (1, 2)  # the most frequent mistake first
    assert "**7** of 27 test images are misclassified" in at.markdown[0].value
    box.set_value((2, 0))
    rerun(at)
    assert at.session_state["picked"] == (2, 0)
    at.session_state["t_cell_note"] = (1, 1)  # what a click on the diagonal leaves (tested above)
    rerun(at)
    assert "6 correctly classified test images of class bee" in at.info[0].value
    assert at.session_state["picked"] == (2, 0)  # the chosen mistake stays
