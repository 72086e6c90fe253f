"""The transfer-learning configs: a ResNet-18 run (`TransferConfig`) and a frozen backbone's stored features
(`FeatureConfig`), each checked field by field when read from a file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from core.config import FlatConfig

TransferStrategy = Literal["feature", "finetune", "full", "scratch"]
TransferTask = Literal["target", "source"]


TransferSource = Literal["cifar10", "digits"]
TransferWeights = Literal["imagenet", "digits-pretrained", "random"]


TRANSFER_STRATEGY_LABELS: dict[str, str] = {"feature": "Feature extraction", "finetune": "Fine-tune last k stages",
                                            "full": "Full fine-tuning", "scratch": "From scratch"}


TRANSFER_WEIGHTS_LABELS: dict[str, str] = {"imagenet": "ImageNet (IMAGENET1K_V1)",
                                           "digits-pretrained": "pretrained here on digits 0-4",
                                           "random": "random init"}


TRANSFER_RESOLUTIONS: tuple[int, ...] = (32, 64, 128, 224)


@dataclass(frozen=True)
class TransferConfig(FlatConfig):
    """A ResNet-18 transfer-learning run. task "source" is the app's own pretraining on digits 0-4
    (all labels, from scratch); task "target" adapts a backbone to the target classes with `strategy`."""

    strategy: TransferStrategy = "feature"
    k_stages: int = 1  # "finetune": unfreeze the last k of layer4, layer3, layer2, layer1
    head_lr: float = 1e-2  # fc
    backbone_lr: float = 1e-3  # unfrozen backbone stages (lower than the head's)
    epochs: int = 10
    batch_size: int = 32
    resolution: int = 32  # images are resized to resolution x resolution on the device
    subset: int = 2000  # cifar10: training images used
    labels_per_class: int = 20  # digits target: labelled examples per class (few-label task)
    seed: int = 0
    source: TransferSource = "digits"
    weights: TransferWeights = "digits-pretrained"
    task: TransferTask = "target"

    kind: ClassVar[str] = "transfer"

    def problems(self) -> list[str]:
        """Plain-words list of what is out of bounds (empty when the config can be trained)."""
        p = []
        allowed = {"strategy": TRANSFER_STRATEGY_LABELS, "weights": TRANSFER_WEIGHTS_LABELS,
                   "source": ("cifar10", "digits"), "task": ("target", "source")}
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                p.append(f"{name} must be one of {', '.join(values)} (got {getattr(self, name)!r})")
        bounds = {"k_stages": (1, 4), "epochs": (1, 200), "batch_size": (1, 4096), "subset": (10, 50_000),
                  "labels_per_class": (1, 1000), "seed": (0, 2**31 - 1)}
        p += self.out_of_range(bounds, ("head_lr", "backbone_lr"))
        if self.resolution not in TRANSFER_RESOLUTIONS:
            p.append(f"resolution must be one of {TRANSFER_RESOLUTIONS} (got {self.resolution})")
        if self.strategy == "scratch" and self.weights != "random":
            p.append("'from scratch' starts from random weights: set weights to 'random'")
        if self.task == "source" and (self.source != "digits" or self.strategy != "scratch"):
            p.append("the source task is pretraining on digits 0-4 from scratch (source 'digits', strategy 'scratch')")
        return p


    def label(self) -> str:
        """e.g. 'Fine-tune last 2 stages · pretrained here on digits 0-4 · digits 5-9, 20 labels/class · 32 px ·
        10 ep · seed 0': every page that names a transfer run uses these words."""
        if self.task == "source":
            return f"Pretraining on digits 0-4 · {self.resolution} px · {self.epochs} ep · seed {self.seed}"
        name = TRANSFER_STRATEGY_LABELS.get(self.strategy, self.strategy)
        if self.strategy == "finetune":
            name = f"Fine-tune last {self.k_stages} stage{'s' if self.k_stages > 1 else ''}"
        data = (f"digits 5-9, {self.labels_per_class} labels/class" if self.source == "digits"
                else f"CIFAR-10, {self.subset:,} images")
        return (f"{name} · {TRANSFER_WEIGHTS_LABELS.get(self.weights, self.weights)} · {data}"
                f" · {self.resolution} px · {self.epochs} ep · seed {self.seed}")


@dataclass(frozen=True)
class FeatureConfig(FlatConfig):
    """The frozen backbone's (N, 512) features of a task's train and test images at one resolution: computed
    once, stored like any run (safetensors, keyed by this config) and reused by every feature-extraction run
    on the same backbone, data and resolution, whatever its head's learning rate or epochs."""

    weights: TransferWeights  # "imagenet" or "digits-pretrained"
    pretraining: str  # key() of the pretraining run the digits backbone comes from; "" for ImageNet's
    source: TransferSource
    labels_per_class: int
    subset: int
    resolution: int
    n_train: int  # rows of the stored train features
    n_test: int

    kind: ClassVar[str] = "features"

    def problems(self) -> list[str]:
        p = []
        if self.weights not in ("imagenet", "digits-pretrained"):
            p.append(f"weights must be imagenet or digits-pretrained (got {self.weights!r})")
        if (self.weights == "digits-pretrained") != bool(re.fullmatch(r"[0-9a-f]{16}", self.pretraining)):
            p.append("pretraining must be the pretraining run's key for digits weights, and empty for ImageNet's")
        if self.source not in ("cifar10", "digits"):
            p.append(f"source must be cifar10 or digits (got {self.source!r})")
        if self.resolution not in TRANSFER_RESOLUTIONS:
            p.append(f"resolution must be one of {TRANSFER_RESOLUTIONS} (got {self.resolution})")
        for name, hi in (("labels_per_class", 1000), ("subset", 50_000), ("n_train", 50_000), ("n_test", 50_000)):
            if not 1 <= getattr(self, name) <= hi:
                p.append(f"{name} must be in 1..{hi} (got {getattr(self, name)})")
        return p

    def label(self) -> str:
        return (f"Features · {TRANSFER_WEIGHTS_LABELS.get(self.weights, self.weights)} · {self.source} · "
                f"{self.n_train:,} + {self.n_test:,} images · {self.resolution} px")


# TransferConfig field -> its parameter in the Transfer page's address
# (/transfer?route=digits&strategy=finetune&k=2&labels=20&res=32&ep=10&hlr=0.001&blr=0.0001&seed=0)
ADDRESS: dict[str, str] = {"source": "route", "strategy": "strategy", "k_stages": "k", "labels_per_class": "labels",
                           "subset": "subset", "resolution": "res", "epochs": "ep", "head_lr": "hlr",
                           "backbone_lr": "blr", "seed": "seed"}


def address(cfg: TransferConfig) -> dict[str, str]:
    """The page-address settings that reproduce `cfg` on the Transfer page: only the fields the config uses (k
    for fine-tuning k stages, the backbone's rate when it has a group of its own, labels or subset by route).
    The pretraining on digits 0-4 is no strategy of the page: its link opens the route that starts from it."""
    if cfg.task == "source":
        return {ADDRESS["source"]: "digits"}
    values: dict[str, object] = {"source": cfg.source, "strategy": cfg.strategy, "resolution": cfg.resolution,
                                 "epochs": cfg.epochs, "head_lr": f"{cfg.head_lr:g}", "seed": cfg.seed}
    if cfg.strategy == "finetune":
        values["k_stages"] = cfg.k_stages
    if cfg.strategy in ("finetune", "full"):
        values["backbone_lr"] = f"{cfg.backbone_lr:g}"
    values["labels_per_class" if cfg.source == "digits" else "subset"] = (
        cfg.labels_per_class if cfg.source == "digits" else cfg.subset)
    return {ADDRESS[name]: str(v) for name, v in values.items()}
