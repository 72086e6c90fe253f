"""Caches for the concept pages (the optimizer paths are the only slow part: ~0.5 ms per real
torch.optim step on a small CPU). Keys are frozen specs from core, values plain arrays."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import optim2d
from core.optim2d import OptimSpec, Surface, Trajectory


@st.cache_data(show_spinner=False, max_entries=512)
def trajectory(surface: Surface, spec: OptimSpec, start: tuple[float, float], steps: int) -> Trajectory:
    return optim2d.trajectory(surface, spec, start, steps)


@st.cache_data(show_spinner=False, max_entries=32)
def grid(surface: Surface) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return optim2d.grid(surface)


@st.cache_data(show_spinner=False, max_entries=512)
def explain(surface: Surface, traj: Trajectory, start: tuple[float, float]) -> str:
    return optim2d.explain(surface, traj, start)
