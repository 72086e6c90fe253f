"""Atomic file writes: write to a temp file beside the target, fsync, `os.replace`.

A crash or kill mid-write leaves the previous file intact; the temp file is
removed on any exception, and temp files orphaned by a hard kill are swept by
`sweep_temps` (they all start with TMP_PREFIX).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TMP_PREFIX = ".tmp-"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)` then move tmp_path onto `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
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
