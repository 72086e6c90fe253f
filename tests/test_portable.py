"""The app runs on Windows and macOS as well as Linux, checked here on Linux, in three ways:
- a static scan: no POSIX-only module, signal, os call or Popen option in the app's code (core/, ui/, pages/,
  streamlit_app.py) outside a platform guard (an `if` on sys.platform / os.name / hasattr, a `try` that catches
  ImportError, or a hasattr/getattr check of the same name in the same function), and no text file read or
  written without an encoding (Windows' default is a legacy code page);
- the store, jobs, data, names, locks and atomic-write tests run again in an interpreter that hides what Windows
  lacks and refuses what it refuses (tests/windows_like/sitecustomize.py), with a home folder whose path holds
  spaces and non-ASCII letters;
- every file and folder name the app writes is one Windows accepts, and none differ only by case.
What this cannot show is how Windows itself schedules, locks and scans files: see the notes in core/locks.py,
core/atomic.py and core/runs/worker.py for what is assumed of it."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.config import Paths
from core.data.download import sweep_data
from core.data.mnist import load_mnist
from core.runs.names import RunNames
from core.runs.store import RunStore
from support import ROOT
from tools.fake_runs import STORE_CFG, make_run

SCANNED = ("core", "ui", "pages", "streamlit_app.py")
POSIX_MODULES = {"fcntl", "termios", "tty", "pty", "resource", "pwd", "grp", "posix", "syslog", "crypt", "spwd",
                 "nis", "_posixsubprocess", "_posixshmem", "readline", "curses", "posix_ipc"}
WINDOWS_MODULES = {"msvcrt", "winreg", "winsound", "_winapi", "nt"}  # the other way round: also guarded
POSIX_NAMES = {
    "signal": {"SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGPIPE", "SIGSTOP",
               "SIGCONT", "SIGTSTP", "SIGWINCH", "alarm", "setitimer", "getitimer", "pause", "pthread_kill",
               "pthread_sigmask", "sigwait", "siginterrupt", "sigpending"},
    "os": {"fork", "forkpty", "killpg", "getpgid", "setpgid", "setsid", "setpgrp", "getuid", "geteuid", "getgid",
           "getegid", "setuid", "setgid", "chown", "lchown", "fchown", "mkfifo", "mknod", "O_DIRECTORY",
           "O_NOFOLLOW", "sync", "statvfs", "fstatvfs", "getloadavg", "nice", "sched_getaffinity",
           "sched_setaffinity", "pipe2", "wait3", "wait4", "WNOHANG", "uname", "openpty", "ttyname", "ctermid",
           "posix_fadvise", "posix_fallocate", "sendfile", "pwrite", "pread"},
}
POSIX_POPEN_OPTIONS = {"pass_fds", "preexec_fn", "start_new_session", "process_group"}


def _guard_names(test: ast.expr) -> bool:
    """Whether an `if` test asks about the platform: sys.platform, os.name, platform.system(), hasattr(...)."""
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute) and (node.attr in {"platform", "name"} and
                                               isinstance(node.value, ast.Name) and node.value.id in {"sys", "os"}):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr":
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "system":
            return True
    return False


def _catches_import_error(node: ast.Try) -> bool:
    names = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
    return any(n in text for text in names for n in ("ImportError", "ModuleNotFoundError", "AttributeError"))


def _checked_names(scope: ast.AST) -> set[tuple[str, str]]:
    """(module, name) pairs a scope asks about with hasattr(module, "name") or getattr(module, "name", ...)."""
    out = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"hasattr", "getattr"} \
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Name) and \
                isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            out.add((node.args[0].id, node.args[1].value))
    return out


def _text_io_without_encoding(call: ast.Call) -> bool:
    """open(...) in text mode, Path.read_text() or Path.write_text() with no encoding: the platform's default,
    which on Windows is a legacy code page, not UTF-8."""
    if any(k.arg == "encoding" for k in call.keywords):
        return False
    if isinstance(call.func, ast.Attribute):
        return call.func.attr in {"read_text", "write_text"}
    if isinstance(call.func, ast.Name) and call.func.id == "open":
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        return not (isinstance(mode, ast.Constant) and "b" in str(mode.value))
    return False


def platform_findings(source: str, filename: str) -> list[str]:
    """Every POSIX-only (or Windows-only) import, name and Popen option in `source` that no guard protects."""
    findings: list[str] = []

    def visit(node: ast.AST, guarded: bool, scope: ast.AST) -> None:
        if isinstance(node, ast.If) and _guard_names(node.test):
            guarded = True
        if isinstance(node, ast.Try) and _catches_import_error(node):
            for child in node.body:
                visit(child, True, scope)
            for rest in (*node.handlers, *node.orelse, *node.finalbody):
                visit(rest, guarded, scope)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = node
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if not guarded:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if node.level == 0 else []
                findings.extend(f"{where}: import {n}" for n in names
                                if n.partition(".")[0] in POSIX_MODULES | WINDOWS_MODULES)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.attr in POSIX_NAMES.get(node.value.id, ()) and \
                    (node.value.id, node.attr) not in _checked_names(scope):
                findings.append(f"{where}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.Call):
                findings.extend(f"{where}: Popen option {k.arg}" for k in node.keywords if k.arg in POSIX_POPEN_OPTIONS)
                if _text_io_without_encoding(node):
                    findings.append(f"{where}: text file I/O without encoding=")
        for child in ast.iter_child_nodes(node):
            visit(child, guarded, scope)

    tree = ast.parse(source)
    visit(tree, False, tree)
    return findings


def app_files() -> list[Path]:
    out = []
    for name in SCANNED:
        path = ROOT / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def test_the_app_uses_nothing_posix_only_outside_a_platform_guard():
    findings = [f for path in app_files()
                for f in platform_findings(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert findings == []


@pytest.mark.parametrize("source, found", [
    ("import fcntl", ["x.py:1: import fcntl"]),
    ("from resource import getrlimit", ["x.py:1: import resource"]),
    ("def f():\n    import termios", ["x.py:2: import termios"]),
    ("import signal\nsignal.SIGKILL", ["x.py:2: signal.SIGKILL"]),
    ("import os\nos.fork()", ["x.py:2: os.fork"]),
    ("import subprocess\nsubprocess.Popen(['x'], pass_fds=[3])", ["x.py:2: Popen option pass_fds"]),
    ("import msvcrt", ["x.py:1: import msvcrt"]),
    ("import sys\nif sys.platform != 'win32':\n    import fcntl", []),
    ("import os\nif os.name == 'nt':\n    import msvcrt", []),
    ("try:\n    import fcntl\nexcept ImportError:\n    fcntl = None", []),
    ("import signal\nkill = getattr(signal, 'SIGKILL', None)", []),
    ("import os\ndef f():\n    if not hasattr(os, 'O_DIRECTORY'):\n        return\n    return os.O_DIRECTORY", []),
    ("import os\ndef f():\n    return os.O_DIRECTORY", ["x.py:3: os.O_DIRECTORY"]),
    ("p.read_text()", ["x.py:1: text file I/O without encoding="]),
    ("open(p, 'w')", ["x.py:1: text file I/O without encoding="]),
    ("p.write_text(t, encoding='utf-8'); open(p, 'rb'); open(p, mode='ab'); p.read_bytes()", []),
])
def test_the_scan_finds_unguarded_uses_and_accepts_guarded_ones(source, found):
    assert platform_findings(source, "x.py") == found


# ---------------------------------------------------------------- the Windows-like interpreter
SIM = ROOT / "tests" / "windows_like"
ODD_HOME = "Zoë's Übungen 日本 runs"  # spaces, an apostrophe, non-ASCII letters
# The store, data, archive, lock and atomic-write tests of the fast loop, and the worker channel's own tests (the
# SIGKILL loop and the rest of the job tests run on Linux semantics in the suite itself).
PORTED = [["-m", "not slow", "tests/test_store.py", "tests/test_data.py", "tests/test_run_archive.py",
           "tests/test_locks.py", "tests/test_atomic.py"],
          ["tests/test_jobs.py", "-k", "submit_streams or stop_kills or worker_that_dies or exits_when_its_server"]]
SELF_CHECK = """
import os, signal, subprocess, sys, tempfile
from pathlib import Path
assert os.environ["PTCE_WINDOWS_LIKE"] == "1"
assert not hasattr(signal, "SIGKILL") and not hasattr(os, "fork") and not hasattr(os, "O_DIRECTORY")
for bad in ({"pass_fds": [0]}, {"preexec_fn": lambda: None}):
    try:
        subprocess.Popen([sys.executable, "-c", ""], **bad)
        raise SystemExit("Popen accepted " + str(bad))
    except ValueError:
        pass
home = Path(tempfile.mkdtemp())
(home / "a").mkdir(); (home / "b").mkdir()
for refused in (lambda: os.rename(home / "a", home / "b"), lambda: os.replace(home / "a", home / "b"),
                lambda: os.open(home / "a", os.O_RDONLY)):
    try:
        refused()
        raise SystemExit("Windows would refuse that")
    except (FileExistsError, PermissionError):
        pass
app_module = {"__name__": "core.probe", "__file__": str(Path(sys.argv[1]) / "core" / "probe.py")}
try:
    exec("import fcntl", app_module)  # as a module of the app would
    raise SystemExit("the app imported fcntl")
except ModuleNotFoundError as e:
    assert e.name == "fcntl", e
exec("import fcntl", {"__name__": "filelock._x", "__file__": "/venv/site-packages/filelock/_x.py"})  # a library may
print("windows-like")
"""


def _windows_like_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PTCE_HOME"}
    return {**env, "PYTHONPATH": os.pathsep.join([str(SIM), str(ROOT)]), "TMPDIR": str(tmp)}


LINUX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="imitates Windows; on Windows the tests run as is")


@LINUX_ONLY
def test_the_windows_like_interpreter_hides_and_refuses_what_windows_does(tmp_path):
    out = subprocess.run([sys.executable, "-c", SELF_CHECK, str(ROOT)], cwd=ROOT, env=_windows_like_env(tmp_path),
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "windows-like", out.stderr[-3000:]


@LINUX_ONLY
@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("selection", PORTED, ids=["store-data-archive-locks", "worker-channel"])
def test_store_jobs_data_and_names_pass_as_windows_would_run_them(tmp_path, selection):
    """The tests run with pytest's temp folders (every store, data folder and worker home) under a path with
    spaces and non-ASCII letters."""
    base = tmp_path / ODD_HOME
    base.mkdir()
    # One process (-n 0): a handful of tests, not worth two more interpreters importing torch
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", f"--basetemp={base / 'pytest'}", *selection],
                         cwd=ROOT, env=_windows_like_env(base), capture_output=True, text=True)
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert out.returncode == 0 and "failed" not in summary and "skipped" not in summary, out.stdout[-6000:]


# ---------------------------------------------------------------- names and paths the app writes
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def windows_problem(name: str) -> str:
    """Why Windows would refuse `name` as a file or folder name ("" if it would not)."""
    if any(ch in '<>:"/\\|?*' or ord(ch) < 32 for ch in name):
        return "a character Windows refuses"
    if name.endswith((".", " ")):
        return "a trailing dot or space"
    if name.split(".")[0].rstrip(" ").upper() in RESERVED:
        return "a reserved device name"
    if len(name) > 255:
        return "longer than 255 characters"
    return ""


@pytest.mark.parametrize("name", ["CON", "con.txt", "a:b", "run.", "x ", "LPT1.json", "a\\b"])
def test_names_windows_refuses_are_recognised(name):
    assert windows_problem(name)


def test_a_home_with_spaces_and_non_ascii_letters_holds_runs_names_and_data(tmp_path):
    """Everything the app writes under PTCE_HOME, written into a home whose path Windows users often have: every
    name is one Windows accepts, none differ only by case, and the longest path leaves room for a long home."""
    paths = Paths(tmp_path / ODD_HOME)
    store = RunStore(paths.runs)
    first, other = make_run(), make_run(replace(STORE_CFG, seed=2))
    store.save(first)
    store.save(make_run(seed=5))  # an overwrite: moved aside, then discarded
    store.save(other)
    (paths.runs / other.config.key() / "run.json").write_text("[]")  # damaged: set aside into .corrupt/
    assert store.load(other.config) is None and "damaged" in store.last_problem(other.config)
    store.save(other)
    store.delete(other.config)
    assert store.load(first.config) is not None and [s.key for s in store.summaries()] == [first.config.key()]
    names = RunNames(paths.runs)
    assert names.set(first.config.key(), "Première — 日本") == "Première — 日本"
    assert RunNames(paths.runs).all() == {first.config.key(): "Première — 日本"}
    sweep_data(paths.data)
    assert load_mnist(paths, allow_download=False).source == "mnist-sample"
    written = [p for p in paths.root.rglob("*")]
    assert {p.name for p in written} >= {"names.json", ".corrupt", ".locks", "why.txt"}
    assert [(p, windows_problem(p.name)) for p in written if windows_problem(p.name)] == []
    for folder in [paths.root, *(p for p in written if p.is_dir())]:
        children = [p.name for p in folder.iterdir()]
        assert len({c.casefold() for c in children}) == len(children), folder
    longest = max(len(str(p.relative_to(paths.root))) for p in written)
    assert longest < 100, longest  # Windows' classic 260-character limit leaves 160 for the home folder
    export = f"run-{first.config.key()}.zip"  # the Training runs page's download name (ui/runs.py)
    assert windows_problem(export) == ""
