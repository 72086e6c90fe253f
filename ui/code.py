"""The one "PyTorch code" panel: the program behind what a page shows, in plain PyTorch, ready to run."""
from __future__ import annotations

import streamlit as st

TRAINING_CAPTION = ("Run as is, it downloads MNIST and trains this network with these settings, printing the test "
                    "accuracy after each epoch.")


def code_panel(code: str, title: str = "PyTorch code for these settings",
               caption: str = "Run as is, it prints the numbers shown on this page.") -> None:
    """An expander with `code` and a caption saying what running it prints."""
    with st.expander(title):
        st.code(code, language="python")
        st.caption(caption)
