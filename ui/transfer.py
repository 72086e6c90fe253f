"""Widgets and cached calls of the Transfer learning page. Keys are frozen configs and small values, never tensors.

The frozen/trainable map, totals and parameter groups are read from ResNet-18s built on the meta device
(shapes and requires_grad, no weights), so a strategy change redraws them at once. Models built for
evaluation are private to the cache and never trained in place.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from core.data.cifar import load_cifar10
from core.data.mnist import load_sample
from core.models.inspection import LayerRow, confusion_matrix, count_params, layer_table
from core.models.zoo import resnet18
from core.runs.store import RunSummary
from core.training.record import Run
from core.transfer.config import TRANSFER_RESOLUTIONS, TRANSFER_STRATEGY_LABELS, TransferConfig
from core.transfer.estimate import estimate_seconds, time_per_image
from core.transfer.features import normalization
from core.transfer.model import build_resnet18, model_of, predict
from core.transfer.pretrained import WeightsResult, load_imagenet_weights
from core.transfer.report import Anatomy, RunResult, first_filters
from core.transfer.strategies import STRATEGIES, LayerGrad, ParamGroup, apply_strategy, gradient_norms, param_groups
from core.transfer.tasks import ImageTask, cifar_task, digit_tasks, pretraining_config
from ui import resources

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


# ---------------------------------------------------------------- data and weights
@st.cache_resource(max_entries=1, show_spinner=False)
def imagenet() -> WeightsResult:
    return load_imagenet_weights(allow_download=False)


@st.cache_resource(max_entries=1, show_spinner="Loading CIFAR-10…")
def _cifar():
    return load_cifar10(resources.paths().data, allow_download=False)


def missing() -> list[str]:
    """Plain words for each of ImageNet weights / CIFAR-10 that is not on this machine (empty: both are)."""
    w = imagenet()
    notes = [] if w.ok else [f"**ImageNet weights.** {w.reason} {w.how_to}"]
    return notes + ([] if _cifar()[0] is not None else [f"**CIFAR-10.** {_cifar()[1]}"])


@st.cache_resource(max_entries=1, show_spinner="Loading the bundled digits…")
def _sample():
    """The bundled MNIST sample (the one the app already uses when full MNIST is absent), decoded once."""
    data = resources.mnist()
    return data if data.source == "mnist-sample" else load_sample()


@st.cache_resource(max_entries=4, show_spinner=False)
def task(source: str, labels_per_class: int, subset: int) -> ImageTask:
    """The target task: digits 5-9 with few labels (bundled MNIST), or a class-balanced CIFAR-10 subset."""
    if source == "cifar10":
        return cifar_task(_cifar()[0], subset)
    return digit_tasks(_sample(), labels_per_class)[1]


def task_of(cfg: TransferConfig) -> ImageTask:
    return task(cfg.source, cfg.labels_per_class if cfg.source == "digits" else 0,
                cfg.subset if cfg.source == "cifar10" else 0)


# ---------------------------------------------------------------- controls
def controls() -> TransferConfig | None:
    """Route, strategy and training settings -> the TransferConfig they describe; None for the route "Your own
    classes", which draws itself (ui/own_classes.py)."""
    gaps = missing()
    routes = (["digits"] if gaps else ["cifar10", "digits"]) + ["own"]
    if gaps:
        with st.expander("ImageNet weights or CIFAR-10 are missing here: this page teaches with the offline route",
                         icon=":material/cloud_off:"):
            st.markdown("\n\n".join(gaps))
    if f"{K}_route" not in st.session_state:  # a link (Training runs), a bookmark, a reload, or back on the page
        st.session_state[f"{K}_route"] = next((r for r in (st.query_params.get("route"),
                                                           st.session_state.get(f"{K}_route_kept")) if r in routes),
                                              routes[0])
    source = st.radio("Route", routes, format_func=ROUTES.get, horizontal=True, key=f"{K}_route")
    st.session_state[f"{K}_route_kept"] = st.query_params["route"] = source
    if source == "own":
        return None
    if source == "digits":
        st.info("A ResNet-18 **pretrained here on digits 0-4** (the bundled MNIST sample, 2 epochs at 32 px) is "
                "transferred to digits 5-9 with only a few labelled images per class. No ImageNet weights are used.",
                icon=":material/info:")
    c1, c2, c3, c4 = st.columns(4)
    strategy = c1.selectbox("Strategy", list(STRATEGIES), format_func=TRANSFER_STRATEGY_LABELS.get, key=f"{K}_strategy")
    k = c2.slider("Stages to fine-tune (k)", 1, 4, 1, key=f"{K}_k", disabled=strategy != "finetune",
                  help="k = 1 unfreezes layer4, 2 adds layer3, then layer2, layer1")
    if source == "digits":
        amount = c3.select_slider("Labelled images per class", [8, 10, 20, 50], 20, key=f"{K}_labels")
    else:
        amount = c3.select_slider("Training images (subset)", [200, 500, 1000, 2000, 5000, 50_000], 1000,
                                  key=f"{K}_subset", help="a CPU gets a result in under a minute up to ~1,000 at 32 px")
    resolution = c4.select_slider("Input resolution (px)", list(TRANSFER_RESOLUTIONS), 32, key=f"{K}_res",
                                  help="images are resized on the device; 224 is what ImageNet weights saw")
    c5, c6, c7 = st.columns(3)
    epochs = c5.slider("Epochs", 1, 30, 10, key=f"{K}_epochs")
    head_lr = c6.select_slider("Head learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], 1e-2 if strategy == "feature"
                               else 1e-3, key=f"{K}_head_lr_{strategy == 'feature'}")
    backbone_lr = c7.select_slider("Backbone learning rate", [1e-5, 3e-5, 1e-4, 3e-4, 1e-3], 1e-4, key=f"{K}_bb_lr",
                                   disabled=strategy in ("feature", "scratch"))
    weights = "random" if strategy == "scratch" else ("imagenet" if source == "cifar10" else "digits-pretrained")
    if strategy in ("feature", "scratch"):  # no backbone group of its own: one key whatever the unused slider says
        backbone_lr = TransferConfig.backbone_lr
    return TransferConfig(strategy=strategy, k_stages=k if strategy == "finetune" else 1, head_lr=head_lr,
                          backbone_lr=backbone_lr, epochs=epochs, resolution=resolution, source=source,
                          labels_per_class=amount if source == "digits" else 20,
                          subset=amount if source == "cifar10" else 2000, weights=weights)


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
def _per_image(strategy: str, k: int, resolution: int, num_classes: int) -> tuple[float, float]:
    cfg = TransferConfig(strategy=strategy, k_stages=k, resolution=resolution,
                         weights="random" if strategy == "scratch" else "digits-pretrained")
    batch = max(1, 8 * 32 * 32 // resolution ** 2)  # about the same work at every resolution
    return time_per_image(_fresh_resnet(num_classes), cfg, resources.device(), batch)


def estimate(cfg: TransferConfig, n_train: int, n_test: int, num_classes: int) -> float:
    per = _per_image(cfg.strategy, cfg.k_stages, cfg.resolution, num_classes)
    return estimate_seconds(cfg, n_train, n_test, per)


# ---------------------------------------------------------------- training: worker processes, runs in the store
@st.cache_resource(max_entries=32, show_spinner="Loading the stored run…")
def _stored(cfg: TransferConfig) -> Run:
    run = resources.store().load(cfg)
    if run is None:
        raise LookupError(cfg.key())  # raising keeps "missing" out of the cache
    return run


def trained(cfg: TransferConfig) -> Run | None:
    """The stored run of `cfg` (trained once, in a worker, by any session), or None."""
    if not resources.store().has(cfg):
        return None
    try:
        return _stored(cfg)
    except LookupError:
        return None


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


def needs_pretraining(cfg: TransferConfig) -> bool:
    return cfg.weights == "digits-pretrained" and trained(pretraining_config()) is None


def submit(cfg: TransferConfig) -> None:
    """Queue the pretraining (when this route needs it and it is not stored) and the run: worker processes
    train them in order; the pretraining lands in the store once and every later run reuses it."""
    if needs_pretraining(cfg):
        resources.jobs().submit(pretraining_config())
    resources.jobs().submit(cfg)


def running(cfg: TransferConfig) -> bool:
    jobs = [resources.jobs().get(c) for c in (pretraining_config(), cfg)]
    return any(j is not None and not j.done.is_set() for j in jobs) and not resources.store().has(cfg)


def job_error(cfg: TransferConfig) -> str:
    job = resources.jobs().get(cfg)
    return job.error if job is not None and job.done.is_set() and not resources.store().has(cfg) else ""


@st.fragment(run_every=0.5)
def progress_view(cfg: TransferConfig) -> None:
    """The pretraining's, then the run's progress, until the run lands in the store (then the page reruns)."""
    if not running(cfg):
        st.rerun()
        return
    pool = resources.jobs()
    for c, what in ((pretraining_config(), "Pretraining on digits 0-4 (once, stored)"), (cfg, "Training")):
        job = pool.get(c)
        if job is None or job.done.is_set():
            continue
        ahead = pool.position(job)
        if ahead is not None:
            st.caption(f"{what}: waiting for a free training worker ({ahead} ahead).")
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


# ---------------------------------------------------------------- after training
@dataclass(frozen=True)
class Evaluation:
    cm: np.ndarray  # (C, C) true x predicted on the test set
    images: np.ndarray  # (16, 32, 32) gray test images
    titles: list[str]  # "pred cat / true dog"
    grads: list[LayerGrad]
    before: np.ndarray  # (16, 7, 7) conv1 filters at the start
    after: np.ndarray  # after training


@st.cache_data(max_entries=16, show_spinner="Evaluating the trained model…")
def evaluation(cfg: TransferConfig) -> Evaluation:
    run = trained(cfg)
    if run is None:
        raise LookupError(cfg.key())
    data, start = task_of(cfg), backbone(cfg)
    model = model_of(run, len(data.classes), start).to(resources.device())
    pred = predict(model, data.test.images, cfg)
    cm = confusion_matrix(data.test.labels, pred, len(data.classes))
    names = data.classes
    pick = torch.linspace(0, len(data.test) - 1, min(16, len(data.test))).long()  # spread over every class
    shown = data.test.images[pick]
    grads = gradient_norms(model, cfg, data.train.images[:16], data.train.labels[:16])
    init = start if start is not None else build_resnet18(len(names),
                                                          torch.Generator().manual_seed(cfg.seed)).state_dict()
    return Evaluation(cm.numpy(), shown.float().mean(1).numpy(),
                      [f"{names[p]}<br>(true {names[t]})" for p, t in zip(pred[pick].tolist(),
                                                                        data.test.labels[pick].tolist())],
                      grads, first_filters(init).numpy(), first_filters(model.state_dict()).cpu().numpy())


def results(runs: list[RunSummary]) -> list[RunResult]:
    return [RunResult(short_label(r.config), r.config.strategy, float(r.metrics["test_acc"]),
                      float(r.metrics["wall_s"]), int(r.metrics["trainable_params"])) for r in runs]


def short_label(cfg: TransferConfig) -> str:
    return cfg.label().split(" · ")[0] + f" ({cfg.epochs} ep, head lr {cfg.head_lr:g})"


def stage_rows(arch: Anatomy, resolution: int) -> list[dict]:
    return [{"stage": s.name, f"output for 1×3×{resolution}×{resolution}": " × ".join(map(str, s.output_shape)),
             "BasicBlocks": str(s.blocks) if s.blocks else "", "parameters": s.params,
             "skip path": "1×1 conv projection" if s.projection else ("identity" if s.blocks else "")}
            for s in arch.stages]


def run_rows(runs: list[RunSummary]) -> list[dict]:
    return [{"strategy": short_label(r.config), "target accuracy %": round(100 * r.metrics["test_acc"], 1),
             "wall s": round(r.metrics["wall_s"], 1),
             "of which backbone pass s (stored, shared)": round(r.metrics.get("features_s", 0.0), 1),
             "trainable": r.metrics["trainable_params"], "images/s": round(r.metrics["images_per_s"])} for r in runs]


def estimate_text(cfg: TransferConfig, data: ImageTask, seconds: float) -> str:
    first = (" Plus, once, the pretraining on digits 0-4 (about a minute on a CPU; stored and reused)."
             if needs_pretraining(cfg) else "")
    return (f"Not trained yet. Estimated time: **~{seconds:.0f} s** on {resources.device().type.upper()} "
            f"({len(data.train):,} training and {len(data.test):,} test images at {cfg.resolution} px, "
            f"measured from timed steps just now).{first}")
