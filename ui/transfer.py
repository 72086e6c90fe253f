"""The Transfer learning page's controls (route, strategy and training settings, kept in the page's address) and
the model's anatomy: the frozen/trainable map, totals, parameter groups and stages, read from ResNet-18s built on
the meta device (shapes and requires_grad, no weights), so a strategy change redraws them at once.

The page's other ui modules: ui/transfer_data.py (data and weights), ui/transfer_runs.py (training),
ui/transfer_results.py (evaluation, run tables). Their cache keys are frozen configs and small values, never tensors.
"""
from __future__ import annotations

import streamlit as st
import torch

from core.models.inspection import LayerRow, count_params, layer_table
from core.models.zoo import resnet18
from core.transfer.config import ADDRESS as TRANSFER_ADDRESS
from core.transfer.config import TRANSFER_RESOLUTIONS, TRANSFER_STRATEGY_LABELS, TransferConfig
from core.transfer.features import normalization
from core.transfer.report import Anatomy
from core.transfer.strategies import STRATEGIES, ParamGroup, apply_strategy, param_groups
from ui import address
from ui.transfer_data import missing, route_offer

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


def stage_rows(arch: Anatomy, resolution: int) -> list[dict]:
    return [{"stage": s.name, f"output for 1×3×{resolution}×{resolution}": " × ".join(map(str, s.output_shape)),
             "BasicBlocks": str(s.blocks) if s.blocks else "", "parameters": s.params,
             "skip path": "1×1 conv projection" if s.projection else ("identity" if s.blocks else "")}
            for s in arch.stages]
