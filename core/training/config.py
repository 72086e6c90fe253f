"""TrainConfig: everything that determines an MNIST training run, its bounds, defaults and page address."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

from core.config import Checked, ConfigError, digest
from core.data.mnist import DataSource
from core.models.registry import ARCH_LABELS, Arch, ModelConfig, architecture
from core.optimizers import OPTIMIZER_LABELS

OptimizerName = Literal["sgd", "momentum", "adam"]


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


@dataclass(frozen=True)
class TrainConfig(Checked):
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
        return digest(self.to_dict())

    def to_dict(self) -> dict:
        return {**asdict(self), "model": self.model.to_dict()}

    @staticmethod
    def from_dict(d: object) -> TrainConfig:
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
        except (TypeError, ValueError) as e:  # missing fields, or a model spec the registry refuses
            raise ConfigError(str(e)) from e
        cfg.check()
        return cfg

    def problems(self) -> list[str]:
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


# TrainConfig field -> its parameter in a page's address (/fully_connected?hidden=64&opt=adam&lr=0.01&bs=64&ep=5&seed=0)
ADDRESS: dict[str, str] = {"hidden": "hidden", "optimizer": "opt", "lr": "lr", "batch_size": "bs", "epochs": "ep",
                           "seed": "seed"}
STACK_PARAM = "stack"  # a built model's layer stack, its ModelConfig.spec (the Layer shapes page's address)


def address(cfg: TrainConfig) -> dict[str, str]:
    """The page-address settings that reproduce `cfg` on the page that trains it."""
    values = {"hidden": cfg.model.hidden, "optimizer": cfg.optimizer, "lr": f"{cfg.lr:g}", "batch_size": cfg.batch_size,
              "epochs": cfg.epochs, "seed": cfg.seed}
    if not architecture(cfg.model.arch).uses_hidden:
        del values["hidden"]
    out = {ADDRESS[name]: str(v) for name, v in values.items()}
    return {STACK_PARAM: cfg.model.spec, **out} if cfg.model.spec else out
