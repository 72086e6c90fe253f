"""The run record: what training produces and the store keeps (config, history, metrics, status, weights).

The trainer, the store, the jobs and the pages all read these types; nothing here trains or touches disk.
`parse_record` is the ONE schema check of a `run.json` read from disk: every field is type- and
range-checked, and anything that does not pass is a `RecordError` (the store treats it as a corrupt run).

Configs of several kinds can be stored: a record carries `"kind"` (absent = the MNIST `TrainConfig`), and
`CONFIG_KINDS` maps each kind to its config class (a class with `key()`, `to_dict()`, `from_dict()` that
validates, and `label()`). A new kind (a transfer-learning config, a layer-builder model) is one more entry.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch

from core.config import ConfigError, FeatureConfig, TrainConfig, TransferConfig

Status = Literal["ok", "did-not-learn", "diverged"]
STATUS_LABELS: dict[str, str] = {"ok": "trained", "did-not-learn": "did not learn", "diverged": "diverged"}
STORABLE: frozenset[str] = frozenset({"ok", "did-not-learn"})  # a diverged run is never stored
FORMAT = 1


class StoredConfig(Protocol):
    def key(self) -> str: ...
    def to_dict(self) -> dict: ...
    def label(self) -> str: ...


# kind -> config class with a validating from_dict. "features": a frozen backbone's stored (N, 512) features.
CONFIG_KINDS: dict[str, type] = {"mnist": TrainConfig, "transfer": TransferConfig, "features": FeatureConfig}
DEFAULT_KIND = "mnist"  # records written before kinds existed


def kind_of(config: StoredConfig) -> str:
    for kind, cls in CONFIG_KINDS.items():
        if type(config) is cls:
            return kind
    raise TypeError(f"no stored kind for {type(config).__name__}; add it to CONFIG_KINDS")


@dataclass(frozen=True)
class Progress:
    """Handed to `on_progress` every `report_s` seconds (or `report_every` steps) and at each epoch end."""

    step: int  # steps done so far
    total_steps: int
    epoch: int  # 1-based epoch the step belongs to
    new_losses: list[float]  # train losses of the steps since the last report
    elapsed_s: float
    val_loss: float | None = None  # set at epoch ends
    val_acc: float | None = None


class RecordError(ValueError):
    """A record read from disk that does not match the schema (the message says which field and why)."""


def _finite_list(d: dict, name: str, lo: float, hi: float = math.inf) -> list[float]:
    values = d.get(name)
    if not isinstance(values, list):
        raise RecordError(f"history.{name} must be a list")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and lo <= v <= hi):
            raise RecordError(f"history.{name} holds {v!r}: not a finite number in [{lo:g}, {hi:g}]")
        out.append(float(v))
    return out


@dataclass
class History:
    step_loss: list[float] = field(default_factory=list)  # one per optimizer step
    steps_per_epoch: int = 0
    val_loss: list[float] = field(default_factory=list)  # one per epoch
    val_acc: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"step_loss": self.step_loss, "steps_per_epoch": self.steps_per_epoch,
                "val_loss": self.val_loss, "val_acc": self.val_acc}

    @staticmethod
    def from_dict(d: object) -> History:
        """A finished run's history, checked: finite values, one validation point per epoch, whole epochs."""
        if not isinstance(d, dict) or set(d) != {"step_loss", "steps_per_epoch", "val_loss", "val_acc"}:
            raise RecordError("history must be an object with step_loss, steps_per_epoch, val_loss, val_acc")
        spe = d["steps_per_epoch"]
        if isinstance(spe, bool) or not isinstance(spe, int) or not 1 <= spe <= 10_000_000:
            raise RecordError(f"history.steps_per_epoch must be a whole number >= 1 (got {spe!r})")
        h = History(_finite_list(d, "step_loss", 0.0), spe, _finite_list(d, "val_loss", 0.0),
                    _finite_list(d, "val_acc", 0.0, 1.0))
        if len(h.val_acc) != len(h.val_loss) or len(h.step_loss) != spe * len(h.val_loss):
            raise RecordError(f"history lengths disagree: {len(h.step_loss)} steps, {spe} per epoch, "
                              f"{len(h.val_loss)} validation losses, {len(h.val_acc)} accuracies")
        return h


@dataclass
class Run:
    config: StoredConfig
    state: dict[str, torch.Tensor]  # trained weights, CPU
    history: History
    metrics: dict[str, float | str]  # see METRICS
    status: Status = "ok"
    reason: str = ""  # why training stopped early or did not learn, in plain words


# ---------------------------------------------------------------- the schema of run.json
def _number(lo: float, hi: float = math.inf) -> Callable[[object], bool]:
    return lambda v: not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi


def _whole(lo: int) -> Callable[[object], bool]:
    return lambda v: not isinstance(v, bool) and isinstance(v, int) and lo <= v


def _short_text(v: object) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 80


# name -> (check, required). Optional ones are written by other kinds of training (transfer learning).
METRICS: dict[str, tuple[Callable[[object], bool], bool]] = {
    "test_acc": (_number(0.0, 1.0), True),
    "test_loss": (_number(0.0), True),
    "train_s": (_number(0.0), True),
    "wall_s": (_number(0.0), True),
    "samples_per_s": (_number(0.0), True),
    "device": (_short_text, True),
    "n_train": (_whole(1), True),
    "n_test": (_whole(1), True),
    "trainable_params": (_whole(0), False),
    "images_per_s": (_number(0.0), False),
    "concurrent_runs": (_whole(1), False),  # most runs training at once in this process while it trained (itself too)
    "features_s": (_number(0.0), False),  # feature extraction: the one backbone pass
}
NO_ACCURACY_KINDS = frozenset({"features"})  # records that hold no trained classifier: no test_acc / test_loss
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"format", "kind", "config", "history", "metrics", "created", "status", "weights_sha256"}


def check_metrics(metrics: object, kind: str = DEFAULT_KIND) -> dict:
    if not isinstance(metrics, dict):
        raise RecordError("metrics must be an object")
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise RecordError(f"unknown metrics: {', '.join(sorted(map(str, unknown)))}")
    for name, (ok, required) in METRICS.items():
        if name not in metrics:
            if required and not (kind in NO_ACCURACY_KINDS and name in ("test_acc", "test_loss")):
                raise RecordError(f"metrics.{name} is missing")
        elif not ok(metrics[name]):
            raise RecordError(f"metrics.{name} has an invalid value {metrics[name]!r}")
    return dict(metrics)


@dataclass(frozen=True)
class Record:
    """A `run.json`, validated: everything about a stored run except the weights themselves."""

    kind: str
    config: StoredConfig
    history: History
    metrics: dict
    created: float  # unix time the run was stored
    status: Status
    weights_sha256: str

    def to_dict(self) -> dict:
        d = {"format": FORMAT, "config": self.config.to_dict(), "history": self.history.to_dict(),
             "metrics": self.metrics, "created": self.created, "status": self.status,
             "weights_sha256": self.weights_sha256}
        return d if self.kind == DEFAULT_KIND else {**d, "kind": self.kind}


def parse_record(obj: object) -> Record:
    """The one schema check of a record read from disk; RecordError names the first defect found."""
    if not isinstance(obj, dict):
        raise RecordError(f"run.json must hold an object, not {type(obj).__name__}")
    unknown = set(obj) - _FIELDS
    if unknown:
        raise RecordError(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    if obj.get("format") != FORMAT or isinstance(obj.get("format"), bool):
        raise RecordError(f"unknown format {obj.get('format')!r}")
    kind = obj.get("kind", DEFAULT_KIND)
    if not isinstance(kind, str) or kind not in CONFIG_KINDS:
        raise RecordError(f"unknown kind {kind!r}")
    try:
        config = CONFIG_KINDS[kind].from_dict(obj.get("config"))
    except (ConfigError, ValueError, TypeError) as e:  # e.g. ModelConfig's ValueError for an unknown architecture
        raise RecordError(f"invalid config: {e}") from e
    history = History.from_dict(obj.get("history"))
    epochs = getattr(config, "epochs", None)
    if isinstance(epochs, int) and len(history.val_loss) != epochs:
        raise RecordError(f"history has {len(history.val_loss)} epochs, the config {epochs}")
    metrics = check_metrics(obj.get("metrics"), kind)
    created = obj.get("created")
    if not _number(0.0)(created):
        raise RecordError(f"created must be a finite timestamp (got {created!r})")
    status = obj.get("status", "ok")
    if not isinstance(status, str) or status not in STORABLE:
        raise RecordError(f"status must be one of {sorted(STORABLE)} (got {status!r})")
    sha = obj.get("weights_sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise RecordError("weights_sha256 must be 64 lowercase hex digits")
    return Record(kind, config, history, metrics, float(created), status, sha)
