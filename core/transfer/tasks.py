"""The classification tasks a ResNet-18 transfers between: digits 0-4 (source) and 5-9 with few labels (target)
from the bundled MNIST, or a class-balanced CIFAR-10 subset.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from core.data.split import Split
from core.transfer.config import TransferConfig


@dataclass(frozen=True)
class ImageTask:
    """A classification dataset for transfer: uint8 images (N, 3, 32, 32) on the CPU, labels 0..C-1."""

    name: str  # "digits-source", "digits-target", "cifar10"
    description: str
    classes: tuple[str, ...]
    train: Split
    test: Split
    note: str = ""


def num_classes(cfg: TransferConfig) -> int:
    """Classes of cfg's task: CIFAR-10's 10, or 5 digits (0-4 for the source task, 5-9 for the target)."""
    return 10 if cfg.source == "cifar10" else 5


def class_names(cfg: TransferConfig) -> tuple[str, ...]:
    """The classes of cfg's task, in label order: CIFAR-10's, or the digits 0-4 (source) or 5-9 (target)."""
    if cfg.source == "cifar10":
        from core.data.cifar import CIFAR_CLASSES

        return CIFAR_CLASSES
    return tuple("01234") if cfg.task == "source" else tuple("56789")


# ---------------------------------------------------------------- offline source -> target (bundled digits)
def _to_rgb32(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) gray -> (N, 3, 32, 32): 2 px of zero padding per side, gray copied to 3 channels."""
    return F.pad(images, (2, 2, 2, 2)).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()  # (N, 3, 32, 32)


def digit_tasks(digits, labels_per_class: int, seed: int = 0) -> tuple[ImageTask, ImageTask]:
    """Source task: digits 0-4, every label. Target task: digits 5-9 (labels 0..4 = '5'..'9') with only
    `labels_per_class` labelled training images per class; tested on every test digit 5-9.
    `digits`: core.data.MNISTData (e.g. `load_sample()`)."""
    tr, te = digits.train, digits.test
    src_tr, src_te = tr.labels < 5, te.labels < 5
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in range(5, 10):
        idx = torch.nonzero(tr.labels == c).flatten()
        picked.append(idx[torch.randperm(len(idx), generator=g)[:labels_per_class]])
    few = torch.cat(picked).sort().values
    tgt_te = te.labels >= 5
    source = ImageTask("digits-source", f"Source task: {int(src_tr.sum()):,} labelled digits 0-4 (bundled MNIST)",
                       tuple("01234"), Split(_to_rgb32(tr.images[src_tr]), tr.labels[src_tr].clone()),
                       Split(_to_rgb32(te.images[src_te]), te.labels[src_te].clone()))
    target = ImageTask("digits-target", f"Target task: digits 5-9 with {labels_per_class} labelled images per class "
                       f"({len(few)} in all); tested on {int(tgt_te.sum()):,}", tuple("56789"),
                       Split(_to_rgb32(tr.images[few]), tr.labels[few] - 5),
                       Split(_to_rgb32(te.images[tgt_te]), te.labels[tgt_te] - 5))
    return source, target


def source_config(cfg: TransferConfig, epochs: int = 3) -> TransferConfig:
    """The pretraining run that "digits-pretrained" weights come from (stored and reused like any run)."""
    return replace(cfg, task="source", strategy="scratch", weights="random", source="digits", epochs=epochs,
                   k_stages=1, labels_per_class=1, subset=10)


def pretraining_config() -> TransferConfig:
    """The one pretraining every digits target starts from: 2 epochs over digits 0-4 at 32 px, Adam 1e-3, batch 64
    (a stored run like any other)."""
    return source_config(TransferConfig(head_lr=1e-3, batch_size=64), epochs=2)


def task_for(cfg: TransferConfig, data_dir: Path, digits=None) -> ImageTask:
    """cfg's task: digits 0-4 (source) or 5-9 with few labels (target) from `digits` (default: the bundled
    sample), or a class-balanced CIFAR-10 subset from `data_dir` (ValueError saying what is missing)."""
    if cfg.source == "cifar10":
        from core.data.cifar import load_cifar10

        cifar, note = load_cifar10(data_dir, allow_download=False)
        if cifar is None:
            raise ValueError(note)
        return cifar_task(cifar, cfg.subset)
    if digits is None:
        from core.data.mnist import load_sample

        digits = load_sample()
    source, target = digit_tasks(digits, cfg.labels_per_class)
    return source if cfg.task == "source" else target


def cifar_task(cifar, subset: int, seed: int = 0) -> ImageTask:
    """A class-balanced `subset` of CIFAR-10's training images (core.cifar.CifarData), full test set."""
    g = torch.Generator().manual_seed(seed)
    per = max(1, subset // len(cifar.classes))
    idx = torch.cat([torch.nonzero(cifar.train.labels == c).flatten()[
        torch.randperm(int((cifar.train.labels == c).sum()), generator=g)[:per]] for c in range(len(cifar.classes))])
    idx = idx.sort().values
    return ImageTask("cifar10", f"{cifar.description}; training on {len(idx):,}", cifar.classes,
                     Split(cifar.train.images[idx].contiguous(), cifar.train.labels[idx].contiguous()), cifar.test)
