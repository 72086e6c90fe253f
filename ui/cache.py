"""The only module that calls st.cache_resource / st.cache_data.

Cached objects are shared by every session of the server: models come back in
eval mode with requires_grad off, and callers treat them as read-only.
Cache keys are frozen config dataclasses, never tensors or modules.
"""
from __future__ import annotations

import atexit
import os
import threading
from dataclasses import replace

import numpy as np
import streamlit as st
import torch

from core import optim2d
from core.config import ModelConfig, Paths, TrainConfig, default_device
from core.conv import Stage, initial_model as _initial_model, shape_stages as _shape_stages
from core.data import OFFLINE_ENV, DownloadLimits, MNISTData, download_mnist, full_available, load_mnist, to_input
from core.inspection import LayerRow, layer_table as _layer_table
from core.jobs import Jobs
from core.models import build_model
from core.optim2d import OptimSpec, Surface, Trajectory
from core.store import RunStore
from core.record import Run
from core.train import load_model


@st.cache_resource
def configure_threads() -> int:
    """Once per server process: one intra-op thread pool sized to the machine (sessions share it)."""
    threads = int(os.environ.get("PTCE_THREADS", 0)) or max(1, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    return threads


@st.cache_resource
def paths() -> Paths:
    return Paths.from_env()


@st.cache_resource
def device() -> torch.device:
    return default_device()


@st.cache_resource
def store() -> RunStore:
    return RunStore(paths().runs)


@st.cache_resource
def jobs() -> Jobs:
    """The server's pool of training worker processes: started once, kept warm, shared by every session
    (two sessions asking for one config share its job); shut down (running jobs killed) at exit."""
    pool = Jobs(paths())
    atexit.register(pool.shutdown)
    return pool


class _DownloadAttempt:
    """Process-wide record that the MNIST download was tried once (so it is not retried per rerun)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tried = False
        self.error = ""


@st.cache_resource
def _download_attempt() -> _DownloadAttempt:
    return _DownloadAttempt()


def ensure_mnist_download() -> None:
    """First use, when online: download full MNIST with a visible progress bar (once per process)."""
    attempt = _download_attempt()
    if not attempt.lock.acquire(blocking=False):  # another session is downloading: say so while waiting
        limit = DownloadLimits()
        with st.spinner(f"Another session is downloading full MNIST (at most {limit.total_s + limit.read_s:.0f} s)…"):
            attempt.lock.acquire()
    try:
        if attempt.tried or full_available(paths().data) or os.environ.get(OFFLINE_ENV) == "1":
            return
        attempt.tried = True
        bar = st.progress(0.0, text="Downloading full MNIST (first start only)…")
        try:
            download_mnist(paths().data, lambda f, m: bar.progress(min(f, 1.0), text=m))
        except Exception as e:  # noqa: BLE001 - the sidebar explains the fallback
            attempt.error = str(e)
        finally:
            bar.empty()
    finally:
        attempt.lock.release()


@st.cache_resource(show_spinner="Loading MNIST…")
def _mnist() -> MNISTData:
    data = load_mnist(paths(), allow_download=False)  # the download itself ran, with progress, above
    error = _download_attempt().error
    if data.source == "mnist-sample" and error:
        data = replace(data, note=f"Full MNIST could not be downloaded: {error}. Run "
                                  "`python -m core.data --download` when online.")
    return data


def mnist() -> MNISTData:
    ensure_mnist_download()
    return _mnist()


@st.cache_resource(show_spinner=False, max_entries=4)
def test_inputs(source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The active test split as model inputs on the device: (N, 1, 28, 28) float, (N,) labels."""
    data = mnist()
    assert data.source == source
    return to_input(data.test.images, device()), data.test.labels


@st.cache_resource(show_spinner="Loading stored run…", max_entries=16)
def _stored(cfg: TrainConfig) -> tuple[Run, torch.nn.Module]:
    run = store().load(cfg)
    if run is None:
        raise LookupError(cfg.key())  # raising keeps "missing" out of the cache
    return run, load_model(run, device())


def stored_run(cfg: TrainConfig) -> tuple[Run, torch.nn.Module] | None:
    """(run, read-only model) for a config in the store, or None if it has not been trained."""
    try:
        return _stored(cfg)
    except LookupError:
        return None


@st.cache_data(show_spinner=False, max_entries=64)
def step_seconds(model: ModelConfig, optimizer: str, batch_size: int, device_name: str) -> float:
    """Measured seconds per optimizer step for this model and batch (a few real steps on random data)."""
    from core.estimate import time_steps

    return time_steps(model, optimizer, batch_size, torch.device(device_name))


@st.cache_data(show_spinner=False, max_entries=16)
def test_probabilities(cfg: TrainConfig) -> np.ndarray:
    """(N_test, 10) softmax probabilities of the stored run for `cfg` on the active test split."""
    from core.inspection import predict_proba

    stored = stored_run(cfg)
    if stored is None:
        raise LookupError(cfg.key())
    x, _ = test_inputs(cfg.data_source)
    return predict_proba(stored[1], x).numpy()


# ---------------------------------------------------------------- optimizers page (2-D surfaces)
@st.cache_data(show_spinner=False, max_entries=512)
def optim_trajectory(surface: Surface, spec: OptimSpec, start: tuple[float, float], steps: int) -> Trajectory:
    return optim2d.trajectory(surface, spec, start, steps)


@st.cache_data(show_spinner=False, max_entries=32)
def surface_grid(surface: Surface) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return optim2d.grid(surface)


@st.cache_data(show_spinner=False, max_entries=512)
def optim_explanation(surface: Surface, traj: Trajectory, start: tuple[float, float]) -> str:
    return optim2d.explain(surface, traj, start)


# ---------------------------------------------------------------- convolutions page
@st.cache_resource(show_spinner=False, max_entries=8)
def initial_model(model: ModelConfig, seed: int) -> torch.nn.Sequential:
    """The weights a run with this seed starts from: build_model(cfg, Generator().manual_seed(seed))."""
    return _initial_model(model, seed).to(device())


@st.cache_data(show_spinner=False, max_entries=16)
def shape_stages(model: ModelConfig) -> list[Stage]:
    return _shape_stages(_initial_model(model, 0))


@st.cache_data(show_spinner=False, max_entries=32)
def layer_table(model: ModelConfig, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """The layer table of a freshly built model (built on the meta device: shapes and counts, no weights)."""
    with torch.device("meta"):
        fresh = build_model(model)
    return _layer_table(fresh, input_shape)
