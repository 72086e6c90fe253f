"""Estimate what a learner waits for between pressing Train and seeing the result, before it starts: a worker that
may still be starting, the run's set-up (model, data on the device, storing, the page noticing), the optimizer
steps and the evaluation passes, each from something measured: real timed steps now, the stored runs of this
machine, and the runs this server has watched land (`Overheads`)."""
from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from core.atomic import atomic_write_bytes
from core.models.registry import ModelConfig, build_model
from core.optimizers import make_optimizer
from core.training.config import TrainConfig

# Until a server has watched runs land, these stand in (bench/NOTES.md, "estimate vs actual"): a fresh worker
# starts Python, imports torch and decodes the digits; a run's set-up is model, data, storing and the page's rerun.
WORKER_START_S = 4.0
SETUP_S = 1.0


def time_steps(model_cfg: ModelConfig, optimizer: str, batch_size: int, device: torch.device,
               steps: int = 8) -> float:
    """Fastest of `steps` timed forward+backward+step passes on a random (batch_size, 1, 28, 28) batch
    (the minimum is the least disturbed by whatever else the machine is doing)."""
    g = torch.Generator().manual_seed(0)
    model = build_model(model_cfg, g).to(device).train()
    cfg = TrainConfig(model=model_cfg, optimizer=optimizer)  # type: ignore[arg-type]
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, fused=True)
    x = torch.randn(batch_size, 1, 28, 28, generator=g).to(device)  # (B, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,), generator=g).to(device)
    times = []
    for i in range(steps + 2):  # two warm-up steps: allocators, kernels, optimizer state
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return min(times)


def time_eval(model_cfg: ModelConfig, device: torch.device, batch: int = 1000, repeats: int = 3) -> float:
    """Seconds per example of an evaluation pass (forward only, in batches like the loop's), fastest of `repeats`."""
    model = build_model(model_cfg, torch.Generator().manual_seed(0)).to(device).eval()
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)  # (batch, 1, 28, 28)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            F.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long, device=device)).item()
            if i:
                times.append(time.perf_counter() - t0)
    return min(times) / batch


@dataclass(frozen=True)
class PastRun:
    """What one stored run of this machine says about speed (its metrics)."""

    model: ModelConfig
    optimizer: str
    batch_size: int
    samples_per_s: float  # training examples per second of optimizer steps
    eval_per_example_s: float | None  # evaluation seconds per example (runs that record eval_s), else None
    alone: bool  # no other run trained at the same time (concurrent_runs 1 or unknown)


@dataclass(frozen=True)
class Estimate:
    """Seconds from pressing Train to seeing the result, by what they are spent on."""

    wait_s: float  # until a training worker can take the run (a fresh server's workers are still starting)
    setup_s: float  # model built, data on the device, the run stored and the page rerun
    train_s: float  # optimizer steps
    eval_s: float  # validation after each epoch, the test set once
    basis: str  # where the training speed came from, in words

    @property
    def total(self) -> float:
        return self.wait_s + self.setup_s + self.train_s + self.eval_s

    def parts(self) -> str:
        """'8.1 s training + 0.4 s evaluation + 1.0 s set-up' (+ the wait when there is one)."""
        parts = [(self.train_s, "training"), (self.eval_s, "evaluation"), (self.setup_s, "set-up and storing")]
        if self.wait_s >= 0.05:
            parts.append((self.wait_s, "for a training worker to start"))
        return " + ".join(f"{s:.1f} s {what}" for s, what in parts)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def estimate(cfg: TrainConfig, n_train: int, n_val: int, n_test: int, step_s: float, eval_example_s: float,
             past: Sequence[PastRun] = (), wait_s: float = 0.0, setup_s: float = SETUP_S) -> Estimate:
    """The estimate for `cfg` on n_train training / n_val validation / n_test test examples. Training speed: the
    stored runs of the same model, optimizer and batch size on this machine (their real loop, preferably ones that
    trained alone), else `step_s` measured just now; evaluation likewise from runs that recorded it, else
    `eval_example_s` measured now."""
    bs = min(cfg.batch_size, n_train)
    same = [p for p in past if (p.model, p.optimizer, p.batch_size) == (cfg.model, cfg.optimizer, bs)
            and p.samples_per_s > 0]
    same = [p for p in same if p.alone] or same
    speed = _median([p.samples_per_s for p in same])
    if speed is not None:
        train_s = n_train * cfg.epochs / speed
        basis = f"the speed of {len(same)} stored run{'s' if len(same) > 1 else ''} of this model and batch here"
    else:
        train_s = math.ceil(n_train / bs) * cfg.epochs * step_s
        basis = f"{1000 * step_s:.1f} ms per step, measured just now"
    per_example = _median([p.eval_per_example_s for p in same if p.eval_per_example_s]) or eval_example_s
    return Estimate(wait_s, setup_s, train_s, per_example * (n_val * cfg.epochs + n_test), basis)


def past_run(config: TrainConfig, metrics: dict) -> PastRun:
    """A stored run's speed, from its metrics (eval_s, n_val appear in runs stored with a validation split)."""
    eval_s, n_val = metrics.get("eval_s"), metrics.get("n_val")
    per_eval = eval_s / (n_val * config.epochs + metrics["n_test"]) if eval_s and n_val else None
    return PastRun(config.model, config.optimizer, min(config.batch_size, int(metrics["n_train"])),
                   float(metrics["samples_per_s"]), per_eval, int(metrics.get("concurrent_runs", 1)) <= 1)


TIMINGS_FILE = "timings.json"  # under PTCE_HOME: how long this machine's training workers took to start
_KEEP = 10


def load_start_times(path: Path) -> list[float]:
    """Worker start times saved on this machine by earlier servers. A file from outside: anything but a small
    {"worker_start_s": [numbers in 0..600]} is ignored."""
    try:
        if path.stat().st_size > 4096:
            return []
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return []
    values = raw.get("worker_start_s") if isinstance(raw, dict) else None
    if not isinstance(values, list):
        return []
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v) and 0 < v <= 600][-_KEEP:]


def save_start_times(path: Path, times: Sequence[float]) -> None:
    """Keep the last few worker start times for the next server (atomic; a read-only home just keeps none)."""
    try:
        atomic_write_bytes(path, json.dumps({"worker_start_s": [round(t, 3) for t in times[-_KEEP:]]}).encode())
    except OSError:
        pass


def worker_wait(starting_s: float | None, start_times: Sequence[float]) -> float:
    """Seconds a run submitted now waits for a worker to finish starting: 0 when one is ready (`starting_s` None),
    else how long workers took to start on this server (WORKER_START_S until one has) less the time this one has had
    (core.runs.jobs.Jobs.starting_s and .start_s)."""
    if starting_s is None:
        return 0.0
    return max(0.0, (_median(start_times[-5:]) or WORKER_START_S) - starting_s)


class Overheads:
    """What this server learns from the runs it watches land on a ready worker: the seconds between the Train press
    and the result beyond the run's own loop (set-up, storing, the page noticing). Lists in one process."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def setup_s(self) -> float:
        """The median overhead seen, with the bench's SETUP_S counted as one more observation (one run is noise)."""
        return statistics.median([SETUP_S, *self.seen[-20:]])

    def observe(self, submitted: float, landed: float, loop_s: float) -> None:
        """One run that landed `landed - submitted` seconds after its Train press; its loop took `loop_s`."""
        self.seen.append(max(0.0, landed - submitted - loop_s))
