"""The one confusion-cell picker: which (true, predicted) cell of a classifier's confusion matrix to look at.

A clickable confusion matrix beside a selectbox of its mistakes (the off-diagonal, non-empty cells, the most
frequent first). A click on a mistake chooses it in the selectbox; a click on the diagonal or on an empty
cell says what that cell holds instead. The predictions panel's mistakes (Fully connected, Convolutions)
and the Saliency page's misclassified images both pick their cell here, then show its images their own way.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import streamlit as st

from core.figures.training import confusion
from ui.plotly_select import clicked_cell

Cell = tuple[int, int]  # (true class, predicted class)


def mistake_cells(cm: np.ndarray) -> dict[Cell, int]:
    """{(true, predicted): count} of the off-diagonal, non-empty cells of `cm` (C, C), the most frequent first
    (ties in row-major order)."""
    off = np.array(cm, dtype=np.int64)
    np.fill_diagonal(off, 0)
    n = off.shape[1]
    order = np.argsort(-off, axis=None, kind="stable")
    return {(int(i // n), int(i % n)): int(off.flat[i]) for i in order if off.flat[i] > 0}


def cell_note(cm: np.ndarray, cell: Cell, labels: Sequence[str], noun: str) -> str:
    """Plain words for a clicked cell that holds no mistakes (the diagonal, or an empty cell)."""
    t, p = cell
    if t == p:
        return (f"This cell on the diagonal counts the {int(cm[t, p])} correctly classified test {noun} of class "
                f"{labels[t]}; click a cell off the diagonal to see mistakes.")
    return f"No {labels[t]} was mistaken for a {labels[p]}: this cell is empty."


def _clicked(key: str, cm: np.ndarray) -> None:
    """A click on a mistake chooses it in the selectbox; on any other cell, remembers it for a note."""
    cell = clicked_cell(f"{key}_cm")
    if cell is None:
        return
    if cell in mistake_cells(cm):
        st.session_state[f"{key}_cell"] = cell
        st.session_state.pop(f"{key}_cell_note", None)
    else:
        st.session_state[f"{key}_cell_note"] = cell


def pick_cell(key: str, cm: np.ndarray, labels: Sequence[str] = (), model_name: str = "model",
              noun: str = "digits", title: str = "Confusion matrix (test set)") -> Cell | None:
    """The clickable confusion matrix `cm` (C, C) (rows true, columns predicted) beside the selectbox of its
    mistakes -> the (true, predicted) cell chosen, or None when the model makes no mistake.
    Widget keys: f"{key}_cm" (the chart) and f"{key}_cell" (the selectbox)."""
    labels = [str(c) for c in labels] or [str(i) for i in range(cm.shape[0])]
    cells = mistake_cells(cm)
    total = int(cm.sum())
    wrong = int(sum(cells.values()))
    if not cells:
        st.success(f"This {model_name} classifies all {total:,} test {noun} correctly: there are no mistakes to "
                   "look at.")
        return None
    if st.session_state.get(f"{key}_cell") not in cells:  # first visit, or a cell of another model
        st.session_state[f"{key}_cell"] = next(iter(cells))
    left, right = st.columns([3, 2])
    left.plotly_chart(confusion(cm, title, clickable=True, labels=labels), key=f"{key}_cm",
                      on_select=partial(_clicked, key, cm), selection_mode="points")
    with right:
        st.markdown(f"**{wrong:,}** of {total:,} test {noun} are misclassified ({100 * wrong / max(total, 1):.1f}%). "
                    f"Rows: the true class; columns: what the {model_name} said. **Click a cell**, or pick a "
                    "mistake here:")

        def option(c: Cell) -> str:
            n = cells[c]
            return f"true {labels[c[0]]} → predicted {labels[c[1]]} ({n} {noun if n != 1 else noun[:-1]})"

        t, p = st.selectbox("Mistake (true → predicted)", list(cells), key=f"{key}_cell", format_func=option,
                            on_change=lambda: st.session_state.pop(f"{key}_cell_note", None))
        note = st.session_state.get(f"{key}_cell_note")
        if note is not None and tuple(note) not in cells and max(note) < len(labels):
            st.info(cell_note(cm, tuple(note), labels, noun), icon=":material/info:")
    return int(t), int(p)
