"""Training in worker processes: a bounded pool, started once per server and kept warm.

The seam is small: `Jobs.submit(config) -> Job`; the job's progress streams back;
the finished run lands in the store (`RunStore.get_or_train`, whose per-key file
lock also makes two servers sharing a store train a config once). A classroom
deployment could put a job engine behind the same three calls (README).

Why processes: a training thread in the web server competes with every session's
rerun for the interpreter (six sessions watching made a 2 s run take 5-10 min).
Workers are fresh interpreters (`python -m core.runs.worker`, like a `spawn` start but
without re-importing the server's `__main__`, which inside Streamlit is a page
script; never a fork of the threaded server with torch loaded). Progress comes
back on each worker's own connection (a local socket with a random auth key, see
core.runs.worker: the same on Linux, macOS and Windows), read by one thread of
the server: no polling of files and no per-report disk writes, and killing a
worker (Stop, a crash) can break only its own connection, never a queue shared
with the others.
Stop kills the worker at once and replaces it; nothing is stored. Jobs beyond
the pool's size wait in a queue whose position the page shows.
Two sessions asking for the same config share one job.

Which function trains which config comes from the one run-kind table
(core.runs.kinds.KINDS): a new kind of run brings its trainer in its entry.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing import AuthenticationError, Pipe
from multiprocessing.connection import Client, Connection, wait
from typing import Any, Literal

import torch

from core.config import ConfigError, Paths, default_device
from core.data.mnist import MNISTData, load_mnist
from core.runs import kinds
from core.runs.kinds import Trainer
from core.runs.store import RunStore
from core.training.record import OnProgress, Progress, Run

# OMP_WAIT_POLICY inside workers: spinning threads win on idle cores but collapse when anything else wants them,
# and a server with sessions is never idle (bench/NOTES.md).
WORKER_OMP_WAIT_POLICY = "PASSIVE"
WORKER_OMP_ENV = "PTCE_WORKER_OMP"  # overrides it (the bench measures both)
STOPPED = "Training was stopped before it finished; nothing was saved."


class WorkerContext:
    """What a worker process keeps between jobs: its device, the store, and the data, decoded once at its
    start (before any job, so a warm worker trains at once). A config for a source that is not on disk
    fails in `fit` with a plain-words message."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.device = default_device()
        self.store = RunStore(paths.runs)
        self.mnist: MNISTData = load_mnist(paths, allow_download=False)


def failure_text(error: BaseException) -> str:
    """A worker-side exception in plain words."""
    text = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "can't allocate memory" in text \
            or "out of memory" in text.lower():
        return ("This model needs more memory than the training worker can get, so it was not trained and "
                f"nothing was saved. Choose fewer hidden units or a smaller batch. (PyTorch said: {text})")
    if isinstance(error, ConfigError):
        return f"These settings can't be trained: {text}."
    return f"Training failed: {text}. Nothing was saved."


def crash_text(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:  # POSIX: killed by a signal (Windows reports exit codes only)
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        killed = getattr(signal, "SIGKILL", None)  # POSIX only: the out-of-memory killer's signal
        cause = (" That usually means the machine ran out of memory for this model: try fewer hidden units."
                 if -exitcode == killed else "")
        how = f"was killed ({name}).{cause}"
    else:
        how = f"stopped unexpectedly (exit code {exitcode})."
    return f"The training worker process {how} Nothing was saved; the app keeps running and a new worker is ready."


def with_company(store: RunStore, train: Callable[[OnProgress], Run],
                 send: OnProgress) -> Run:
    """Run `train(on_progress)` (the caller holds the config's store lock) and record in the run's metrics how many
    runs were training on this store at once, itself included (`concurrent_runs`, the most seen at its start, at
    each epoch end and at its end): its train time includes theirs. Counted from the store's held locks, so runs
    in other workers and other servers sharing the store count too."""
    peak = len(store.busy_keys())

    def on_progress(p: Progress) -> None:
        nonlocal peak
        if p.val_loss is not None:  # epoch ends only: a few cheap lock probes per run
            peak = max(peak, len(store.busy_keys()))
        send(p)

    run = train(on_progress)
    run.metrics["concurrent_runs"] = max(1, peak, len(store.busy_keys()))
    return run


@dataclass(frozen=True)
class WorkerSetup:
    """Sent to each worker once, after its environment is set: everything it needs to train."""

    paths: Paths
    threads: int
    trainers: Mapping[type, Trainer]

    def configure(self) -> None:
        torch.set_num_threads(self.threads)

    def context(self) -> WorkerContext:
        return WorkerContext(self.paths)

    def run(self, ctx: WorkerContext, key: str, config: Any, send: OnProgress) -> tuple:
        """Train (or load) `config` in this worker; the message for the server."""
        trainer = self.trainers.get(type(config))
        if trainer is None:
            return "failed", key, f"Training failed: no trainer for {type(config).__name__}."
        try:
            run, trained = ctx.store.get_or_train(
                config, lambda: with_company(ctx.store, lambda progress: trainer(ctx, config, progress), send))
        except Exception as e:  # noqa: BLE001 - reported to the learner; the worker keeps serving
            return "failed", key, failure_text(e)
        return "done", key, {"status": run.status, "reason": run.reason, "trained": trained, "metrics": run.metrics}


JobState = Literal["queued", "running", "done"]


@dataclass(eq=False)
class Job:
    """The server's handle on one submitted config; updated by the pool's reader thread."""

    config: Any
    key: str
    state: JobState = "queued"
    step_loss: list[float] = field(default_factory=list)  # grows while training
    total_steps: int = 0
    epoch: int = 0
    elapsed_s: float = 0.0
    val_acc: list[float] = field(default_factory=list)
    status: str = ""  # status of the finished run ("ok", "diverged"); "" when there is none
    trained: bool = False  # False when the run came from the store (someone else trained it)
    metrics: dict = field(default_factory=dict)
    error: str = ""  # plain-words reason when the job failed, crashed or was stopped
    stage: str = ""  # a step before training proper ("features": the frozen backbone's pass), "" once training
    stage_done: int = 0  # images of that stage done so far, of stage_total
    stage_total: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    reported: threading.Event = field(default_factory=threading.Event)  # set by the first progress report

    @property
    def fraction(self) -> float:
        return min(1.0, len(self.step_loss) / self.total_steps) if self.total_steps else 0.0

    def _progress(self, p: Progress) -> None:
        self.elapsed_s = p.elapsed_s
        if p.stage:  # a stage before training: its own counts, the training's are untouched
            self.stage, self.stage_done, self.stage_total = p.stage, p.step, p.total_steps
            return
        self.stage = ""
        self.step_loss.extend(p.new_losses)
        self.total_steps, self.epoch, self.elapsed_s = p.total_steps, p.epoch, p.elapsed_s
        if p.val_acc is not None:
            self.val_acc.append(p.val_acc)
        self.reported.set()

    def _finish(self, error: str = "") -> None:
        self.error = error
        self.state = "done"
        self.done.set()


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen  # python -m core.runs.worker
    authkey: bytes  # sent on its stdin; it listens with it
    conn: Connection | None = None  # set by the reader thread once the worker has started listening
    spawned: float = field(default_factory=time.monotonic)
    ready: bool = False  # its data decoded: a job sent now starts at once
    job: Job | None = None
    retiring: bool = False  # killed by Stop or told to exit: no new job; replaced once exited, unless shut down


def worker_interpreter(platform: str = sys.platform) -> tuple[str, dict[str, str]]:
    """The Python a worker runs in, and what its environment needs. In a Windows virtual environment python.exe
    is a launcher that runs the real interpreter as its own child, which would hold the worker's stdin open after
    the server died and outlive a Stop; like `multiprocessing`, start the base interpreter and name the venv."""
    base = getattr(sys, "_base_executable", sys.executable)
    if platform == "win32" and os.path.normcase(base) != os.path.normcase(sys.executable):
        return base, {"__PYVENV_LAUNCHER__": sys.executable}
    return sys.executable, {}


def pool_size(cpus: int | None = None) -> int:
    """Workers for this machine: half the cores (each worker's threads get two), at least one."""
    return max(1, (cpus or os.cpu_count() or 1) // 2)


class Jobs:
    """The pool: `submit`, `get`, `position`, `stop`. Thread-safe; one per server process."""

    def __init__(self, paths: Paths, size: int | None = None, trainers: Mapping[type, Trainer] | None = None,
                 omp_wait_policy: str | None = None, keep_finished: int = 32) -> None:
        self.size = size or pool_size()
        threads = max(1, (os.cpu_count() or 1) // self.size)
        self._setup = WorkerSetup(paths, threads, dict(trainers or kinds.trainers()))
        policy = omp_wait_policy or os.environ.get(WORKER_OMP_ENV) or WORKER_OMP_WAIT_POLICY
        search_path = os.pathsep.join(p for p in sys.path if p)  # as `spawn` would: also finds test trainers
        self._python, launcher_env = worker_interpreter()
        self._env = {**os.environ, **launcher_env, "OMP_WAIT_POLICY": policy, "PYTHONPATH": search_path}
        self.keep_finished = keep_finished
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._closed = False
        self._idle_deaths = 0  # workers that exited without a job since the last finished one
        self.start_s: list[float] = []  # how long each worker took to start (its "ready"), oldest first
        self._workers = [self._start() for _ in range(self.size)]  # the reader thread connects to them
        self._reader = threading.Thread(target=self._read, name="training-jobs", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------ the seam
    def submit(self, config: Any) -> Job:
        """Queue `config` for training unless a job for it is already queued or running."""
        key = config.key()
        with self._lock:
            if self._closed:
                raise RuntimeError("the training pool is shut down")
            job = self._jobs.get(key)
            if job is not None and not job.done.is_set():
                return job
            job = self._jobs[key] = Job(config, key)
            self._forget_old()
            self._queue.append(job)
            self._dispatch()
        return job

    def get(self, config: Any) -> Job | None:
        with self._lock:
            return self._jobs.get(config.key())

    def position(self, job: Job) -> int | None:
        """How many queued runs are ahead of `job` (0: next in line); None when it is not waiting."""
        with self._lock:
            return self._queue.index(job) if job in self._queue else None

    def stop(self, job: Job) -> None:
        """Stop at once: a waiting job leaves the queue, a running one's worker is killed (and replaced)."""
        with self._lock:
            if job.done.is_set():
                return
            if job in self._queue:
                self._queue.remove(job)
            for w in self._workers:
                if w.job is job:
                    w.job, w.retiring = None, True
                    w.process.kill()  # its pipe closes: the reader thread starts a fresh worker
            job._finish(STOPPED)

    def starting_s(self) -> float | None:
        """None when a worker is ready; else how long ago the longest-starting worker was spawned."""
        with self._lock:
            if any(w.ready for w in self._workers if not w.retiring):
                return None
            return max((time.monotonic() - w.spawned for w in self._workers), default=0.0)

    # ------------------------------------------------------------ for tests, the bench and shutdown
    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._workers]

    def wait_all(self, timeout_s: float = 120.0) -> bool:
        """Wait until every job has finished; False if one is still running after `timeout_s` each."""
        with self._lock:
            jobs = list(self._jobs.values())
        return all(job.done.wait(timeout_s) for job in jobs)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Kill running jobs (nothing half-trained is stored), let idle workers exit, stop the reader."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for job in [*self._queue, *(w.job for w in self._workers if w.job)]:
                job._finish(STOPPED)
            self._queue.clear()
            for w in self._workers:
                w.retiring = True  # its exit is asked for, not a failure to back off from (`_replace`)
                if w.job is not None:
                    w.process.kill()
                elif w.conn is not None:
                    try:
                        w.conn.send(None)
                    except OSError:
                        pass
                else:
                    w.process.stdin.close()  # not connected yet: its lifeline ends it
        self._reader.join(timeout_s)
        for w in self._workers:
            try:
                w.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait(timeout_s)
            self._retire(w)

    # ------------------------------------------------------------ internals
    def _start(self) -> _Worker:
        """Start a worker process and give it its auth key (core.runs.worker says what follows); no waiting."""
        process = subprocess.Popen([self._python, "-m", "core.runs.worker"], env=self._env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        w = _Worker(process, secrets.token_bytes(32))
        try:
            process.stdin.write(w.authkey.hex().encode("ascii") + b"\n")
            process.stdin.flush()
        except OSError:  # it exited at once: connecting will say so
            pass
        return w

    def _connect(self, w: _Worker) -> None:
        """Wait for the worker's port, connect, send the setup (reader thread, outside the lock: the interpreter
        takes a moment to start). A worker that exits first gets a channel that reads as closed, so the reader
        replaces it like any worker that died idle."""
        try:
            port = int(w.process.stdout.readline())  # b"" (a ValueError) when it exited first
            conn = Client(("127.0.0.1", port), "AF_INET", authkey=w.authkey)
            conn.send(("setup", self._setup))
        except (OSError, EOFError, ValueError, AuthenticationError):
            conn, theirs = Pipe()
            theirs.close()
        finally:
            w.process.stdout.close()
        with self._lock:
            w.conn = conn
            self._dispatch()

    def _retire(self, w: _Worker) -> None:
        """Close what the server holds of an exited worker."""
        if w.conn is not None:
            w.conn.close()
        w.process.stdin.close()
        w.process.stdout.close()

    def _dispatch(self) -> None:
        """Hand queued jobs to idle workers (caller holds the lock)."""
        for w in self._workers:
            if not self._queue:
                return
            if w.job is None and not w.retiring and w.conn is not None and w.process.poll() is None:
                job = self._queue.popleft()
                try:
                    w.conn.send(("train", job.key, job.config))
                except OSError:  # the worker just died: the reader replaces it and dispatches again
                    self._queue.appendleft(job)
                    continue
                w.job, job.state = job, "running"

    def _read(self) -> None:
        """The one thread that connects to new workers and reads every worker's messages; a closed connection
        means the worker exited."""
        while True:
            with self._lock:
                if self._closed:
                    return
                new = [w for w in self._workers if w.conn is None]
            for w in new:
                self._connect(w)
            with self._lock:
                by_conn = {w.conn: w for w in self._workers if w.conn is not None}
            for conn in wait(list(by_conn), timeout=0.5):
                w = by_conn[conn]
                try:
                    while w.conn.poll():
                        self._handle(w, w.conn.recv())
                except (EOFError, OSError):
                    self._replace(w)

    def _handle(self, w: _Worker, message: tuple) -> None:
        kind, key, payload = message
        with self._lock:
            if kind == "ready":
                w.ready = True
                self.start_s.append(time.monotonic() - w.spawned)
                return
            job = w.job
            if job is None or job.key != key:
                return  # a message from a job that was stopped meanwhile
            if kind == "progress":
                job._progress(payload)
                return
            w.job = None
            self._idle_deaths = 0  # this worker started and finished a job
            if kind == "done":
                job.status, job.trained, job.metrics = payload["status"], payload["trained"], payload["metrics"]
                job._finish(payload["reason"] if payload["status"] != "ok" else "")
            else:
                job._finish(payload)
            self._dispatch()

    def _replace(self, w: _Worker) -> None:
        if w.job is None and not w.retiring:  # died idle: it may not even start (bad install), so back off
            self._idle_deaths += 1
            time.sleep(min(30.0, 0.25 * 2 ** self._idle_deaths))
        try:
            exitcode = w.process.wait(5)
        except subprocess.TimeoutExpired:  # its connection broke but it lives on: make sure it is gone
            w.process.kill()
            exitcode = w.process.wait()
        with self._lock:
            if self._closed or w not in self._workers:
                return
            if w.job is not None:
                w.job._finish(crash_text(exitcode))
            self._retire(w)
            self._workers[self._workers.index(w)] = self._start()  # connected by this thread's next round

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.done.is_set()]
        for k in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[k]
