"""Atomic file writes: write to a temp file beside the target, fsync, `os.replace`.

A crash or kill mid-write leaves the previous file intact; the temp file is
removed on any exception, and temp files orphaned by a hard kill are swept by
`sweep_temps` (they all start with TMP_PREFIX).

On Windows a file cannot be replaced, moved or deleted while another process has it open (a reader in
another session, a virus scanner or the search indexer looking at a fresh file): such moves and removals are
tried again for a bounded time (`retry_busy`, `remove`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

TMP_PREFIX = ".tmp-"
BUSY_RETRY_S = 5.0  # how long a move or removal of a file that is open elsewhere is tried again
T = TypeVar("T")


def retry_busy(fn: Callable[..., T], *args: object, budget_s: float | None = None) -> T:
    """`fn(*args)` (a move, a replace), tried again while it raises PermissionError, for up to `budget_s`:
    Windows refuses to move or replace a file, or a folder holding one, that another process has open."""
    deadline, delay = time.monotonic() + (BUSY_RETRY_S if budget_s is None else budget_s), 0.01
    while True:
        try:
            return fn(*args)
        except PermissionError:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.25)


def remove(path: Path, budget_s: float | None = None) -> bool:
    """Delete a file or a folder tree (a link itself, never what it points to); what another process holds
    open is tried again for up to `budget_s` (Windows). Returns whether it is gone."""
    deadline, delay = time.monotonic() + (BUSY_RETRY_S if budget_s is None else budget_s), 0.01
    while True:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        if not os.path.lexists(path):
            return True
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        delay = min(2 * delay, 0.25)


def fsync_file(path: Path) -> None:
    """Flush a written file to disk (opened for writing: Windows flushes only through a writable handle)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make the renames inside folder `path` durable. POSIX only: Windows cannot open a folder as a file, and
    NTFS journals renames itself."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist) holding `data`, flushed to disk before returning."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)` then move tmp_path onto `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        fsync_file(tmp)
        retry_busy(os.replace, tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def sweep_temps(folder: Path, older_than_s: float = 600.0) -> int:
    """Delete temp files left by killed writers; returns how many were removed."""
    removed = 0
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    for p in folder.rglob(TMP_PREFIX + "*"):
        try:
            if p.is_file() and p.stat().st_mtime < cutoff:
                p.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (dataset archives are large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
