"""An interpreter that treats the app as Windows would, on Linux: tests/test_portable.py puts this folder first on
PYTHONPATH of a pytest run (and the worker processes it starts inherit it), so this file runs at interpreter start.

What Windows lacks is taken away, what it refuses is refused:
- POSIX-only modules (fcntl, termios, resource, pwd, grp, ...) cannot be imported by the app's own code
  (files of this repository). Libraries keep theirs: they branch on the platform themselves, and on Windows
  filelock locks with LockFileEx where it uses flock here.
- signal names Windows does not define (SIGKILL, SIGHUP, SIGALRM, ...) and POSIX-only os calls (fork, killpg,
  setsid, O_DIRECTORY, ...) are deleted. Popen.kill, which needs SIGKILL here, kills as Windows' TerminateProcess.
- subprocess.Popen refuses pass_fds and preexec_fn, as Windows' does.
- Windows file semantics: os.rename refuses an existing destination; os.replace refuses to replace a folder;
  os.open refuses a folder; os.fsync refuses a descriptor opened read-only.
"""
from __future__ import annotations

import builtins
import errno
import fcntl  # this file's own use: reading a descriptor's access mode
import os
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# ("posix" itself stays: pickle imports it by name for os functions, as it imports "nt" on Windows; the static
# scan in tests/test_portable.py refuses it in the app's code)
HIDDEN_MODULES = frozenset({"fcntl", "termios", "tty", "pty", "resource", "pwd", "grp", "syslog", "crypt", "spwd",
                            "nis", "_posixsubprocess", "_posixshmem", "readline", "curses"})
WINDOWS_SIGNALS = frozenset({"SIGABRT", "SIGFPE", "SIGILL", "SIGINT", "SIGSEGV", "SIGTERM"})
POSIX_SIGNAL_CALLS = ("alarm", "setitimer", "getitimer", "pause", "pthread_kill", "pthread_sigmask", "sigwait",
                      "siginterrupt", "sigpending", "sigtimedwait", "sigwaitinfo")
POSIX_OS_NAMES = ("fork", "forkpty", "killpg", "getpgid", "setpgid", "setsid", "setpgrp", "O_DIRECTORY", "mkfifo",
                  "mknod", "getloadavg", "sched_getaffinity", "sched_setaffinity", "wait3", "wait4", "pipe2")


def _is_app_code(importer: dict | None) -> bool:
    file = (importer or {}).get("__file__")
    if not file:
        return False
    path = Path(file).resolve()
    return path.is_relative_to(ROOT) and not {".venv", "site-packages", "windows_like"} & set(path.parts)


_import = builtins.__import__


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):  # noqa: A002 - __import__'s signature
    if level == 0 and name.partition(".")[0] in HIDDEN_MODULES and _is_app_code(globals):
        raise ModuleNotFoundError(f"No module named {name!r} (hidden: Windows has no such module)", name=name)
    return _import(name, globals, locals, fromlist, level)


builtins.__import__ = _guarded_import

for _name in [n for n in dir(signal) if n.startswith("SIG") and not n.startswith("SIG_") and n not in WINDOWS_SIGNALS]:
    delattr(signal, _name)
for _name in POSIX_SIGNAL_CALLS:
    if hasattr(signal, _name):
        delattr(signal, _name)
for _name in POSIX_OS_NAMES:
    if hasattr(os, _name):
        delattr(os, _name)


class WindowsLikePopen(subprocess.Popen):
    def __init__(self, *args, pass_fds=(), preexec_fn=None, **kwargs):
        if pass_fds:
            raise ValueError("pass_fds is not supported on Windows")
        if preexec_fn is not None:
            raise ValueError("preexec_fn is not supported on Windows platforms")
        super().__init__(*args, **kwargs)

    def kill(self) -> None:  # Windows: TerminateProcess, as final as SIGKILL (number 9 here)
        self.send_signal(9)


subprocess.Popen = WindowsLikePopen  # type: ignore[misc]

_rename, _replace, _open, _fsync = os.rename, os.replace, os.open, os.fsync


def _windows_rename(src, dst, *args, **kwargs):
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "Cannot create a file when that file already exists", str(dst))
    return _rename(src, dst, *args, **kwargs)


def _windows_replace(src, dst, *args, **kwargs):
    if os.path.isdir(dst) and not os.path.islink(dst):
        raise PermissionError(errno.EACCES, "Access is denied", str(dst))
    return _replace(src, dst, *args, **kwargs)


def _windows_open(path, flags, *args, **kwargs):
    if "dir_fd" not in kwargs and not isinstance(path, int) and os.path.isdir(path):
        raise PermissionError(errno.EACCES, "Access is denied", str(path))
    return _open(path, flags, *args, **kwargs)


def _windows_fsync(fd):
    fileno = fd if isinstance(fd, int) else fd.fileno()
    if fcntl.fcntl(fileno, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        raise OSError(errno.EBADF, "Bad file descriptor")  # FlushFileBuffers needs a handle opened for writing
    return _fsync(fd)


os.rename, os.replace, os.open, os.fsync = _windows_rename, _windows_replace, _windows_open, _windows_fsync
os.environ["PTCE_WINDOWS_LIKE"] = "1"  # for the self-check in tests/test_portable.py
