"""The one number format of the app, for figures, tables and pages alike, and the one date format of a stored run."""
from __future__ import annotations

from datetime import datetime

import numpy as np

MAX_WIDTH = 16  # characters: a longer number is written in scientific notation ("1.0e+308", not 309 digits)


def num(value: float, decimals: int | None = None, width: int = MAX_WIDTH) -> str:
    """The one number format: thousands separators (100,480), `decimals` places for non-integers (3 significant
    digits when None), and never "-0.00": a value that rounds to zero is written without its sign. A number
    whose text would be wider than `width` characters is written in scientific notation (3 significant digits)."""
    v = float(value)
    if not np.isfinite(v):
        return str(v)
    if decimals is None and v == int(v) and abs(v) < 1e15:
        text = f"{int(v):,}"
    else:
        if decimals is None:
            decimals = 0 if abs(v) >= 1000 else None
        text = f"{v:,.{decimals}f}" if decimals is not None else f"{v:.3g}"
        if text.startswith("-") and float(text[1:].replace(",", "")) == 0:
            text = text[1:]
    return text if len(text) <= width else f"{v:.2e}"


def when(timestamp: float, pattern: str = "%m-%d %H:%M") -> str:
    """A stored run's date in local time, or "unknown" for a time the calendar cannot write (the schema bounds
    dates, so this is the last guard: one odd record never fails a page)."""
    try:
        return datetime.fromtimestamp(float(timestamp)).strftime(pattern)
    except (OverflowError, OSError, ValueError):
        return "unknown"
