"""Names the learner gives stored runs: one small `names.json` beside the runs, {run key: name}.

The file is hostile like every other: it is read with a size bound and validated entry by entry (keys are run keys,
names are short one-line text); anything that does not pass is ignored, never a crash. Writes are atomic and made
under one file lock, so two sessions renaming at once both keep their change.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.atomic import atomic_write_json
from core.locks import hold

FILE = "names.json"
MAX_NAME = 80  # characters
MAX_NAMES = 10_000
MAX_FILE_BYTES = 2 << 20
_KEY = re.compile(r"[0-9a-f]{8,64}")


def clean_name(text: object) -> str:
    """A name as stored: one line of printable text, trimmed to MAX_NAME characters ("" for anything else)."""
    if not isinstance(text, str):
        return ""
    printable = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(printable.split())[:MAX_NAME]


class RunNames:
    """{run key: name} kept in `root/names.json`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / FILE

    def all(self) -> dict[str, str]:
        """Every valid entry of the file; a missing, oversized or malformed file reads as no names."""
        try:
            if self.path.stat().st_size > MAX_FILE_BYTES:
                return {}
            obj = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(obj, dict):
            return {}
        out = {}
        for key, name in list(obj.items())[:MAX_NAMES]:
            clean = clean_name(name)
            if isinstance(key, str) and _KEY.fullmatch(key) and clean and clean == name:
                out[key] = clean
        return out

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with hold(self.root / f".{FILE}.lock"):
            yield

    def set(self, key: str, name: str) -> str:
        """Name run `key` (an empty name removes it); returns the name as stored."""
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a run key: {key!r}")
        clean = clean_name(name)
        with self._locked():
            names = self.all()
            if clean:
                names[key] = clean
            else:
                names.pop(key, None)
            atomic_write_json(self.path, dict(list(names.items())[-MAX_NAMES:]))
        return clean

    def forget(self, key: str) -> None:
        """Drop the name of a deleted run."""
        with self._locked():
            names = self.all()
            if names.pop(key, None) is not None:
                atomic_write_json(self.path, names)
