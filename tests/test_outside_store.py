"""A store that cannot be written (BAD_INPUTS 25): a read-only PTCE_HOME, an empty one, a file where the home folder
should be, a disk that fills part-way through a write. Every page opens and teaches; training, import, rename and
delete say the store cannot be written and where to point PTCE_HOME; a failed write leaves the old run in place.

Root writes through any permission bit, and the tests may run as root. The pages then run in a child process that
cannot write the home either: as an ordinary user (uid 65534, "nobody") when the interpreter is theirs to run too,
else in a private mount namespace where the home is bind-mounted read-only (a real read-only mount, EROFS); where
root has neither, the two chmod cases are skipped, saying why. The file-in-the-way case needs no permissions at all
(even root cannot make a folder inside a file), and the full disk is a real limit on file size (RLIMIT_FSIZE) in a
child process, so both hold as root too.

Run as a script (`python tests/test_outside_store.py OUT.json HOME...`), this file is that child: for each home in
turn it opens every page through the app's entry script, and writes what it saw as JSON. One child visits all three
homes (a test of its own each), as one process would start a fresh server on each.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


# ---------------------------------------------------------------- the child: every page on each home it was given
def visit_every_page(out: str, homes: list[str]) -> None:
    """Each home in turn as a fresh server would meet it: PTCE_HOME set and every Streamlit cache emptied (the
    store, its paths and everything read from them live there), then every page. One interpreter for all homes:
    importing torch, Streamlit and the pages is most of a child's time."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from core.runs.names import RunNames
    from core.runs.store import RunStore

    try:
        from core.runs.store import StoreNotWritable
    except ImportError:  # the code before a store could be unwritable: whatever it raised is recorded below
        StoreNotWritable = RuntimeError  # noqa: N806
    from support import APPTEST_TIMEOUT, ENTRY, PAGE_FILES, texts
    from tools.fake_runs import synthetic_run

    answer: dict = {}
    for home in homes:
        os.environ["PTCE_HOME"] = home
        st.cache_data.clear()
        st.cache_resource.clear()
        seen = answer[home] = {}
        for page in PAGE_FILES:
            at = AppTest.from_file(ENTRY, default_timeout=APPTEST_TIMEOUT)
            at.run()
            at.switch_page(page)
            at.run()
            seen[page] = {"exceptions": [e.message for e in at.exception], "titles": [t.value for t in at.title],
                          "texts": texts(at, "markdown", "info", "success", "error", "warning", "caption"),
                          "sidebar": " ".join(c.value for c in at.sidebar.caption),
                          "buttons": {b.key: b.disabled for b in at.button if b.key},
                          "uploaders": {u.key: u.proto.disabled for u in at.file_uploader},
                          "table": len(at.data_editor[0].value) if at.data_editor else None}
        runs = Path(home) / "runs"
        try:
            store = RunStore(runs)
            seen["unwritable"] = store.unwritable
            store.save(synthetic_run(7))
            seen["save"] = "saved"
        except StoreNotWritable as e:
            seen["save"] = str(e)
        except Exception as e:  # noqa: BLE001 - what the store did instead, for the assertion to show
            seen["save"] = seen["unwritable"] = repr(e)
        try:
            RunNames(runs).set("0123456789abcdef", "a name")
            seen["rename"] = "renamed"
        except OSError as e:
            seen["rename"] = type(e).__name__
    Path(out).write_text(json.dumps(answer))


# ---------------------------------------------------------------- the tests
def _tree(root: Path, dirs: int, files: int) -> None:
    for p in [root, *root.rglob("*")]:
        os.chmod(p, dirs if p.is_dir() else files)


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@functools.cache  # one interpreter start importing torch and streamlit (seconds), not one per test
def _nobody_can_run_python() -> bool:
    try:
        return subprocess.run([sys.executable, "-c", "import streamlit, torch"], preexec_fn=_drop_to_nobody,
                              capture_output=True, timeout=300).returncode == 0
    except OSError:  # the interpreter is in a folder only root may enter
        return False


def _read_only_mount_works(base: Path) -> bool:
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT + ' ! touch "$H/x"'],
                          env={**os.environ, "H": str(base)}, capture_output=True, timeout=60).returncode == 0


_MOUNT = 'mount --bind "$H" "$H" && mount -o remount,bind,ro "$H" &&'
READ_ONLY = ("with-runs", "empty")  # homes under the base that only permissions keep from being written
IN_THE_WAY = "file/ptce"  # a home inside a file: no permission makes that folder, not even root's
NO_WAY = "running as root, and neither an ordinary user nor a read-only mount is available here"


def _visit(base: Path) -> dict[str, dict]:
    """Run the child on the homes under `base`: {home: what it saw}. The read-only ones are visited in a way that
    cannot write there even as root (see above); where root has none, only the file in the way is."""
    scratch = Path(tempfile.mkdtemp(prefix="ptce-learner-"))
    os.chmod(scratch, 0o777)  # the child's HOME and its answer
    env = {**{k: v for k, v in os.environ.items() if k != "PTCE_HOME"},  # the child sets each home in turn
           "PTCE_OFFLINE": "1", "HOME": str(scratch), "H": str(base),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "PYTHONDONTWRITEBYTECODE": "1"}
    out = scratch / "seen.json"
    homes, preexec, wrap = [*READ_ONLY, IN_THE_WAY], None, []
    if os.geteuid() == 0:
        if _nobody_can_run_python():
            preexec = _drop_to_nobody
        elif shutil.which("unshare") and _read_only_mount_works(base):
            wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT + ' exec "$@"', "sh"]
        else:
            homes = [IN_THE_WAY]
    argv = [*wrap, sys.executable, __file__, str(out), *(str(base / h) for h in homes)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, preexec_fn=preexec, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(out.read_text())
    shutil.rmtree(scratch, ignore_errors=True)
    return {str(Path(h).relative_to(base)): seen for h, seen in answer.items()}


def _check(seen: dict, runs: int | None) -> None:
    for page, what in seen.items():
        if not page.startswith("pages/"):
            continue
        assert not what["exceptions"], (page, what["exceptions"])
        assert what["titles"], page  # the page drew its content, not only a message
        assert "cannot be written" in what["sidebar"], page
    assert "cannot be written" in seen["unwritable"] and "PTCE_HOME" in seen["unwritable"]
    assert seen["save"] == seen["unwritable"] and seen["rename"] in ("PermissionError", "OSError", "NotADirectoryError",
                                                                     "FileNotFoundError")
    runs_page, trainer = seen["pages/runs.py"], seen["pages/fully_connected.py"]
    assert "cannot be written" in runs_page["texts"] and "PTCE_HOME" in runs_page["texts"]
    assert runs_page["uploaders"] == {"runs_import": True}  # import disabled, with the reason above it
    assert runs_page["table"] == runs
    if runs:
        assert runs_page["buttons"]["runs_delete"] is True
    assert "cannot be written" in trainer["texts"] and trainer["buttons"]["fc_train"] is True
    assert "cannot be written" in seen["pages/transfer.py"]["texts"]


def _listing(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


@pytest.fixture(scope="module")
def unwritable() -> Iterator[tuple[Path, dict[str, dict], list[str]]]:
    """(base, {home: what every page showed}, the listing of the home with runs before): three homes the app cannot
    write, visited by one child process. with-runs holds three runs and a name, every folder and file of it
    without write permission; empty is an empty folder without it; file is a file where the home folder's parent
    should be."""
    from core.runs.names import RunNames
    from core.runs.store import RunStore
    from tools.fake_runs import synthetic_run

    base = Path(tempfile.mkdtemp(prefix="ptce-unwritable-"))
    os.chmod(base, 0o755)  # an ordinary user may enter
    with_runs = base / "with-runs"
    store = RunStore(with_runs / "runs")
    for i in range(3):
        store.save(synthetic_run(i))
    RunNames(with_runs / "runs").set(synthetic_run(0).config.key(), "my first run")
    (with_runs / "data").mkdir()
    (base / "empty").mkdir()
    (base / IN_THE_WAY).parent.write_text("not a folder")
    _tree(with_runs, 0o555, 0o444)
    os.chmod(base / "empty", 0o555)
    try:
        before = _listing(with_runs)
        yield base, _visit(base), before
    finally:
        _tree(base, 0o755, 0o644)
        subprocess.run(["rm", "-rf", str(base)], check=False)


def _seen(unwritable, home: str) -> dict:
    _, seen, _ = unwritable
    if home not in seen:
        pytest.skip(NO_WAY)
    return seen[home]


@pytest.mark.slow
def test_a_read_only_home_with_runs(unwritable):
    _check(_seen(unwritable, "with-runs"), runs=3)
    base, _, before = unwritable
    assert _listing(base / "with-runs") == before  # untouched


@pytest.mark.slow
def test_an_empty_read_only_home(unwritable):
    _check(_seen(unwritable, "empty"), runs=None)
    base, _, _ = unwritable
    assert not any((base / "empty").iterdir())


@pytest.mark.slow
def test_a_file_where_the_home_folder_should_be(unwritable):
    """No permission makes a folder inside a file, not even root's: the same state, as any user."""
    _check(_seen(unwritable, IN_THE_WAY), runs=None)


def test_a_disk_that_fills_mid_write_leaves_the_old_run(tmp_path):
    """A real limit on how large a file this process may write (RLIMIT_FSIZE: the kernel refuses the write part-way,
    as a full disk does) while a run is overwritten: StoreNotWritable in plain words, the old run in place."""
    import resource

    from core.models.registry import ModelConfig
    from core.runs.store import RunStore
    from tools.fake_runs import STORE_CFG, make_run

    cfg = STORE_CFG.__class__(**{**STORE_CFG.__dict__, "model": ModelConfig("net2", 512)})  # 1.6 MB of weights
    store = RunStore(tmp_path)
    old = make_run(cfg, seed=0, acc=0.25)
    store.save(old)
    child = ("import signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
             "from core.models.registry import ModelConfig\n"
             "from core.runs.store import RunStore, StoreNotWritable\n"
             "from tools.fake_runs import STORE_CFG, make_run\n"
             "cfg = STORE_CFG.__class__(**{**STORE_CFG.__dict__, 'model': ModelConfig('net2', 512)})\n"
             f"store = RunStore({str(tmp_path)!r})\n"
             "try:\n    store.save(make_run(cfg, seed=1, acc=0.75))\nexcept StoreNotWritable as e:\n    print(e)\n")
    limit = 256 << 10  # the weights file stops growing here

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, preexec_fn=cap,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=600)
    assert "cannot be written (a file grew larger than this process may write)" in done.stdout, done.stderr[-2000:]
    again = RunStore(tmp_path)
    run = again.load(cfg)
    assert run is not None and run.metrics == old.metrics
    assert all(stat.S_ISDIR(p.stat().st_mode) or not p.name.startswith(".tmp") for p in tmp_path.rglob("*"))
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [cfg.key()]


if __name__ == "__main__":
    visit_every_page(sys.argv[1], sys.argv[2:])
