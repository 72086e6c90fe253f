"""The one error a learner's input can raise: anything typed or chosen that can't be used.

Core modules raise `InputError("plain words saying what is wrong")`; every page catches it the
same way (`ui.errors.show_input_error`) and shows the message instead of a traceback. Anything
else that escapes is a bug, not a teaching moment. No Streamlit here.
"""
from __future__ import annotations


class InputError(ValueError):
    """Something the learner typed or chose can't be used; `str(e)` says why, in plain words."""
