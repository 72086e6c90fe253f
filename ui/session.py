"""Session-state keys that more than one page reads (each defined once, here)."""
from __future__ import annotations

import numpy as np
import streamlit as st

DRAWN_DIGIT = "drawn_digit"  # the Draw page's preprocessed, centred 28×28 ink (nested lists); Convolutions reads it


def drawn_digit() -> np.ndarray | None:
    """The last digit drawn on the Draw page in this session, as (28, 28) ink, or None."""
    raw = st.session_state.get(DRAWN_DIGIT)
    return None if raw is None else np.asarray(raw, dtype=np.float32)


def set_drawn_digit(centred: np.ndarray | None) -> None:
    if centred is None:
        st.session_state.pop(DRAWN_DIGIT, None)
    else:
        st.session_state[DRAWN_DIGIT] = centred.round(3).tolist()
