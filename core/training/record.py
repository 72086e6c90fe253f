"""What training produces and the store keeps: the run (config, weights, history, metrics, status) and its progress.

The trainer, the store, the jobs and the pages all read these types; nothing here trains or touches disk.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch

Status = Literal["ok", "did-not-learn", "diverged"]
STATUS_LABELS: dict[str, str] = {"ok": "trained", "did-not-learn": "did not learn", "diverged": "diverged"}


STORABLE: frozenset[str] = frozenset({"ok", "did-not-learn"})  # a diverged run is never stored


class StoredConfig(Protocol):
    def key(self) -> str: ...
    def to_dict(self) -> dict: ...
    def label(self) -> str: ...


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
    stage: str = ""  # "" while training; "features": a frozen backbone's one pass, step/total_steps count images


OnProgress = Callable[[Progress], None]  # a trainer reports to this


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
    val_acc: list[float] = field(default_factory=list)  # one per epoch, or none: a run without accuracy (regression)

    def to_dict(self) -> dict:
        return {"step_loss": self.step_loss, "steps_per_epoch": self.steps_per_epoch,
                "val_loss": self.val_loss, "val_acc": self.val_acc}

    @staticmethod
    def from_dict(d: object) -> History:
        """A finished run's history, checked: finite values, one validation point per epoch (an accuracy per epoch,
        or none at all), whole epochs."""
        if not isinstance(d, dict) or set(d) != {"step_loss", "steps_per_epoch", "val_loss", "val_acc"}:
            raise RecordError("history must be an object with step_loss, steps_per_epoch, val_loss, val_acc")
        spe = d["steps_per_epoch"]
        if isinstance(spe, bool) or not isinstance(spe, int) or not 1 <= spe <= 10_000_000:
            raise RecordError(f"history.steps_per_epoch must be a whole number >= 1 (got {spe!r})")
        h = History(_finite_list(d, "step_loss", 0.0), spe, _finite_list(d, "val_loss", 0.0),
                    _finite_list(d, "val_acc", 0.0, 1.0))
        if len(h.val_acc) not in (len(h.val_loss), 0) or len(h.step_loss) != spe * len(h.val_loss):
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
