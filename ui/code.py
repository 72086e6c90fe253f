"""The one "PyTorch code" panel: the program behind what a page shows, in plain PyTorch, ready to run."""
from __future__ import annotations

import streamlit as st

from core.training.code import training_caption, training_code
from core.training.config import TrainConfig


def code_panel(code: str, title: str = "PyTorch code for these settings",
               caption: str = "Run as is, it prints the numbers shown on this page.") -> None:
    """An expander with `code` and a caption saying what running it prints."""
    with st.expander(title):
        st.code(code, language="python")
        st.caption(caption)


def training_code_panel(cfg: TrainConfig) -> None:
    """The training program for `cfg`, with a caption true for the data it uses (sample or full MNIST)."""
    code_panel(training_program(cfg), caption=training_caption(cfg))


@st.cache_data(show_spinner=False, max_entries=64)
def training_program(cfg: TrainConfig) -> str:
    """The training panel's program for `cfg`. Writing it builds the model and measures its layers' shapes for
    the comments (15-30 ms), so it is written once per config, not on every rerun of every session."""
    return training_code(cfg)
