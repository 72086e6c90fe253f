"""The config of a run on the learner's own classes (`OwnClassesConfig`, run kind "own-classes") and its place in
the Transfer page's address.

A run is keyed by its dataset (the digest of its saved set: class names and photos), the backbone it started
from (a fingerprint of the ImageNet weights' values) and its training settings. The class names are in the
config too, so an exported run still names its classes where its photos are not.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from core.config import FlatConfig
from core.transfer.config import TransferConfig
from core.transfer.own.dataset import (
    MAX_CLASSES,
    MAX_PHOTOS,
    MIN_CLASSES,
    MIN_PHOTOS,
    Dataset,
    OwnDataError,
    check_name,
)
from core.transfer.own.photos import AUGMENTATIONS, SIDE

OwnStrategy = Literal["feature", "finetune"]
OWN_STRATEGY_LABELS: dict[str, str] = {"feature": "Feature extraction", "finetune": "Fine-tune the last stage"}
FOLDS = 5  # k of the stratified k-fold that scores a run (every photo is held out once)
_HEX16 = re.compile(r"[0-9a-f]{16}")

ROUTE = "own"  # the Transfer page's route value in its address (?route=own)
# OwnClassesConfig field -> its parameter in the Transfer page's address (the route's controls)
ADDRESS: dict[str, str] = {"dataset": "own_data", "strategy": "own_strategy", "augment": "own_aug",
                           "epochs": "own_ep", "head_lr": "own_hlr", "backbone_lr": "own_blr", "seed": "own_seed"}


@dataclass(frozen=True)
class OwnClassesConfig(FlatConfig):
    dataset: str  # Dataset.digest() of the saved set it trained on
    classes: str  # the class names, a JSON list, in label order
    n_photos: int
    backbone: str  # fingerprint of the ImageNet weights it started from (core.transfer.own.fit.fingerprint)
    strategy: OwnStrategy = "feature"
    augment: str = "none"  # a key of core.transfer.own.photos.AUGMENTATIONS
    epochs: int = 30
    batch_size: int = 16  # Teachable Machine's default
    head_lr: float = 1e-3
    backbone_lr: float = 1e-4  # "finetune": layer4's rate (lower than the head's)
    folds: int = FOLDS
    seed: int = 0

    kind: ClassVar[str] = "own-classes"

    def names(self) -> tuple[str, ...]:
        try:
            names = json.loads(self.classes)
        except (ValueError, RecursionError):
            return ()
        return tuple(names) if isinstance(names, list) and all(isinstance(n, str) for n in names) else ()

    def problems(self) -> list[str]:
        p = []
        names = self.names()
        if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
            p.append(f"classes must be a JSON list of {MIN_CLASSES} to {MAX_CLASSES} names")
        else:
            try:
                if [check_name(n) for n in names] != list(names):
                    p.append("class names must be written without extra spaces")
            except OwnDataError as e:
                p.append(str(e))
            if len({n.casefold() for n in names}) != len(names):
                p.append("two classes share a name")
        for name in ("dataset", "backbone"):
            if not _HEX16.fullmatch(getattr(self, name)):
                p.append(f"{name} must be 16 hex digits")
        if self.strategy not in OWN_STRATEGY_LABELS:
            p.append(f"strategy must be one of {', '.join(OWN_STRATEGY_LABELS)} (got {self.strategy!r})")
        if self.augment not in AUGMENTATIONS:
            p.append(f"augment must be one of {', '.join(AUGMENTATIONS)} (got {self.augment!r})")
        bounds = {"n_photos": (len(names) * MIN_PHOTOS, MAX_PHOTOS), "epochs": (1, 200), "batch_size": (1, 256),
                  "folds": (2, 10), "seed": (0, 2**31 - 1)}
        p += self.out_of_range(bounds, ("head_lr", "backbone_lr"))
        return p

    def label(self) -> str:
        """e.g. 'Feature extraction · your 3 classes, 30 photos · mirror · 30 ep · seed 0'."""
        aug = {"none": "no augmentation", "flips": "mirror", "flips-crops": "mirror + crops"}.get(self.augment, "")
        return (f"{OWN_STRATEGY_LABELS.get(self.strategy, self.strategy)} · your {len(self.names())} classes, "
                f"{self.n_photos} photos · {aug} · {self.epochs} ep · seed {self.seed}")

    def transfer(self) -> TransferConfig:
        """The ResNet-18 transfer settings this run trains with, for the shared pieces (core.transfer.fit.fit_head,
        core.transfer.strategies.optimizer): ImageNet weights at 224 px, the last stage when fine-tuning."""
        return TransferConfig(strategy=self.strategy, k_stages=1, head_lr=self.head_lr, backbone_lr=self.backbone_lr,
                              epochs=self.epochs, batch_size=self.batch_size, resolution=SIDE, seed=self.seed,
                              source="cifar10", weights="imagenet")


def config_for(ds: Dataset, backbone: str, **settings) -> OwnClassesConfig:
    """The config of training `ds` from `backbone` with these settings."""
    return OwnClassesConfig(dataset=ds.digest(), classes=json.dumps(list(ds.names), ensure_ascii=False),
                            n_photos=ds.n_photos, backbone=backbone, **settings)


def address(cfg: OwnClassesConfig) -> dict[str, str]:
    """The Transfer page's address that opens `cfg` (its route, dataset and settings)."""
    values = {"dataset": cfg.dataset, "strategy": cfg.strategy, "augment": cfg.augment, "epochs": str(cfg.epochs),
              "head_lr": f"{cfg.head_lr:g}", "seed": str(cfg.seed)}
    if cfg.strategy == "finetune":
        values["backbone_lr"] = f"{cfg.backbone_lr:g}"
    return {"route": ROUTE, **{ADDRESS[k]: v for k, v in values.items()}}
