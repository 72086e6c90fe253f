"""Frozen configuration dataclasses and the paths and device they resolve to.

Every cache in the app is keyed by one of these configs: `key()` is a stable
digest of the config's fields, so the same settings always map to the same
stored run, across processes and restarts.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, get_args

import torch

Arch = Literal["net2", "cnn"]
OptimizerName = Literal["sgd", "momentum", "adam"]
DataSource = Literal["mnist-full", "mnist-sample"]

ARCH_LABELS: dict[str, str] = {"net2": "Fully connected (Net2)", "cnn": "Convolutional (CNNDemo)"}
OPTIMIZER_LABELS: dict[str, str] = {"sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam"}

HOME_ENV = "PTCE_HOME"


class ConfigError(ValueError):
    """A config that cannot be trained (zero epochs, a learning rate out of range, ...), from the controls or a file."""


@dataclass(frozen=True)
class TrainBounds:
    """The one set of limits for a TrainConfig: the controls offer nothing outside them, and a config read from disk
    is held to them too (a planted `hidden = 10**9` must never be allocated)."""

    hidden: tuple[int, int] = (1, 512)
    batch_size: tuple[int, int] = (1, 8192)
    epochs: tuple[int, int] = (1, 60)
    lr: tuple[float, float] = (1e-4, 100.0)  # the widest any control offers (the Optimizers page's diverging 100)
    momentum: tuple[float, float] = (0.0, 0.999)
    seed: tuple[int, int] = (0, 9999)


TRAIN_BOUNDS = TrainBounds()


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
    def from_dict(d: object) -> "TrainConfig":
        """The config a dict describes, checked field by field (types, ranges, known names): ConfigError if not."""
        if not isinstance(d, dict) or not isinstance(d.get("model"), dict):
            raise ConfigError("a training config must be an object with a 'model' object")
        d = dict(d)
        for cls, fields_ in ((ModelConfig, d["model"]), (TrainConfig, d)):
            unknown = set(fields_) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ConfigError(f"unknown config fields: {', '.join(sorted(map(str, unknown)))}")
        try:
            d["model"] = ModelConfig(**d["model"])
            cfg = TrainConfig(**d)
        except TypeError as e:
            raise ConfigError(str(e)) from e
        cfg.check()
        return cfg

    def validate(self) -> list[str]:
        """Every problem with this config in plain words (types, ranges, known names); [] when it can be trained."""
        b, problems = TRAIN_BOUNDS, []

        def number(name: str, value: object, kind: type, lo: float, hi: float) -> None:
            ok_type = isinstance(value, kind) and not isinstance(value, bool) if kind is int else \
                isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok_type:
                problems.append(f"{name} must be {'a whole number' if kind is int else 'a number'} (got {value!r})")
            elif not (math.isfinite(value) and lo <= value <= hi):
                problems.append(f"{name} must be between {lo:g} and {hi:g} (got {value:g})")

        if not isinstance(self.model, ModelConfig):
            return [f"model must be a ModelConfig (got {type(self.model).__name__})"]
        if self.model.arch not in ARCH_LABELS:
            problems.append(f"unknown architecture {self.model.arch!r}")
        number("hidden size", self.model.hidden, int, *b.hidden)
        if self.optimizer not in OPTIMIZER_LABELS:
            problems.append(f"unknown optimizer {self.optimizer!r}")
        number("learning rate", self.lr, float, *b.lr)
        number("momentum", self.momentum, float, *b.momentum)
        number("batch size", self.batch_size, int, *b.batch_size)
        number("epochs", self.epochs, int, *b.epochs)
        number("seed", self.seed, int, *b.seed)
        if self.data_source not in get_args(DataSource):
            problems.append(f"unknown data source {self.data_source!r}")
        return problems

    def check(self) -> None:
        """Raise ConfigError naming every problem `validate` finds."""
        problems = self.validate()
        if problems:
            raise ConfigError("; ".join(problems))

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
