"""Trainers for tests/test_jobs.py and tests/test_app.py, run inside worker processes.

They are module-level functions (a spawned worker imports them by name) registered in a test
pool's trainer table next to the real one, keyed by the config classes below.
"""
from __future__ import annotations

import math
import os
import signal
import time
from dataclasses import dataclass

from core.runs.kinds import KINDS, trainers
from core.training.config import TrainConfig
from core.training.record import Progress


@dataclass(frozen=True)
class HangConfig(TrainConfig):
    """Reports one step, then trains "forever": only Stop ends it."""


@dataclass(frozen=True)
class CrashConfig(TrainConfig):
    """The worker process dies mid-run, as when the kernel's out-of-memory killer picks it (SIGKILL where the
    platform has it; elsewhere the hardest kill it has)."""


def hang(ctx, cfg, on_progress) -> None:
    on_progress(Progress(1, 10**6, 1, [2.3], 0.0))
    time.sleep(3600)


def midway(ctx, cfg, on_progress) -> None:
    """Reports 50 of 500 steps taken in 5 s of epoch 1, then trains "forever": a run frozen half-way."""
    on_progress(Progress(50, 500, 1, [2.3] * 50, 5.0))
    time.sleep(3600)


def crash(ctx, cfg, on_progress) -> None:
    on_progress(Progress(1, 100, 1, [2.3], 0.0))
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def nan_loss(ctx, cfg, on_progress):
    """The real trainer with a loss forced to NaN (no slider setting of Net2 reliably gives one)."""
    import core.training.loop

    real = core.training.loop.F.cross_entropy
    core.training.loop.F.cross_entropy = lambda *a, **k: real(*a, **k) * math.nan
    try:
        return KINDS["mnist"].train(ctx, cfg, on_progress)
    finally:
        core.training.loop.F.cross_entropy = real


TEST_TRAINERS = {**trainers(), HangConfig: hang, CrashConfig: crash}
NAN_TRAINERS = {**trainers(), TrainConfig: nan_loss}
HANG_TRAINERS = {TrainConfig: hang}  # every run hangs: a page test sees the queue without training anything
MIDWAY_TRAINERS = {TrainConfig: midway}  # every run stops reporting at step 50 of 500
