"""Process-wide resources every page shares: thread count, paths, device, run store, training jobs,
MNIST (downloaded once, with progress) and stored runs.

Topic caches live beside their topic's widgets (ui/optim.py, ui/conv.py, ui/predictions.py, ...).
Cached objects are shared by every session of the server: models come back in eval mode with
requires_grad off, and callers treat them as read-only. Cache keys are frozen config dataclasses,
never tensors or modules.
"""
from __future__ import annotations

import atexit
import os
import threading
from dataclasses import replace

import numpy as np
import streamlit as st
import torch

from core.config import FlatConfig, Paths, default_device
from core.data.download import OFFLINE_ENV, DownloadLimits
from core.data.mnist import MNISTData, download_mnist, full_available, load_mnist, to_input
from core.models.inspection import predict_proba
from core.runs.jobs import Jobs
from core.runs.store import RunStore, RunSummary
from core.training.config import TrainConfig
from core.training.loop import load_model
from core.training.record import Run
from ui.text import md


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
    """Process-wide record of the MNIST download: `settled` once full MNIST is on disk, the app is offline, or
    one download was tried (so it is not retried per rerun); `lock` is held by the session deciding or downloading."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settled = False
        self.error = ""


@st.cache_resource
def _download_attempt() -> _DownloadAttempt:
    return _DownloadAttempt()


def ensure_mnist_download() -> None:
    """First use, when online: download full MNIST with a visible progress bar (once per process).

    The bar is drawn in the sidebar, never in the page: an element only the first run draws would shift every
    element after it (a canvas would lose its strokes). Any `st` call can raise Streamlit's stop or rerun, so the
    lock is released by the `finally` of whoever holds it, also when the spinner's exit raises (bench/NOTES.md)."""
    attempt = _download_attempt()
    if attempt.settled:  # every run after the first: no lock
        return
    held = attempt.lock.acquire(blocking=False)
    try:
        if not held:  # another session is deciding or downloading: say so while waiting
            limits = DownloadLimits()
            wait_s = limits.total_s + limits.read_s
            with st.spinner(f"Another session is downloading full MNIST (at most {wait_s:.0f} s)…"):
                held = attempt.lock.acquire()
        if attempt.settled:
            return
        if full_available(paths().data) or os.environ.get(OFFLINE_ENV) == "1":
            attempt.settled = True
            return
        bar = st.sidebar.progress(0.0, text="Downloading full MNIST (first start only)…")
        try:
            download_mnist(paths().data, lambda f, m: bar.progress(min(f, 1.0), text=m))
        except Exception as e:  # noqa: BLE001 - the sidebar explains the fallback
            attempt.error = str(e)
        attempt.settled = True  # tried once; a session stopped mid-download leaves the download to the next one
        bar.empty()
    finally:
        if held:
            attempt.lock.release()


@st.cache_resource(show_spinner="Loading MNIST…")
def _mnist() -> MNISTData:
    data = load_mnist(paths(), allow_download=False)  # the download itself ran, with progress, above
    error = _download_attempt().error
    if data.source == "mnist-sample" and error:
        data = replace(data, note=f"Full MNIST could not be downloaded: {md(error, 300)}. Run "
                                  "`python -m core.data.mnist --download` when online.")
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


def stored_runs(arch: str | None = None, source: str | None = None) -> list[RunSummary]:
    """The stored MNIST runs of `arch` (every architecture when None) on `source` (default: the data in use),
    newest first, runs that did not learn included (each caller decides whether to offer them)."""
    source = source or mnist().source
    return [s for s in store().summaries()
            if s.config.data_source == source and (arch is None or s.config.model.arch == arch)]


def stored_run(cfg: TrainConfig) -> tuple[Run, torch.nn.Module] | None:
    """(run, read-only model) for a config in the store, or None if it has not been trained."""
    if not store().has(cfg):  # one stat; a cache miss would show a spinner and search the store on every rerun
        return None
    try:
        return _stored(cfg)
    except LookupError:
        return None


@st.cache_data(show_spinner="Scoring the test digits with this run…", max_entries=16)
def test_probabilities(cfg: TrainConfig) -> np.ndarray:
    """(N_test, 10) softmax probabilities of the stored run for `cfg` on the active test split."""
    stored = stored_run(cfg)
    if stored is None:
        raise LookupError(cfg.key())
    x, _ = test_inputs(cfg.data_source)
    return predict_proba(stored[1], x).numpy()


@st.cache_resource(show_spinner="Loading the stored run…", max_entries=32)
def _loaded(cfg: FlatConfig) -> Run:
    run = store().load(cfg)
    if run is None:
        raise LookupError(cfg.key())  # raising keeps "missing" out of the cache
    return run


def stored(cfg: FlatConfig) -> Run | None:
    """The stored run of any kind's `cfg` (trained once, by any session; shared, read-only), or None."""
    if not store().has(cfg):
        return None
    try:
        return _loaded(cfg)
    except LookupError:
        return None


def forget_stored_runs() -> None:
    """After a run is deleted from the store: drop loaded runs and their predictions (next use reads the store)."""
    _stored.clear()
    _loaded.clear()
    test_probabilities.clear()
