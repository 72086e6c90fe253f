"""Frozen configuration dataclasses and the paths and device they resolve to.

Every cache in the app is keyed by one of these configs: `key()` is a stable
digest of the config's fields, so the same settings always map to the same
stored run, across processes and restarts.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch

from core.optimizers import OPTIMIZER_LABELS

Arch = Literal["net2", "cnn"]
OptimizerName = Literal["sgd", "momentum", "adam"]
DataSource = Literal["mnist-full", "mnist-sample"]

ARCH_LABELS: dict[str, str] = {"net2": "Fully connected (Net2)", "cnn": "Convolutional (CNNDemo)"}

HOME_ENV = "PTCE_HOME"


def _digest(obj: object) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelConfig:
    arch: Arch = "net2"
    hidden: int = 128  # width of the hidden Linear layer (Net2: fc1, CNNDemo: fc1)

    def key(self) -> str:
        return _digest(asdict(self))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run's result (besides the hardware)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # used by "momentum" only
    batch_size: int = 64
    epochs: int = 10
    seed: int = 0
    data_source: DataSource = "mnist-sample"

    def key(self) -> str:
        return _digest(self.to_dict())

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "TrainConfig":
        d = dict(d)
        d["model"] = ModelConfig(**d["model"])
        return TrainConfig(**d)

    def label(self) -> str:
        """A short human label, e.g. 'Net2 h128 · Adam lr=0.001 · bs64 · 10 ep · seed 0'."""
        name = "Net2" if self.model.arch == "net2" else "CNNDemo"
        opt = OPTIMIZER_LABELS[self.optimizer]
        if self.optimizer == "momentum":
            opt += f" ({self.momentum:g})"
        return (f"{name} h{self.model.hidden} · {opt} lr={self.lr:g} · bs{self.batch_size}"
                f" · {self.epochs} ep · seed {self.seed}")


def default_config(arch: Arch, source: DataSource) -> TrainConfig:
    """Settings that reach the accuracy targets quickly (measured in `python -m bench`).

    Net2 is cheap per sample, so a large batch (fewer, fuller steps) trains it fastest; the bundled
    sample has 4,000 training digits, so it needs more passes than full MNIST.
    """
    epochs = {("net2", "mnist-sample"): 30, ("net2", "mnist-full"): 15,
              ("cnn", "mnist-sample"): 15, ("cnn", "mnist-full"): 5}[(arch, source)]
    batch, lr = (512, 5e-3) if arch == "net2" else (256, 3e-3)
    return TrainConfig(model=ModelConfig(arch=arch), optimizer="adam", lr=lr, batch_size=batch,
                       epochs=epochs, seed=0, data_source=source)


@dataclass(frozen=True)
class Paths:
    """Where downloaded data and trained runs live. Root from $PTCE_HOME."""

    root: Path

    @staticmethod
    def from_env() -> "Paths":
        default = Path.home() / ".cache" / "pytorch-concept-explorer"
        return Paths(Path(os.environ.get(HOME_ENV, default)).expanduser())

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def runs(self) -> Path:
        return self.root / "runs"


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA · {torch.cuda.get_device_name(device)}"
    return f"CPU · {torch.get_num_threads()} threads"
