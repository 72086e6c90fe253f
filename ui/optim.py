"""The Optimizers page's cached 2-D computations (paths, surface grids, diagnoses): small specs in,
small arrays out, so st.cache_data keys them by value; its controls' page address; and the default races of
every surface, computed once per server in the background so that switching surface finds them ready."""
from __future__ import annotations

import atexit
import threading

import numpy as np
import streamlit as st

from core.lessons import optim2d
from core.lessons.optim2d import LEARNING_RATES, SURFACE_LABELS, Diagnosis, OptimSpec, Surface, Trajectory, default_spec
from core.optimizers import SURFACE_OPTIMIZER_LABELS as OPT_LABELS
from ui import address

K = "opt"  # widget-key prefix of the 2-D race
MAX_STEPS = 2000


@st.cache_data(show_spinner=False, max_entries=512)
def optim_trajectory(surface: Surface, spec: OptimSpec, start: tuple[float, float], steps: int) -> Trajectory:
    return optim2d.trajectory(surface, spec, start, steps)


@st.cache_data(show_spinner=False, max_entries=32)
def surface_grid(surface: Surface) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return optim2d.grid(surface)


@st.cache_data(show_spinner=False, max_entries=512)
def optim_diagnosis(surface: Surface, traj: Trajectory, start: tuple[float, float]) -> Diagnosis:
    return optim2d.diagnose(surface, traj, start)


def _default_races(stop: threading.Event) -> None:
    for name in SURFACE_LABELS:
        surface = Surface(name)  # type: ignore[arg-type]
        surface_grid(surface)
        for o in OPT_LABELS:
            if stop.is_set():
                return
            optim_trajectory(surface, default_spec(name, o), surface.default_start, surface.default_steps)  # type: ignore[arg-type]


@st.cache_resource(show_spinner=False)
def warm_default_races() -> threading.Thread:
    """Start, once per server, a background thread that fills the caches above with every surface's default race
    (Rosenbrock's four 2,000-step paths take seconds of real optimizer steps: profiled in bench/NOTES.md). A page
    that asks for one while it is being computed waits for it (the cache's per-value lock), never recomputes."""
    stop = threading.Event()
    thread = threading.Thread(target=_default_races, args=(stop,), name="optimizer-races", daemon=True)
    thread.start()

    def finish() -> None:  # at exit: let the current path end (torch aborts if its thread is killed mid-op)
        stop.set()
        thread.join(30)

    atexit.register(finish)
    return thread


def race_address(surface: Surface, steps: int = MAX_STEPS) -> address.Address:
    """The 2-D race's controls in the page address; the start's range is the surface's, the shown step's the
    race's length."""
    return address.Address(K, {
        "surface": address.choice("surface", "surface", list(SURFACE_LABELS)),
        "cond": address.slider("cond", "cond", 1.0, 50.0),
        "momentum": address.slider("mom", "momentum", 0.0, 0.99),
        "chosen": address.several("opts", "chosen", list(OPT_LABELS)),
        "steps": address.slider("steps", "steps", 1, MAX_STEPS, whole=True),
        **{f"lr_{o}": address.choice(f"lr_{o}", f"lr_{o}", LEARNING_RATES, float, address.number) for o in OPT_LABELS},
        "sx": address.slider("sx", "sx", *surface.xrange),
        "sy": address.slider("sy", "sy", *surface.yrange),
        "at": address.slider("at", "at", 0, steps, whole=True),
        "code_for": address.choice("code", "code_for", list(OPT_LABELS)),
    })


def race_keys(name: str, steps: int | None = None) -> dict[str, str]:
    """Widget keys of the controls that belong to one surface (and the shown step to one race length)."""
    keys = {"steps": f"{K}_steps_{name}", "sx": f"{K}_sx_{name}", "sy": f"{K}_sy_{name}",
            **{f"lr_{o}": f"{K}_lr_{name}_{o}" for o in OPT_LABELS}}
    return keys | ({"at": f"{K}_at_{name}_{steps}"} if steps is not None else {})
