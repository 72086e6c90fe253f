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


DEFAULT_HIDDEN = 128


@dataclass(frozen=True)
class ModelConfig:
    """The spec a registry entry's builder takes (core.models.ARCHITECTURES). A field added here for a new
    entry must be left out of to_dict()/key() while it has its default, or every stored run's key changes
    (tests/test_models.py pins them): `spec` is, while empty."""

    arch: Arch = "net2"
    hidden: int = DEFAULT_HIDDEN  # width of the hidden Linear layer (Net2: fc1, CNNDemo: fc1)
    spec: str = ""  # the layer stack's link text, for entries built from it ("built"), else ""

    def __post_init__(self) -> None:
        entry = architecture(self.arch)  # ValueError for a name outside the registry
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 1:
            raise ValueError(f"hidden must be a positive int, not {self.hidden!r}")
        if not isinstance(self.spec, str):
            raise ValueError(f"spec must be text, not {type(self.spec).__name__}")
        if entry.spec_error is None:
            if self.spec:
                raise ValueError(f"{self.arch} is not built from a layer spec (got {self.spec[:40]!r})")
            return
        if self.hidden != DEFAULT_HIDDEN:
            raise ValueError(f"{self.arch} models are all in their spec: hidden must stay {DEFAULT_HIDDEN}")
        problem = entry.spec_error(self.spec)
        if problem:
            raise ValueError(f"the layer stack can't be trained on digits: {problem}")

    def to_dict(self) -> dict:
        """The fields that make the model: `spec` only when set (stored keys stay as they were before it
        existed), `hidden` only without one (a built model's layers are all in its spec)."""
        d = asdict(self)
        del d["hidden" if self.spec else "spec"]
        return d

    def key(self) -> str:
        return _digest(self.to_dict())


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
        return {**asdict(self), "model": self.model.to_dict()}

    @staticmethod
    def from_dict(d: dict) -> "TrainConfig":
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


def default_config(arch: Arch, source: DataSource, model: ModelConfig | None = None) -> TrainConfig:
    """The registry entry's training settings for this data source (see core.models.TrainingDefaults), for
    `model` (default: the entry's default spec; a "built" entry needs its stack: pass it)."""
    d = architecture(arch).defaults
    if d is None:
        raise ValueError(f"{arch!r} has no default MNIST training settings")
    if model is not None and model.arch != arch:
        raise ValueError(f"the model is a {model.arch!r}, not a {arch!r}")
    return TrainConfig(model=model or ModelConfig(arch=arch), optimizer=d.optimizer,  # type: ignore[arg-type]
                       lr=d.lr, batch_size=d.batch_size, epochs=d.epochs[source], seed=0, data_source=source)


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
