"""How every page answers a learner's unusable input: core raises InputError, the page shows its words."""
from __future__ import annotations

import streamlit as st

from core.errors import InputError


def show_input_error(e: InputError, context: str = "") -> None:
    """One error box in plain words (no traceback), e.g. "Can't build `a`: the shape … must be whole numbers."."""
    msg = str(e).strip()
    if msg and msg[-1] not in ".!?":
        msg += "."
    st.error(f"{context}: {msg}" if context else msg[:1].upper() + msg[1:], icon=":material/back_hand:")
