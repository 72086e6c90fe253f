"""File locks shared by threads and processes: one lock file per key (a run's key, names.json, a data folder).

The primitive comes from the `filelock` library: flock on Linux and macOS, LockFileEx on Windows, either way
dropped by the operating system when its holder dies (crash, kill, power loss), so a lock never outlives its
process. Each `hold` opens its own descriptor of the lock file, so two threads of one process exclude each other
just as two processes do, and a thread that asks again for a lock it holds is refused (or waits) like anyone
else. (`filelock.FileLock` adds per-thread reentrancy and path handling this app does not use, at about ten
times the cost of a probe: the Training runs page probes every run's lock on each rerun.)
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import lock_descriptor, unlock_descriptor

POLL_S = 0.02  # how often a blocked `hold` tries again (the primitive has no portable blocking wait)


@contextmanager
def hold(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold the lock at `path` (the file is created if missing) for the `with` block; yields whether it is held.
    Blocking waits for it (always True); non-blocking makes one attempt and yields False, holding nothing, when
    someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not lock_descriptor(fd, blocking=blocking, poll_interval=POLL_S):
            yield False
            return
        try:
            yield True
        finally:
            unlock_descriptor(fd)
    finally:
        os.close(fd)
