"""The one schema check of a `run.json` read from disk (`parse_record`).

Every field is type- and range-checked, and anything that does not pass is a `RecordError`, which the store
treats as a corrupt run and an import refuses. Ranges are those a page can show, not only those the type allows:
a date from 1970 to the year 9999 (what the calendar functions can write), durations, rates and counts no run
reaches; a record outside them was not written by this app, and is refused with the field and value named.
A record carries `"kind"` (absent: the MNIST TrainConfig); the kind's entry in core.runs.kinds.KINDS names the
config class that validates its `config`.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from core.config import ConfigError
from core.runs.kinds import DEFAULT_KIND, KINDS
from core.training.record import STORABLE, History, RecordError, Status, StoredConfig

FORMAT = 1
EARLIEST, LATEST = 0.0, 253_402_214_400.0  # `created`: 1970-01-01 and 9999-12-31 UTC, dates every calendar writes
MAX_SECONDS = 1e8  # a duration (about three years of training)
MAX_RATE = 1e12  # samples or images per second
MAX_COUNT = 10**12  # parameters, images


# ---------------------------------------------------------------- the schema of run.json
def _number(lo: float, hi: float = math.inf) -> Callable[[object], bool]:
    return lambda v: not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi


def _whole(lo: int, hi: int = MAX_COUNT) -> Callable[[object], bool]:
    return lambda v: not isinstance(v, bool) and isinstance(v, int) and lo <= v <= hi


def _shown(v: object) -> str:
    """A value from a file, as an error message quotes it (a 400-digit number is cut, not printed)."""
    text = repr(v)
    return text if len(text) <= 40 else text[:39] + "…"


def _short_text(v: object) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 80


# name -> (check, required). Optional ones are written by other kinds of training (transfer learning).
METRICS: dict[str, tuple[Callable[[object], bool], bool]] = {
    "test_acc": (_number(0.0, 1.0), True),
    "test_loss": (_number(0.0), True),  # any finite loss: a run that did not learn is kept with its own
    "train_s": (_number(0.0, MAX_SECONDS), True),
    "wall_s": (_number(0.0, MAX_SECONDS), True),
    "samples_per_s": (_number(0.0, MAX_RATE), True),
    "device": (_short_text, True),
    "n_train": (_whole(1), True),
    "n_test": (_whole(1), True),
    "trainable_params": (_whole(0), False),
    "images_per_s": (_number(0.0, MAX_RATE), False),
    "concurrent_runs": (_whole(1, 10_000), False),  # most runs training at once in this process while it trained
    "features_s": (_number(0.0, MAX_SECONDS), False),  # feature extraction: the one backbone pass
    # A validation split held out of the training data (core.training.validation): its size. Present: history's
    # val_* are validation curves; absent (runs stored before it): they are the test set, evaluated every epoch.
    "n_val": (_whole(1), False),
    "eval_s": (_number(0.0, MAX_SECONDS), False),  # seconds evaluating (validation each epoch, the final test)
}


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
            if required and not (name in ("test_acc", "test_loss") and not KINDS[kind].has_accuracy):
                raise RecordError(f"metrics.{name} is missing")
        elif not ok(metrics[name]):
            raise RecordError(f"metrics.{name} has an invalid value {_shown(metrics[name])}")
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
        raise RecordError(f"unknown format {_shown(obj.get('format'))}")
    kind = obj.get("kind", DEFAULT_KIND)
    if not isinstance(kind, str) or kind not in KINDS:
        raise RecordError(f"unknown kind {_shown(kind)}")
    try:
        config = KINDS[kind].config.from_dict(obj.get("config"))
    except (ConfigError, ValueError, TypeError) as e:  # e.g. ModelConfig's ValueError for an unknown architecture
        raise RecordError(f"invalid config: {e}") from e
    history = History.from_dict(obj.get("history"))
    epochs = getattr(config, "epochs", None)
    if isinstance(epochs, int) and len(history.val_loss) != epochs:
        raise RecordError(f"history has {len(history.val_loss)} epochs, the config {epochs}")
    metrics = check_metrics(obj.get("metrics"), kind)
    created = obj.get("created")
    if not _number(EARLIEST, LATEST)(created):
        raise RecordError(f"created must be a date from 1970 to the year 9999 (got {_shown(created)})")
    status = obj.get("status", "ok")
    if not isinstance(status, str) or status not in STORABLE:
        raise RecordError(f"status must be one of {sorted(STORABLE)} (got {_shown(status)})")
    sha = obj.get("weights_sha256")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise RecordError("weights_sha256 must be 64 lowercase hex digits")
    return Record(kind, config, history, metrics, float(created), status, sha)
