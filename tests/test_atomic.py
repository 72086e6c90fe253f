"""core.atomic: writes survive an exception mid-write; orphaned temp files are swept; a replace that Windows
refuses while another process has the file open is tried again for a bounded time."""
from __future__ import annotations

from pathlib import Path

import pytest

import core.atomic
from core.atomic import TMP_PREFIX, atomic_write, atomic_write_bytes, retry_busy, sweep_temps
from support import refuse


def test_atomic_write_survives_an_exception_mid_write(tmp_path):
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"good")

    def explode(tmp: Path) -> None:
        tmp.write_bytes(b"half-writ")
        raise KeyboardInterrupt  # like a kill arriving mid-write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, explode)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]  # no temp file left behind


def test_orphaned_temp_files_are_swept(tmp_path):
    orphan = tmp_path / "k" / f"{TMP_PREFIX}abc.safetensors"
    orphan.parent.mkdir()
    orphan.write_bytes(b"x")
    assert sweep_temps(tmp_path, older_than_s=-1) == 1 and not orphan.exists()


def test_a_replace_refused_for_a_moment_is_tried_again(tmp_path, monkeypatch):
    target = tmp_path / "names.json"
    atomic_write_bytes(target, b"old")
    calls = refuse(monkeypatch, "replace", lambda n, *a: n <= 2)  # a reader holds the file for two tries
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and len(calls) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["names.json"]


def test_a_replace_refused_for_longer_than_the_bound_fails_and_keeps_the_file(tmp_path, monkeypatch):
    target = tmp_path / "names.json"
    atomic_write_bytes(target, b"old")
    monkeypatch.setattr(core.atomic, "BUSY_RETRY_S", 0.05)
    refuse(monkeypatch, "replace", lambda n, *a: True)
    with pytest.raises(PermissionError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["names.json"]


def test_retry_busy_returns_what_the_call_returns_and_passes_other_errors_at_once():
    tries = []

    def missing() -> None:
        tries.append(1)
        raise FileNotFoundError

    assert retry_busy(lambda: 7) == 7
    with pytest.raises(FileNotFoundError):
        retry_busy(missing)
    assert tries == [1]
