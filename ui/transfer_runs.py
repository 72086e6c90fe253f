"""Training on the Transfer page: the time a run will take, said before Train; the run and the pretraining it
needs, queued for worker processes and watched until they land in the store; and the stored runs and features.
The model timed for the estimate is private to its cache and never trained in place.
"""
from __future__ import annotations

import statistics
import time

import streamlit as st
import torch

from core.runs.jobs import STOPPED
from core.runs.store import RunSummary
from core.training.record import Run
from core.transfer.config import TransferConfig
from core.transfer.estimate import estimate_seconds, time_per_image
from core.transfer.features import feature_config, feature_pass, head_predictions
from core.transfer.model import build_resnet18
from core.transfer.tasks import ImageTask, pretraining_config
from ui import resources
from ui.text import md
from ui.training import ESTIMATES_STATE, expect, overheads, pool, wait_s
from ui.training import estimate_vs_actual as estimate_vs_actual_caption
from ui.transfer import K
from ui.transfer_data import imagenet, source_task, task_of


# ---------------------------------------------------------------- the estimate, said before Train
@st.cache_resource(max_entries=2, show_spinner=False)
def _fresh_resnet(num_classes: int) -> torch.nn.Module:
    """A randomly initialized ResNet-18 (eval, frozen) that timing copies; never trained in place."""
    return build_resnet18(num_classes, torch.Generator().manual_seed(0)).requires_grad_(False).eval()


@st.cache_data(max_entries=32, show_spinner="Timing a training step…")
def _per_image(strategy: str, k: int, resolution: int, num_classes: int, batch: int = 32) -> tuple[float, float]:
    """Seconds per image (training, inference) timed on batches of the run's size (fewer at high resolutions:
    about the pixels of `batch` 32 px images), which is what a step costs per image in its loop."""
    cfg = TransferConfig(strategy=strategy, k_stages=k, resolution=resolution,
                         weights="random" if strategy == "scratch" else "digits-pretrained")
    if strategy == "feature":  # timed in the batches the one backbone pass runs (8 images at 224 px on a CPU)
        timed_batch = feature_pass(resolution, resources.device())[1]
    else:
        timed_batch = max(1, batch * 32 * 32 // resolution ** 2)  # about the same work at every resolution
    return time_per_image(_fresh_resnet(num_classes), cfg, resources.device(), timed_batch)


def _features_stored(cfg: TransferConfig, data: ImageTask) -> bool:
    """Feature extraction whose backbone pass is already in the store (later runs only train the head)."""
    if cfg.strategy != "feature":
        return False
    pre = trained(pretraining_config())
    if cfg.weights == "digits-pretrained" and pre is None:
        return False
    return resources.store().has(feature_config(cfg, data, pretraining_config().key() if pre is not None else ""))


def _loop_seconds(cfg: TransferConfig, data: ImageTask) -> tuple[float, str]:
    """The run's own loop: from stored runs of the same strategy, stages, task and resolution on this machine
    (per epoch, the backbone pass apart), else from steps timed now."""
    same = ("strategy", "k_stages", "source", "labels_per_class", "subset", "resolution", "batch_size", "task")
    dev = str(resources.device())
    past = [s for s in resources.store().summaries("transfer") if all(getattr(s.config, f) == getattr(cfg, f)
                                                                     for f in same) and s.metrics["device"] == dev]
    pass_s = 0.0 if _features_stored(cfg, data) else None
    if past:
        per_epoch = statistics.median((s.metrics["wall_s"] - s.metrics.get("features_s", 0.0)) / s.config.epochs
                                      for s in past)
        if pass_s is None:
            pass_s = statistics.median(s.metrics.get("features_s", 0.0) for s in past)
        return per_epoch * cfg.epochs + pass_s, f"{len(past)} stored run{'s' if len(past) > 1 else ''} like it here"
    per = _per_image(cfg.strategy, cfg.k_stages, cfg.resolution, len(data.classes), cfg.batch_size)
    if pass_s == 0.0:  # the head alone, on stored features: milliseconds
        return 0.0, "the stored backbone pass (only the head trains)"
    return estimate_seconds(cfg, len(data.train), len(data.test), per), "steps timed just now"


def estimate(cfg: TransferConfig, data: ImageTask) -> tuple[float, str]:
    """(seconds from pressing Train to the result, what the parts are): the worker's start when the pool is new,
    the pretraining once when it is needed, the loop, and the set-up the server has seen runs take."""
    loop_s, basis = _loop_seconds(cfg, data)
    clock, wait = overheads(), wait_s()
    parts = [(loop_s, f"training ({basis})"), (clock.setup_s(), "set-up and storing")]
    if needs_pretraining(cfg):
        pre, pre_data = pretraining_config(), source_task()
        pre_s = estimate_seconds(pre, len(pre_data.train), len(pre_data.test),
                                 _per_image("scratch", 1, pre.resolution, len(pre_data.classes), pre.batch_size))
        parts.append((pre_s + clock.setup_s(), "the pretraining on digits 0-4, once"))
    if wait >= 0.05:
        parts.append((wait, "for a training worker to start"))
    return sum(s for s, _ in parts), " + ".join(f"{s:.1f} s {what}" for s, what in parts)


def duration(seconds: float) -> str:
    """'40 s', '1 min 35 s', '32 min', '1.5 h': a time a learner can plan around."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 10:
        return f"{minutes} min {rest} s"
    return f"{seconds / 60:.0f} min" if seconds < 90 * 60 else f"{seconds / 3600:.1f} h"


def estimate_text(cfg: TransferConfig, data: ImageTask, estimated: tuple[float, str]) -> str:
    """The time from pressing Train to the result, said before Train is pressed, with what it is made of."""
    seconds, parts = estimated
    images = f"{len(data.train):,} training and {len(data.test):,} test images at {cfg.resolution} px"
    text = (f"Not trained yet. Estimated time from pressing Train to the result: **~{duration(seconds)}** on "
            f"{resources.device().type.upper()} ({images}: {parts}).")
    if cfg.strategy == "feature" and _features_stored(cfg, data):
        text += f" The backbone's features of these {images} are stored already, so only the head trains."
    elif cfg.strategy == "feature":
        text += (f" With feature extraction the frozen backbone runs once over {images}, then the head trains on "
                 "the stored features in seconds; the features are stored, so every later head on this data skips "
                 "that pass.")
    return text


# ---------------------------------------------------------------- training: worker processes, runs in the store
def trained(cfg: TransferConfig) -> Run | None:
    """The stored run of `cfg` (trained once, in a worker, by any session), or None."""
    return resources.stored(cfg)


def backbone(cfg: TransferConfig) -> dict[str, torch.Tensor] | None:
    """The weights `cfg` starts from: ImageNet's, the stored digits pretraining's, or none."""
    if cfg.weights == "random":
        return None
    if cfg.weights == "imagenet":
        return imagenet().state
    run = trained(pretraining_config())
    return None if run is None else run.state


def task_runs(like: TransferConfig) -> list[RunSummary]:
    """Stored target runs on the same task (route, labels or subset) at every resolution, oldest first (no
    weights read)."""
    same = ("source", "labels_per_class", "subset")
    return [s for s in reversed(resources.store().summaries("transfer")) if s.config.task == "target"
            and all(getattr(s.config, f) == getattr(like, f) for f in same)]


def trained_runs(like: TransferConfig) -> list[RunSummary]:
    """Stored target runs on the same task at the same resolution, oldest first (no weights read)."""
    return [s for s in task_runs(like) if s.config.resolution == like.resolution]


def stored_features(cfg: TransferConfig) -> Run | None:
    """The frozen backbone's stored features a feature-extraction run of `cfg` trains (or trained) its head on."""
    if cfg.strategy != "feature" or cfg.weights == "random":
        return None
    pre = pretraining_config().key() if cfg.weights == "digits-pretrained" else ""
    fcfg = feature_config(cfg, task_of(cfg), pre)
    return resources.store().load(fcfg) if resources.store().has(fcfg) else None


def test_predictions_from_features(cfg: TransferConfig) -> torch.Tensor | None:
    """(N_test,) classes a stored feature-extraction run predicts, from its stored test features (its head alone:
    the backbone over 10,000 CIFAR-10 images at 224 px would take minutes on a CPU); None for other runs."""
    run, feats = trained(cfg), stored_features(cfg)
    if run is None or feats is None:
        return None
    return head_predictions(run.state, feats.state["test"])


def needs_pretraining(cfg: TransferConfig) -> bool:
    return cfg.weights == "digits-pretrained" and trained(pretraining_config()) is None


def submit(cfg: TransferConfig, estimated_s: float | None = None) -> None:
    """Queue the pretraining (when this route needs it and it is not stored) and the run: worker processes
    train them in order; the pretraining lands in the store once and every later run reuses it."""
    if estimated_s is not None:
        expect(cfg, estimated_s, teaches=not needs_pretraining(cfg))
    if needs_pretraining(cfg):
        pool().submit(pretraining_config())
    pool().submit(cfg)


def estimate_vs_actual(cfg: TransferConfig) -> None:
    """After this learner's run landed: the estimate beside the time from the click to the result."""
    run = trained(cfg)
    if run is not None:
        estimate_vs_actual_caption(cfg, run)


def running(cfg: TransferConfig) -> bool:
    jobs = [resources.jobs().get(c) for c in (pretraining_config(), cfg)]
    return any(j is not None and not j.done.is_set() for j in jobs) and not resources.store().has(cfg)


def job_error(cfg: TransferConfig) -> str:
    job = resources.jobs().get(cfg)
    return job.error if job is not None and job.done.is_set() and not resources.store().has(cfg) else ""


def job_notice(cfg: TransferConfig) -> None:
    """Why the last job of `cfg` ended without a run: stopped by the learner (neutral), or failed (an error)."""
    error = job_error(cfg)
    if error == STOPPED:
        st.info(error, icon=":material/stop_circle:")
    elif error:
        st.error(md(error, 600), icon=":material/error:")


@st.fragment(run_every=0.5)
def progress_view(cfg: TransferConfig) -> None:
    """The pretraining's, then the run's progress, until the run lands in the store (then the page reruns)."""
    if not running(cfg):
        st.rerun()
        return
    watched = st.session_state.get(ESTIMATES_STATE, {}).get(cfg.key())
    if watched is not None:
        watched["seen_running"] = time.time()  # the landing this page sees next is timely (it was watching)
    pool = resources.jobs()
    for c, what in ((pretraining_config(), "Pretraining on digits 0-4 (once, stored)"), (cfg, "Training")):
        job = pool.get(c)
        if job is None or job.done.is_set():
            continue
        ahead = pool.position(job)
        if ahead is not None:
            st.caption(f"{what}: waiting for a free training worker ({ahead} ahead).")
        elif job.stage == "features":
            st.progress(job.stage_done / max(1, job.stage_total),
                        text=f"The frozen backbone's one pass: {job.stage_done:,} of {job.stage_total:,} images at "
                             f"{c.resolution} px ({duration(job.elapsed_s)} so far; stored once, then every head "
                             f"trained on these features skips it)")
        elif not job.total_steps:
            st.progress(0.0, text=f"{what}: the worker is getting the model, data and starting weights ready…")
        else:
            acc = f" · accuracy {100 * job.val_acc[-1]:.1f}%" if job.val_acc else ""
            st.progress(job.fraction, text=f"{what}: epoch {job.epoch}/{c.epochs}{acc}")
            if len(job.val_acc) > 1:
                st.line_chart({"test accuracy %": [100 * a for a in job.val_acc]}, height=160)
    if st.button("Stop training", key=f"{K}_stop", icon=":material/stop_circle:"):
        for c in (pretraining_config(), cfg):
            job = pool.get(c)
            if job is not None and not job.done.is_set():
                pool.stop(job)  # kills its worker at once; nothing is stored
        st.rerun()
