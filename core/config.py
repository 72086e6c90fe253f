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

from core.models import ARCHITECTURES, architecture
from core.optimizers import OPTIMIZER_LABELS

Arch = str  # a key of core.models.ARCHITECTURES (validated by ModelConfig)
OptimizerName = Literal["sgd", "momentum", "adam"]
DataSource = Literal["mnist-full", "mnist-sample"]

ARCH_LABELS: dict[str, str] = {key: a.label for key, a in ARCHITECTURES.items()}

HOME_ENV = "PTCE_HOME"


def _digest(obj: object) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelConfig:
    """The spec a registry entry's builder takes (core.models.ARCHITECTURES). A field added here for a new
    entry (e.g. a layer builder's layers) must be left out of asdict/key() while it has its default, or
    every stored run's key changes (tests/test_models.py pins them)."""

    arch: Arch = "net2"
    hidden: int = 128  # width of the hidden Linear layer (Net2: fc1, CNNDemo: fc1)

    def __post_init__(self) -> None:
        architecture(self.arch)  # ValueError for a name outside the registry
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 1:
            raise ValueError(f"hidden must be a positive int, not {self.hidden!r}")

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
    def from_dict(d: dict) -> TrainConfig:
        d = dict(d)
        d["model"] = ModelConfig(**d["model"])
        return TrainConfig(**d)

    def label(self) -> str:
        """A short human label, e.g. 'Net2 h128 · Adam lr=0.001 · bs64 · 10 ep · seed 0'."""
        name = architecture(self.model.arch).short_label(self.model)
        opt = OPTIMIZER_LABELS[self.optimizer]
        if self.optimizer == "momentum":
            opt += f" ({self.momentum:g})"
        return (f"{name} · {opt} lr={self.lr:g} · bs{self.batch_size}"
                f" · {self.epochs} ep · seed {self.seed}")


def default_config(arch: Arch, source: DataSource) -> TrainConfig:
    """The registry entry's training settings for this data source (see core.models.TrainingDefaults)."""
    d = architecture(arch).defaults
    if d is None:
        raise ValueError(f"{arch!r} has no default MNIST training settings")
    return TrainConfig(model=ModelConfig(arch=arch), optimizer=d.optimizer, lr=d.lr,  # type: ignore[arg-type]
                       batch_size=d.batch_size, epochs=d.epochs[source], seed=0, data_source=source)


@dataclass(frozen=True)
class Paths:
    """Where downloaded data and trained runs live. Root from $PTCE_HOME."""

    root: Path

    @staticmethod
    def from_env() -> Paths:
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
