"""core.atomic: writes survive an exception mid-write; orphaned temp files are swept."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.atomic import TMP_PREFIX, atomic_write, atomic_write_bytes, sweep_temps


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
