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
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args

import torch

from core.errors import InputError
from core.models import ARCHITECTURES, architecture
from core.optimizers import OPTIMIZER_LABELS

Arch = str  # a key of core.models.ARCHITECTURES (validated by ModelConfig)
OptimizerName = Literal["sgd", "momentum", "adam"]
DataSource = Literal["mnist-full", "mnist-sample"]

ARCH_LABELS: dict[str, str] = {key: a.label for key, a in ARCHITECTURES.items()}

HOME_ENV = "PTCE_HOME"


class ConfigError(InputError):
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


def _typed_fields(cls: type, d: object, what: str) -> dict:
    """The fields of dataclass `cls` from a dict read from disk: exactly its fields, each of its declared type
    (int, float or str; bools refused), or ConfigError."""
    if not isinstance(d, dict):
        raise ConfigError(f"a {what} must be an object, got {type(d).__name__}")
    names = {f.name: f.type for f in fields(cls)}
    if set(d) != set(names):
        raise ConfigError(f"{what} fields differ: {sorted(map(str, set(d) ^ set(names)))}")
    kinds = {"int": int, "float": (int, float), "str": str}
    out = {}
    for name, tp in names.items():
        v = d[name]
        if isinstance(v, bool) or not isinstance(v, kinds.get(tp, str)):
            raise ConfigError(f"{what} field {name!r} has the wrong type ({type(v).__name__})")
        out[name] = float(v) if tp == "float" else v
    return out


@dataclass(frozen=True)
class TransferConfig:
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

    def key(self) -> str:
        return _digest({"kind": "transfer", **self.to_dict()})

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: object) -> TransferConfig:
        """Strict: exactly the fields, with their types and bounds; ConfigError otherwise (files are hostile)."""
        cfg = TransferConfig(**_typed_fields(TransferConfig, d, "transfer config"))
        cfg.validate()
        return cfg

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
        for name, (lo, hi) in bounds.items():
            if not lo <= getattr(self, name) <= hi:
                p.append(f"{name} must be in {lo}..{hi} (got {getattr(self, name)})")
        for name in ("head_lr", "backbone_lr"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 < v <= 10):
                p.append(f"{name} must be a positive number up to 10 (got {v})")
        if self.resolution not in TRANSFER_RESOLUTIONS:
            p.append(f"resolution must be one of {TRANSFER_RESOLUTIONS} (got {self.resolution})")
        if self.strategy == "scratch" and self.weights != "random":
            p.append("'from scratch' starts from random weights: set weights to 'random'")
        if self.task == "source" and (self.source != "digits" or self.strategy != "scratch"):
            p.append("the source task is pretraining on digits 0-4 from scratch (source 'digits', strategy 'scratch')")
        return p

    def validate(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError("; ".join(problems))

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
class FeatureConfig:
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

    def key(self) -> str:
        return _digest({"kind": "features", **self.to_dict()})

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: object) -> FeatureConfig:
        cfg = FeatureConfig(**_typed_fields(FeatureConfig, d, "feature config"))
        problems = cfg.problems()
        if problems:
            raise ConfigError("; ".join(problems))
        return cfg

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
