"""Disk store of finished runs, keyed by the config's `key()`. Every file in it is treated as hostile.

Layout under the root:
    <key>/weights.safetensors + <key>/run.json     one run: a folder that is replaced as a whole
    .tmp-run-<key>-<nonce>/                        a run being written (both files), renamed into place; or
                                                   one being deleted, renamed out of the way first
    .old-<key>-<nonce>/                            the run an overwrite is replacing, deleted right after
    .corrupt/<time>-<key>-<nonce>/                 defective entries set aside (newest CORRUPT_KEEP kept)
    .locks/<key>.lock                              the per-key file lock (threads and processes)

A run is one atomic unit: a kill at any moment leaves the old run or the new one in place (a kill between
the two renames of an overwrite leaves `.old-<key>-…`, which the next start renames back). The same sequence
works on Windows, where a folder cannot be renamed over another and a move fails while another process has a
file in it open: the old run is moved aside first, and each move is retried for a bounded time (core.atomic).
Readers read a file's bytes and close it at once (never a memory map). Writes, removals
and moves of an entry happen only while holding its key's lock; the writer holds it for the whole write,
so at start every orphan whose lock can be taken (non-blocking) belongs to a dead writer and is swept.
A record is read through `core.record.parse_record` (the one schema) and its weights are checked against
the architecture (keys, shapes, dtypes, finiteness) before anything is built from them.

A store that cannot be written (a read-only folder or mount, a file where the folder should be, a full disk) is a
state, not a crash: `unwritable` says why at start, every read works, nothing is swept or set aside, and every
write raises StoreNotWritable in plain words (also a write that fails part-way: the old run stays in place).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from core.atomic import TMP_PREFIX, fsync_dir, remove, retry_busy, write_durably
from core.config import HOME_ENV
from core.locks import hold
from core.runs.kinds import DEFAULT_KIND, KINDS, kind_of
from core.runs.schema import Record, parse_record
from core.training.record import STORABLE, History, Run, Status, StoredConfig

WEIGHTS, META = "weights.safetensors", "run.json"
RUN_TMP, OLD = TMP_PREFIX + "run-", ".old-"
CORRUPT, LOCKS = ".corrupt", ".locks"
CORRUPT_KEEP = 20  # defective entries kept for inspection; older ones are deleted
MAX_META_BYTES = 64 << 20  # a run.json larger than this is not read
_KEY = re.compile(r"[0-9a-f]{8,64}")
_ORPHAN = re.compile(r"(?:" + re.escape(RUN_TMP) + "|" + re.escape(OLD) + r")([0-9a-f]{8,64})-[0-9a-f]+")


class StoreNotWritable(OSError):
    """The store cannot be written: the message says why and what to do, in plain words."""


# A write that fails part-way for one of these says the store cannot be written; any other OSError of a write (a
# file another process holds on Windows, say) is raised as it is.
FULL_OR_READ_ONLY = {errno.ENOSPC, errno.EROFS, errno.EFBIG} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


def _not_writable(root: Path, error: OSError) -> str:
    why = {errno.ENOSPC: "the disk is full", getattr(errno, "EDQUOT", -1): "the disk quota is used up",
           errno.EROFS: "it is on a read-only file system", errno.EACCES: "this user may not write there",
           errno.EPERM: "this user may not write there", errno.ENOTDIR: "a file stands where a folder should be",
           errno.EFBIG: "a file grew larger than this process may write"}.get(error.errno, error.strerror or str(error))
    return (f"The run store {root} cannot be written ({why}), so nothing can be trained, imported, renamed or deleted "
            f"here; every stored run can still be opened. Point {HOME_ENV} at a folder this user can write "
            f"(e.g. {HOME_ENV}=~/ptce-home) and start the app again.")


class CorruptRun(Exception):
    """A stored entry that cannot be used; the message says why in plain words."""


class IncompatibleWeights(CorruptRun):
    """Weights whose names or shapes do not fit the architecture of the run's config."""


@dataclass(frozen=True)
class RunSummary:
    """What the run-comparison views need, without loading weights."""

    key: str
    config: StoredConfig
    history: History
    metrics: dict
    created: float
    status: Status = "ok"
    kind: str = "mnist"


def _read_record(folder: Path) -> Record:
    meta = folder / META
    if not meta.is_file():
        raise CorruptRun(f"{META} is missing or not a file")
    if meta.stat().st_size > MAX_META_BYTES:
        raise CorruptRun(f"{META} is larger than {MAX_META_BYTES >> 20} MB")
    try:
        return parse_record(json.loads(meta.read_bytes()))
    except (ValueError, RecursionError) as e:  # JSON, UTF-8 and schema errors are all ValueErrors
        raise CorruptRun(f"{META} is not a valid run record ({e})") from e
    except OSError as e:
        raise CorruptRun(f"{META} cannot be read ({e.strerror})") from e


def decode_weights(blob: bytes, sha256: str, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of a weights file's bytes: checksum first, then safetensors (never a pickle), then names,
    shapes, dtypes and finiteness against `expected`. CorruptRun (IncompatibleWeights for a misfit) if not."""
    if hashlib.sha256(blob).hexdigest() != sha256:
        raise CorruptRun(f"{WEIGHTS} does not match the checksum in {META}")
    try:
        state = load_bytes(blob)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for malformed files
        raise CorruptRun(f"{WEIGHTS} is not a safetensors file ({str(e)[:120]})") from e
    check_weights(state, expected)
    return state


def check_weights(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Raise IncompatibleWeights (names/shapes) or CorruptRun (dtype, non-finite values) unless `state` fits."""
    if state.keys() != expected.keys():
        missing, extra = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
        raise IncompatibleWeights(f"tensor names differ (missing {missing[:3]}, unexpected {extra[:3]})")
    for name, want in expected.items():
        got = state[name]
        if tuple(got.shape) != tuple(want.shape):
            raise IncompatibleWeights(f"{name} has shape {tuple(got.shape)}, the architecture needs "
                                      f"{tuple(want.shape)}")
        if got.dtype != want.dtype:
            raise CorruptRun(f"{name} is {got.dtype}, the architecture needs {want.dtype}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise CorruptRun(f"{name} holds NaN or infinite values")


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.unwritable = ""  # why the store cannot be written, in plain words ("" when it can)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / LOCKS).mkdir(exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX + "probe-", dir=self.root)  # root ignores permissions,
            os.close(fd)  # but not a read-only mount: only a real write tells
            os.unlink(probe)
        except OSError as e:
            self.unwritable = _not_writable(self.root, e)
        self._mutex = threading.Lock()
        self._problems: dict[str, str] = {}  # key -> what was wrong with the stored run, for the learner
        self._summaries: dict[str, tuple[tuple, RunSummary]] = {}  # name -> (run.json's stat, summary)
        self.swept = 0 if self.unwritable else self.sweep()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Around every write: StoreNotWritable at once when the store cannot be written, and when the write itself
        fails for a full disk or a read-only file system (part-way: `_write` has put the old run back)."""
        if self.unwritable:
            raise StoreNotWritable(self.unwritable)
        try:
            yield
        except StoreNotWritable:
            raise
        except OSError as e:
            if e.errno not in FULL_OR_READ_ONLY:
                raise
            raise StoreNotWritable(_not_writable(self.root, e)) from e

    def _dir(self, cfg: StoredConfig) -> Path:
        return self.root / cfg.key()

    # ------------------------------------------------------------ locks
    def _lock_path(self, key: str) -> Path:
        return self.root / LOCKS / f"{key}.lock"

    @contextmanager
    def lock(self, cfg: StoredConfig) -> Iterator[None]:
        """Exclusive per-config lock, across threads and processes (blocking)."""
        with hold(self._lock_path(cfg.key())):
            yield

    @contextmanager
    def _try_lock(self, key: str) -> Iterator[bool]:
        """Take `key`'s lock if nobody holds it; yields whether it was taken."""
        with hold(self._lock_path(key), blocking=False) as held:
            yield held

    # ------------------------------------------------------------ read
    def _read(self, folder: Path, cfg: StoredConfig) -> Run:
        """The run in `folder` for `cfg`, fully verified; CorruptRun says what is wrong."""
        try:
            return self._read_unguarded(folder, cfg)
        except OSError as e:  # e.g. the folder was replaced while it was read: the caller reads again
            raise CorruptRun(f"it cannot be read ({e.strerror or e})") from e

    def _read_unguarded(self, folder: Path, cfg: StoredConfig) -> Run:
        record = _read_record(folder)
        if record.config != cfg:
            raise CorruptRun("its record describes other settings than the folder's name")
        weights = folder / WEIGHTS
        if not weights.is_file():
            raise CorruptRun(f"{WEIGHTS} is missing")
        expected = KINDS[record.kind].expected_state(record.config)
        limit = sum(t.numel() * t.element_size() for t in expected.values()) + (1 << 20)  # + the header
        if weights.stat().st_size > limit:
            raise IncompatibleWeights(f"{WEIGHTS} is {weights.stat().st_size:,} bytes, more than the architecture "
                                      f"can hold ({limit:,})")
        state = decode_weights(weights.read_bytes(), record.weights_sha256, expected)  # read once: checked = decoded
        return Run(record.config, state, record.history, record.metrics, record.status)

    def _load_held(self, cfg: StoredConfig) -> Run | None:
        """`load` for a caller that holds `cfg`'s lock: a defective entry is set aside here."""
        folder = self._dir(cfg)
        if not os.path.lexists(folder):
            return None
        try:
            return self._read(folder, cfg)
        except CorruptRun as e:
            self._set_aside(folder, cfg.key(), e)
            return None

    def has(self, cfg: StoredConfig) -> bool:
        """Whether a run for `cfg` has landed (cheap: one stat; `load` verifies it)."""
        return os.path.lexists(self._dir(cfg))

    def load(self, cfg: StoredConfig) -> Run | None:
        """The stored run for `cfg`, or None. A defective entry is moved to `.corrupt/` (only while holding its
        lock; if a writer holds it, the entry is left to that writer) and `last_problem(cfg)` says why."""
        folder = self._dir(cfg)
        if not os.path.lexists(folder):
            return None
        try:
            return self._read(folder, cfg)
        except CorruptRun:
            if self.unwritable:  # nothing can be set aside: the entry is just not used
                return None
            with self._try_lock(cfg.key()) as held:
                if held:
                    return self._load_held(cfg)  # read again under the lock: it may have been replaced meanwhile
            return None

    def last_problem(self, cfg: StoredConfig) -> str:
        """Plain words on why the stored run for `cfg` was set aside ("" if nothing was)."""
        with self._mutex:
            return self._problems.get(cfg.key(), "")

    def summaries(self, kind: str | None = DEFAULT_KIND) -> list[RunSummary]:
        """Every stored run of `kind` whose record is valid, newest first (JSON only; weights are checked on
        load). The default is the MNIST runs every training page lists; kind=None lists every kind."""
        out = []
        names = set()
        for folder in self.root.iterdir() if self.root.is_dir() else []:
            if not _KEY.fullmatch(folder.name):
                continue
            names.add(folder.name)
            try:
                st = (folder / META).stat()
                sig = (st.st_ino, st.st_mtime_ns, st.st_size)
                with self._mutex:
                    cached = self._summaries.get(folder.name)
                if cached is not None and cached[0] == sig:
                    out.append(cached[1])
                    continue
                record = _read_record(folder)
                if record.config.key() != folder.name or not (folder / WEIGHTS).is_file():
                    raise CorruptRun("the folder's name or weights do not match its record")
            except (CorruptRun, OSError) as e:
                if not self.unwritable:
                    self._set_aside_if_defective(folder, e)  # listed nowhere; moved to .corrupt/ unless being written
                continue
            summary = RunSummary(folder.name, record.config, record.history, record.metrics, record.created,
                                 record.status, record.kind)
            with self._mutex:
                self._summaries[folder.name] = (sig, summary)
            out.append(summary)
        with self._mutex:
            for gone in set(self._summaries) - names:
                del self._summaries[gone]
        return sorted((s for s in out if kind is None or s.kind == kind), key=lambda s: s.created, reverse=True)

    # ------------------------------------------------------------ write
    def save(self, run: Run) -> None:
        """Store a finished run (replacing any stored one) as one atomic unit; a diverged run is refused."""
        if run.status not in STORABLE:
            raise ValueError(f"refusing to store a run with status {run.status!r}")
        with self._writing(), self.lock(run.config):
            self._write(run)

    def add(self, run: Run, created: float) -> bool:
        """Store `run` (stamped `created`, e.g. an imported run's own date) only if nothing is stored for its config;
        False, changing nothing, if something is."""
        if run.status not in STORABLE:
            raise ValueError(f"refusing to store a run with status {run.status!r}")
        with self._writing(), self.lock(run.config):
            if os.path.lexists(self._dir(run.config)):
                return False
            self._write(run, created)
            return True

    def _write(self, run: Run, created: float | None = None) -> None:
        """Write the run into a temp folder and rename it into place. The caller holds the key's lock."""
        if run.status not in STORABLE:
            raise ValueError(f"refusing to store a run with status {run.status!r}")
        key, kind = run.config.key(), kind_of(run.config)
        state = {k: v.detach().to("cpu").contiguous() for k, v in run.state.items()}
        check_weights(state, kind.expected_state(run.config))  # never store what load would refuse
        nonce = uuid.uuid4().hex[:12]
        tmp, target, old = self.root / f"{RUN_TMP}{key}-{nonce}", self.root / key, self.root / f"{OLD}{key}-{nonce}"
        moved_old = False
        tmp.mkdir()
        try:
            blob = save_bytes(state, metadata={"key": key})
            write_durably(tmp / WEIGHTS, blob)
            record = Record(kind.name, run.config, run.history, dict(run.metrics),
                            time.time() if created is None else created, run.status, hashlib.sha256(blob).hexdigest())
            parse_record(json.loads(json.dumps(record.to_dict())))  # the record we write passes our own schema
            write_durably(tmp / META, json.dumps(record.to_dict(), indent=1, sort_keys=True).encode())
            fsync_dir(tmp)
            if os.path.lexists(target):  # moved aside first: Windows cannot rename a folder over another
                retry_busy(os.rename, target, old)
                moved_old = True
            retry_busy(os.rename, tmp, target)
            fsync_dir(self.root)
        except BaseException:
            remove(tmp)
            if moved_old and not os.path.lexists(target):
                retry_busy(os.rename, old, target)  # put the previous run back
            raise
        if moved_old:
            self._discard(old, key)
        with self._mutex:
            self._problems.pop(key, None)

    def _discard(self, folder: Path, key: str) -> None:
        """Delete a run folder (the caller holds `key`'s lock). Renamed to a temp name first, so that what a
        reader on Windows keeps open a moment too long is swept later as a temp folder, never listed or restored."""
        dead = self.root / f"{RUN_TMP}{key}-{uuid.uuid4().hex[:12]}"
        try:
            retry_busy(os.rename, folder, dead)
        except OSError:
            dead = folder
        remove(dead)

    def delete(self, cfg: StoredConfig) -> None:
        with self._writing(), self.lock(cfg):
            if os.path.lexists(self._dir(cfg)):
                self._discard(self._dir(cfg), cfg.key())

    def get_or_train(self, cfg: StoredConfig, train: Callable[[], Run]) -> tuple[Run, bool]:
        """(run, trained_now). Loads a stored run; else trains once under the lock and stores it."""
        run = self.load(cfg)
        if run is not None:
            return run, False
        if self.unwritable:
            raise StoreNotWritable(self.unwritable)
        with self.lock(cfg):
            run = self._load_held(cfg)  # another session may have finished it while we waited
            if run is not None:
                return run, False
            run = train()
            if run.status in STORABLE:
                with self._writing():
                    self._write(run)
            return run, True

    def busy_keys(self) -> list[str]:
        """Keys whose lock someone holds right now: runs being trained or written, in any thread or process
        (`get_or_train` holds the lock while it trains). Nothing of them is listed until they are complete."""
        if self.unwritable:  # no lock can be taken, and nothing is written here
            return []
        busy = []
        for lock in (self.root / LOCKS).glob("*.lock"):
            if _KEY.fullmatch(lock.stem):
                with self._try_lock(lock.stem) as held:
                    if not held:
                        busy.append(lock.stem)
        return sorted(busy)

    # ------------------------------------------------------------ defects and orphans
    def _set_aside(self, path: Path, key: str, problem: CorruptRun) -> None:
        """Move a defective entry to `.corrupt/` (the caller holds `key`'s lock) and remember why."""
        corrupt = self.root / CORRUPT
        corrupt.mkdir(exist_ok=True)
        dest = corrupt / f"{time.time_ns():020d}-{key}-{uuid.uuid4().hex[:8]}"
        try:
            retry_busy(os.rename, path, dest)
            if dest.is_dir():
                (dest / "why.txt").write_text(str(problem) + "\n", encoding="utf-8")
        except OSError:
            remove(path)
        what = ("Incompatible weights were found for these settings and set aside" if
                isinstance(problem, IncompatibleWeights) else "The stored run for these settings was damaged and "
                                                               "was set aside")
        with self._mutex:
            self._problems[key] = f"{what} ({problem}). Train again to rebuild it."
        for stale in sorted(corrupt.iterdir(), reverse=True)[CORRUPT_KEEP:]:
            remove(stale)

    def _set_aside_if_defective(self, folder: Path, problem: Exception) -> None:
        """Under the folder's lock (if free), read its record again and set it aside if it is still defective."""
        with self._try_lock(folder.name) as held:
            if not held or not os.path.lexists(folder):
                return
            try:
                record = _read_record(folder)
                if record.config.key() == folder.name and (folder / WEIGHTS).is_file():
                    return  # it was replaced by a good run meanwhile
                problem = CorruptRun("the folder's name or weights do not match its record")
            except CorruptRun as e:
                problem = e
            self._set_aside(folder, folder.name, problem if isinstance(problem, CorruptRun) else CorruptRun(problem))

    def sweep(self) -> int:
        """Clean up after writers that died: temp folders, runs an overwrite left aside (put back if the new one
        never landed), folders without a record, temp files. Only entries whose key's lock is free are touched.
        Returns how many entries were swept."""
        swept = 0
        for path in sorted(self.root.iterdir(), key=lambda p: not p.name.startswith(OLD)):  # restores first
            name = path.name
            orphan = _ORPHAN.fullmatch(name)
            if orphan:
                with self._try_lock(orphan.group(1)) as held:
                    if not held:
                        continue
                    target = self.root / orphan.group(1)
                    if name.startswith(OLD) and not os.path.lexists(target):
                        retry_busy(os.rename, path, target)
                    else:
                        remove(path)
                    swept += 1
            elif name.startswith(TMP_PREFIX) and time.time() - path.lstat().st_mtime > 600:
                remove(path)  # a temp file of no known writer: swept once it is clearly stale
                swept += 1
            elif _KEY.fullmatch(name) and path.is_dir():
                with self._try_lock(name) as held:
                    if not held:
                        continue
                    for inner in path.glob(TMP_PREFIX + "*"):
                        remove(inner)
                        swept += 1
                    if not (path / META).exists():  # a partial write of the old layout: nothing to keep
                        remove(path)
                        swept += 1
        return swept
