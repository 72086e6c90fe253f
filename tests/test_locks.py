"""The one file-lock helper (core/locks.py): per key, blocking and non-blocking, between threads of one process and
between processes, and released by the operating system when its holder crashes or is killed."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from core.locks import hold
from support import ROOT

HOLDER = """
import os, sys
from pathlib import Path
from core.locks import hold
with hold(Path(sys.argv[1])):
    print("held", flush=True)
    how = sys.stdin.readline().strip()  # the test says how this holder ends
    if how == "crash":
        os._exit(3)  # no release, no cleanup: as a crash
"""


def holder(path: Path) -> subprocess.Popen:
    """Another process that holds the lock at `path` (it has printed "held") until told how to end."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def free(path: Path) -> bool:
    with hold(path, blocking=False) as held:
        return held


def test_one_key_excludes_other_threads_and_other_keys_stay_free(tmp_path):
    a, b = tmp_path / "a.lock", tmp_path / "b.lock"
    taken, release, got = threading.Event(), threading.Event(), []

    def owner() -> None:
        with hold(a):
            taken.set()
            release.wait()

    t = threading.Thread(target=owner)
    t.start()
    assert taken.wait(60)
    assert not free(a) and free(b)  # per key
    waiter = threading.Thread(target=lambda: got.append(_blocking(a, release)))
    waiter.start()
    release.set()
    t.join()
    waiter.join()
    assert got == [True] and free(a)


def _blocking(path: Path, released: threading.Event) -> bool:
    with hold(path) as held:
        return held and released.is_set()  # it got the lock, and only after its owner was told to let go


def test_a_non_blocking_attempt_in_the_holding_thread_says_it_is_taken(tmp_path):
    """As `busy_keys` counts the run its own thread is training."""
    path = tmp_path / "k.lock"
    with hold(path) as held:
        assert held and not free(path)
    assert free(path)


def test_another_process_is_excluded_and_waits_until_the_holder_lets_go(tmp_path):
    path = tmp_path / "k.lock"
    proc = holder(path)
    told, got = threading.Event(), []
    try:
        assert not free(path)
        waiter = threading.Thread(target=lambda: got.append(_blocking(path, told)))
        waiter.start()
        told.set()
        proc.stdin.write("release\n")
        proc.stdin.flush()
        waiter.join()
        assert got == [True] and proc.wait(60) == 0
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_holder_that_crashes_or_is_killed_is_free(tmp_path):
    crashed = holder(tmp_path / "crash.lock")
    crashed.stdin.write("crash\n")
    crashed.stdin.flush()
    assert crashed.wait(60) == 3 and free(tmp_path / "crash.lock")
    killed = holder(tmp_path / "kill.lock")
    assert not free(tmp_path / "kill.lock")
    killed.kill()  # SIGKILL on Linux and macOS, TerminateProcess on Windows
    killed.wait(60)
    assert free(tmp_path / "kill.lock")
