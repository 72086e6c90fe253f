"""File locks shared by threads and processes: one lock file per key (a run's key, names.json, a data folder).

Through the `filelock` library: flock on Linux and macOS, LockFileEx on Windows. Either way the operating
system drops a lock when its holder dies (crash, kill, power loss), so a lock never outlives its process.
Each `hold` uses its own lock object, so two threads of one process exclude each other like two processes
do; a blocking `hold` of a lock the same thread already holds raises RuntimeError instead of waiting forever.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

POLL_S = 0.01  # how often a blocked `hold` tries again (the library waits by polling)


@contextmanager
def hold(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold the lock at `path` for the `with` block; yields whether it is held. Blocking waits for it (always
    True); non-blocking makes one attempt and yields False, holding nothing, when someone else holds it."""
    lock = FileLock(path)
    try:
        lock.acquire(timeout=-1 if blocking else 0, poll_interval=POLL_S)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
