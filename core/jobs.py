"""Training runs in background threads, one per config, shared by every session.

A page starts a job and polls it; a rerun of the page (a slider moved, another
page opened) does not interrupt training, and two sessions that ask for the
same config get the same job. The run is stored by `RunStore.get_or_train`,
whose file lock also covers other processes.
"""
from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from core.config import TrainConfig
from core.store import RunStore
from core.record import Progress, Run


class Cancelled(Exception):
    """Raised inside the training loop when the learner presses Stop."""


@dataclass
class Job:
    config: TrainConfig
    step_loss: list[float] = field(default_factory=list)  # grows while training
    total_steps: int = 0
    epoch: int = 0
    elapsed_s: float = 0.0
    val_acc: list[float] = field(default_factory=list)
    run: Run | None = None
    trained: bool = False  # False when the run came from the store (another process trained it)
    error: str = ""  # plain-words reason when the job failed or was cancelled
    cancel_requested: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def fraction(self) -> float:
        return len(self.step_loss) / self.total_steps if self.total_steps else 0.0

    def on_progress(self, p: Progress) -> None:
        if self.cancel_requested:
            raise Cancelled()
        self.step_loss.extend(p.new_losses)
        self.total_steps, self.epoch, self.elapsed_s = p.total_steps, p.epoch, p.elapsed_s
        if p.val_acc is not None:
            self.val_acc.append(p.val_acc)


class Jobs:
    """Registry of training jobs by config key. Thread-safe."""

    def __init__(self, store: RunStore, keep_finished: int = 32) -> None:
        self.store = store
        self.keep_finished = keep_finished
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, cfg: TrainConfig) -> Job | None:
        with self._lock:
            return self._jobs.get(cfg.key())

    def start(self, cfg: TrainConfig, train: Callable[[Callable[[Progress], None]], Run]) -> Job:
        """Start training `cfg` unless a job for it is already running; `train(on_progress)` -> Run."""
        with self._lock:
            job = self._jobs.get(cfg.key())
            if job is not None and not job.done.is_set():
                return job
            job = Job(cfg)
            self._jobs[cfg.key()] = job
            self._forget_old()
        threading.Thread(target=self._work, args=(job, train), name=f"train-{cfg.key()}", daemon=True).start()
        return job

    def _work(self, job: Job, train: Callable[[Callable[[Progress], None]], Run]) -> None:
        try:
            job.run, job.trained = self.store.get_or_train(job.config, lambda: train(job.on_progress))
            if job.run.status != "ok":
                job.error = job.run.reason
        except Cancelled:
            job.error = "Training was stopped before it finished; nothing was saved."
        except Exception as e:  # noqa: BLE001 - report, never kill the server
            job.error = f"Training failed: {e}"
            traceback.print_exc()
        finally:
            job.done.set()

    def wait_all(self, timeout_s: float = 120.0) -> bool:
        """Wait until every job has finished; False if one is still running after `timeout_s` each."""
        with self._lock:
            jobs = list(self._jobs.values())
        return all(job.done.wait(timeout_s) for job in jobs)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Ask every running job to stop and wait for it (nothing half-trained is stored)."""
        with self._lock:
            running = [j for j in self._jobs.values() if not j.done.is_set()]
        for job in running:
            job.cancel_requested = True
        for job in running:
            job.done.wait(timeout_s)

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.done.is_set()]
        for k in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[k]
