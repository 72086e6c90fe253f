"""Widgets and cached calls of the Transfer learning page. Keys are frozen configs and small values, never tensors.

The frozen/trainable map, totals and parameter groups are read from ResNet-18s built on the meta device
(shapes and requires_grad, no weights), so a strategy change redraws them at once.
Data and weights: ui/transfer_data.py; evaluation and run tables: ui/transfer_results.py.
"""
from __future__ import annotations

import statistics
import time

import streamlit as st
import torch

from core.models.inspection import LayerRow, count_params, layer_table
from core.models.zoo import resnet18
from core.runs.jobs import STOPPED
from core.runs.store import RunSummary
from core.training.record import Run
from core.transfer.config import ADDRESS as TRANSFER_ADDRESS
from core.transfer.config import TRANSFER_RESOLUTIONS, TRANSFER_STRATEGY_LABELS, TransferConfig
from core.transfer.estimate import estimate_seconds, time_per_image
from core.transfer.features import feature_config, feature_pass, head_predictions, normalization
from core.transfer.model import build_resnet18
from core.transfer.report import Anatomy
from core.transfer.strategies import STRATEGIES, ParamGroup, apply_strategy, param_groups
from core.transfer.tasks import ImageTask, pretraining_config
from ui import address, resources
from ui.text import md
from ui.training import ESTIMATES_STATE, expect, overheads, pool, wait_s
from ui.training import estimate_vs_actual as estimate_vs_actual_caption
from ui.transfer_data import _source_task, imagenet, missing, route_offer, task_of

K = "tl"  # widget-key prefix

COUNTS = {c: st.column_config.NumberColumn(format="localized") for c in (  # 11,689,512, not 11689512
    "parameters", "trainable", "images/s")}


def totals_columns(strategy: str) -> dict:
    """The totals table's columns: counts with thousands separators, the trainable one named by the strategy."""
    return {**COUNTS, "trainable": st.column_config.NumberColumn(f"trainable ({TRANSFER_STRATEGY_LABELS[strategy]})",
                                                                 format="localized")}
ROUTES = {"digits": "Offline: digits 0-4 -> digits 5-9 (pretrained here)",
          "cifar10": "CIFAR-10 with ImageNet weights",
          "own": "Your own classes (your photos, ImageNet weights)"}  # "own": ui/own_classes.py


# ---------------------------------------------------------------- controls
LABEL_CHOICES = (8, 10, 20, 50)  # labelled images per class (digits route)
SUBSET_CHOICES = (200, 500, 1000, 2000, 5000, 50_000)  # training images (CIFAR-10 route)
HEAD_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
BACKBONE_LRS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)
EPOCHS = (1, 30)


def default_head_lr(strategy: str) -> float:
    """A linear head on frozen features takes a larger step than a head trained with its backbone."""
    return 1e-2 if strategy == "feature" else 1e-3


def _address(routes: list[str]) -> address.Address:
    """The page's controls in its address (parameter names from core.transfer.config.ADDRESS)."""
    a, n = TRANSFER_ADDRESS, address.number
    return address.Address(K, {
        "source": address.choice(a["source"], "route", routes),
        "strategy": address.choice(a["strategy"], "strategy", list(STRATEGIES)),
        "k_stages": address.slider(a["k_stages"], "k", 1, 4, whole=True),
        "labels_per_class": address.choice(a["labels_per_class"], "labels", LABEL_CHOICES, int),
        "subset": address.choice(a["subset"], "subset", SUBSET_CHOICES, int),
        "resolution": address.choice(a["resolution"], "res", TRANSFER_RESOLUTIONS, int),
        "epochs": address.slider(a["epochs"], "epochs", *EPOCHS, whole=True),
        "head_lr": address.choice(a["head_lr"], "head_lr", HEAD_LRS, float, n),
        "backbone_lr": address.choice(a["backbone_lr"], "bb_lr", BACKBONE_LRS, float, n),
        "seed": address.slider(a["seed"], "seed", 0, 9999, whole=True),
    })


def controls() -> TransferConfig | None:
    """Route, strategy and training settings -> the TransferConfig they describe; None for the route "Your own
    classes", which draws itself (ui/own_classes.py)."""
    gaps = missing()
    routes = (["digits"] if gaps else ["cifar10", "digits"]) + ["own"]
    here = _address(routes)
    w = here.controls({"source": routes[0], "strategy": "feature", "k_stages": 1, "resolution": 32, "epochs": 10,
                       "backbone_lr": 1e-4, "seed": 0})
    source = st.radio("Route", routes, format_func=ROUTES.get, horizontal=True, key=w["source"])
    if source == "own":  # its own controls, address parameters (own_*) and weights offer: ui/own_classes.py
        here.mirror({"source": source})
        return None
    if gaps:
        route_offer(gaps)
    if source == "digits":
        st.info("A ResNet-18 **pretrained here on digits 0-4** (the bundled MNIST sample, 2 epochs at 32 px) is "
                "transferred to digits 5-9 with only a few labelled images per class. No ImageNet weights are used.",
                icon=":material/info:")
    c1, c2, c3, c4 = st.columns(4)
    strategy = c1.selectbox("Strategy", list(STRATEGIES), format_func=TRANSFER_STRATEGY_LABELS.get, key=w["strategy"])
    # Controls keyed by what they depend on: the amount by route, the head's rate by strategy (feature or not).
    amount_name = "labels_per_class" if source == "digits" else "subset"
    keyed = {"head_lr": f"{K}_head_lr_{strategy == 'feature'}"}
    w |= here.controls({amount_name: 20 if source == "digits" else 1000, "head_lr": default_head_lr(strategy)},
                       keyed)
    k = c2.slider("Stages to fine-tune (k)", 1, 4, key=w["k_stages"], disabled=strategy != "finetune",
                  help="k = 1 unfreezes layer4, 2 adds layer3, then layer2, layer1")
    if source == "digits":
        amount = c3.select_slider("Labelled images per class", LABEL_CHOICES, key=w[amount_name])
    else:
        amount = c3.select_slider("Training images (subset)", SUBSET_CHOICES, key=w[amount_name],
                                  help="a CPU gets a result in under a minute up to ~1,000 at 32 px")
    resolution = c4.select_slider("Input resolution (px)", list(TRANSFER_RESOLUTIONS), key=w["resolution"],
                                  help="images are resized on the device; 224 is what ImageNet weights saw")
    c5, c6, c7, c8 = st.columns(4)
    epochs = c5.slider("Epochs", *EPOCHS, key=w["epochs"])
    head_lr = c6.select_slider("Head learning rate", HEAD_LRS, key=w["head_lr"], format_func=lambda v: f"{v:g}",
                               help="Default: 0.01 for a linear head on frozen features, 0.001 when the backbone "
                                    "trains too.")
    backbone_lr = c7.select_slider("Backbone learning rate", BACKBONE_LRS, key=w["backbone_lr"],
                                   format_func=lambda v: f"{v:g}", disabled=strategy in ("feature", "scratch"))
    seed = int(c8.number_input("Seed", 0, 9999, key=w["seed"], help="Initialization and shuffling: train the same "
                               "settings with other seeds to see how much the accuracy varies by chance."))
    weights = "random" if strategy == "scratch" else ("imagenet" if source == "cifar10" else "digits-pretrained")
    if strategy in ("feature", "scratch"):  # no backbone group of its own: one key whatever the unused slider says
        backbone_lr = TransferConfig.backbone_lr
    cfg = TransferConfig(strategy=strategy, k_stages=k if strategy == "finetune" else 1, head_lr=head_lr,
                         backbone_lr=backbone_lr, epochs=epochs, resolution=resolution, source=source,
                         labels_per_class=amount if source == "digits" else 20,
                         subset=amount if source == "cifar10" else 2000, weights=weights, seed=seed)
    shown = {"source": source, "strategy": strategy, "resolution": resolution, "epochs": epochs, "head_lr": head_lr,
             "seed": seed, amount_name: amount}
    if strategy == "finetune":
        shown["k_stages"] = k
    if strategy in ("finetune", "full"):
        shown["backbone_lr"] = backbone_lr
    here.mirror(shown, keyed)
    return cfg


def normalization_text(cfg: TransferConfig) -> str:
    mean, std = normalization(cfg)
    origin = {"imagenet": "the weights' own `ResNet18_Weights.IMAGENET1K_V1.transforms()`",
              "digits-pretrained": "the digits pretraining's own (MNIST's mean and std)",
              "random": "the target data's own"}[cfg.weights]
    return (f"Inputs: uint8 images resized to {cfg.resolution}×{cfg.resolution} on the device, normalized with "
            f"mean {tuple(round(m, 4) for m in mean)}, std {tuple(round(s, 4) for s in std)}: {origin}.")


# ---------------------------------------------------------------- the live model, on the meta device
def _meta_resnet(num_classes: int, resolution: int, strategy: str, k: int) -> torch.nn.Module:
    with torch.device("meta"):
        model = resnet18((3, resolution, resolution), num_classes)
    return apply_strategy(model, strategy, k)


@st.cache_data(max_entries=64, show_spinner=False)
def layer_rows(strategy: str, k: int, num_classes: int, resolution: int) -> list[LayerRow]:
    """core.models.inspection.layer_table of ResNet-18 with this head and strategy, for one image at `resolution`."""
    return layer_table(_meta_resnet(num_classes, resolution, strategy, k), (1, 3, resolution, resolution), "meta")


@st.cache_data(max_entries=64, show_spinner=False)
def totals(strategy: str, k: int, num_classes: int) -> list[dict]:
    """Total and trainable parameters read from live models: ImageNet's head, CIFAR-10's, this task's."""
    heads = {1000: "torchvision resnet18, ImageNet head (1000 classes)", 10: "fc = Linear(512, 10) (CIFAR-10)",
             num_classes: f"fc = Linear(512, {num_classes}) (this task)"}
    out = []
    for classes, label in heads.items():
        m = _meta_resnet(classes, 32, strategy, k)
        out.append({"model": label, "parameters": count_params(m), "trainable": count_params(m, trainable_only=True)})
    return out


@st.cache_data(max_entries=64, show_spinner=False)
def groups(cfg: TransferConfig, num_classes: int) -> list[ParamGroup]:
    return param_groups(_meta_resnet(num_classes, 32, cfg.strategy, cfg.k_stages), cfg)


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
        pre, pre_data = pretraining_config(), _source_task()
        pre_s = estimate_seconds(pre, len(pre_data.train), len(pre_data.test),
                                 _per_image("scratch", 1, pre.resolution, len(pre_data.classes), pre.batch_size))
        parts.append((pre_s + clock.setup_s(), "the pretraining on digits 0-4, once"))
    if wait >= 0.05:
        parts.append((wait, "for a training worker to start"))
    return sum(s for s, _ in parts), " + ".join(f"{s:.1f} s {what}" for s, what in parts)


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


def stage_rows(arch: Anatomy, resolution: int) -> list[dict]:
    return [{"stage": s.name, f"output for 1×3×{resolution}×{resolution}": " × ".join(map(str, s.output_shape)),
             "BasicBlocks": str(s.blocks) if s.blocks else "", "parameters": s.params,
             "skip path": "1×1 conv projection" if s.projection else ("identity" if s.blocks else "")}
            for s in arch.stages]


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
