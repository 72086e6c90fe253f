"""The one number format of the app, for figures and pages alike."""
from __future__ import annotations

import numpy as np


def num(value: float, decimals: int | None = None) -> str:
    """The one number format: thousands separators (100,480), `decimals` places for non-integers (3 significant
    digits when None), and never "-0.00": a value that rounds to zero is written without its sign."""
    v = float(value)
    if not np.isfinite(v):
        return str(v)
    if decimals is None and v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    if decimals is None:
        decimals = 0 if abs(v) >= 1000 else None
    text = f"{v:,.{decimals}f}" if decimals is not None else f"{v:.3g}"
    if text.startswith("-") and float(text[1:].replace(",", "")) == 0:
        text = text[1:]
    return text
