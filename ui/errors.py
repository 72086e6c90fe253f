"""How every page answers a learner's unusable input: core raises InputError, the page shows its words."""
from __future__ import annotations

import streamlit as st

from core.errors import InputError
from ui.text import md

LONGEST = 600  # an error's words (core quotes outside text in short excerpts: 60 characters, 20 for a token)


def show_input_error(e: InputError, context: str = "") -> None:
    """One error box in plain words (no traceback), e.g. "Can't build `a`: the shape … must be whole numbers.".
    The words are shown as text: they may quote what the learner typed or a page address held."""
    msg = str(e).strip()
    if msg and msg[-1] not in ".!?":
        msg += "."
    words = md(msg if context else msg[:1].upper() + msg[1:], LONGEST)
    st.error(f"{context}: {words}" if context else words, icon=":material/back_hand:")
