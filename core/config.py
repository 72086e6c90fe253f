"""The small shared pieces of every config: errors, stable keys, typed fields from files, paths and device.

Every cache in the app is keyed by a frozen config whose `key()` is a stable digest of its fields, so the same
settings always map to the same stored run, across processes and restarts. The configs themselves live with
their concept: ModelConfig in core.models.registry, TrainConfig in core.training.config, TransferConfig and
FeatureConfig in core.transfer.config.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import ClassVar, TypeVar

import torch

from core.errors import InputError

HOME_ENV = "PTCE_HOME"


class ConfigError(InputError):
    """A config that cannot be trained (zero epochs, a learning rate out of range, ...), from the controls or a file."""


class Checked:
    """A config that lists what is wrong with it in plain words (`problems()`, [] when it can be used) and raises
    all of it at once (`check()`): one verb for each, on every config class."""

    def problems(self) -> list[str]:
        raise NotImplementedError

    def check(self) -> None:
        """Raise ConfigError naming every problem `problems` finds."""
        problems = self.problems()
        if problems:
            raise ConfigError("; ".join(problems))

    def out_of_range(self, bounds: dict[str, tuple[int, int]], rates: tuple[str, ...] = ()) -> list[str]:
        """Problems of whole-number fields outside their (lo, hi) bounds and of `rates` (learning rates) that are
        not finite numbers in (0, 10]."""
        p = [f"{name} must be in {lo}..{hi} (got {getattr(self, name)})"
             for name, (lo, hi) in bounds.items() if not lo <= getattr(self, name) <= hi]
        return p + [f"{name} must be a positive number up to 10 (got {getattr(self, name)})" for name in rates
                    if not (math.isfinite(getattr(self, name)) and 0 < getattr(self, name) <= 10)]


def digest(obj: object) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def typed_fields(cls: type, d: object, what: str) -> dict:
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


F = TypeVar("F", bound="FlatConfig")


class FlatConfig(Checked):
    """A frozen dataclass config of plain fields (int, float, str), stored under its `kind`: key, dict and a strict
    `from_dict` that takes exactly its fields with their types, then its bounds (files are hostile)."""

    kind: ClassVar[str]

    def key(self) -> str:
        return digest({"kind": self.kind, **self.to_dict()})

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[F], d: object) -> F:
        cfg = cls(**typed_fields(cls, d, f"{cls.kind} config"))
        cfg.check()
        return cfg
