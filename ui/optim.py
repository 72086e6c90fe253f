"""The Optimizers page's cached 2-D computations (paths, surface grids, diagnoses): small specs in,
small arrays out, so st.cache_data keys them by value."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.lessons import optim2d
from core.lessons.optim2d import Diagnosis, OptimSpec, Surface, Trajectory


@st.cache_data(show_spinner=False, max_entries=512)
def optim_trajectory(surface: Surface, spec: OptimSpec, start: tuple[float, float], steps: int) -> Trajectory:
    return optim2d.trajectory(surface, spec, start, steps)


@st.cache_data(show_spinner=False, max_entries=32)
def surface_grid(surface: Surface) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return optim2d.grid(surface)


@st.cache_data(show_spinner=False, max_entries=512)
def optim_diagnosis(surface: Surface, traj: Trajectory, start: tuple[float, float]) -> Diagnosis:
    return optim2d.diagnose(surface, traj, start)
