"""Disk cache of finished runs, keyed by `TrainConfig.key()`.

Layout: <root>/<key>/weights.safetensors + <root>/<key>/run.json. The JSON is
written last and holds the weights' sha256, so a run exists only once both
files are complete. Anything unreadable, mismatched or partial is deleted and
reported as missing, so the caller retrains it. A per-key file lock makes two
sessions (threads or processes) asking for the same config train it once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from core.atomic import atomic_write, atomic_write_json, sweep_temps
from core.config import TrainConfig
from core.models import build_model
from core.train import History, Run

FORMAT = 1
WEIGHTS, META = "weights.safetensors", "run.json"


@dataclass(frozen=True)
class RunSummary:
    """What the run-comparison views need, without loading weights."""

    key: str
    config: TrainConfig
    history: History
    metrics: dict
    created: float


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        sweep_temps(self.root)

    def _dir(self, cfg: TrainConfig) -> Path:
        return self.root / cfg.key()

    # ------------------------------------------------------------ read
    def _read_meta(self, folder: Path) -> dict | None:
        try:
            meta = json.loads((folder / META).read_text())
            if meta.get("format") != FORMAT:
                return None
            return meta
        except (OSError, ValueError):
            return None

    def load(self, cfg: TrainConfig) -> Run | None:
        """The stored run for `cfg`, or None (a corrupt entry is removed so it is rebuilt)."""
        folder = self._dir(cfg)
        if not folder.exists():
            return None
        meta = self._read_meta(folder)
        try:
            if meta is None or TrainConfig.from_dict(meta["config"]) != cfg:
                raise ValueError("metadata missing, unreadable or for another config")
            weights = folder / WEIGHTS
            if _sha256(weights) != meta["weights_sha256"]:
                raise ValueError("weights checksum mismatch")
            state = load_file(weights)
            expected = build_model(cfg.model).state_dict()
            if {k: tuple(v.shape) for k, v in state.items()} != {k: tuple(v.shape) for k, v in expected.items()}:
                raise ValueError("weights do not fit the architecture")
            return Run(cfg, state, History.from_dict(meta["history"]), meta["metrics"])
        except Exception:  # noqa: BLE001 - any defect means: not stored
            shutil.rmtree(folder, ignore_errors=True)
            return None

    def summaries(self) -> list[RunSummary]:
        """Every intact stored run, newest first (JSON only; weights are not read)."""
        out = []
        for folder in self.root.iterdir() if self.root.exists() else []:
            meta = self._read_meta(folder) if folder.is_dir() else None
            if meta is None or not (folder / WEIGHTS).is_file():
                continue
            try:
                out.append(RunSummary(folder.name, TrainConfig.from_dict(meta["config"]),
                                      History.from_dict(meta["history"]), meta["metrics"], meta["created"]))
            except (KeyError, TypeError, ValueError):
                continue
        return sorted(out, key=lambda s: s.created, reverse=True)

    # ------------------------------------------------------------ write
    def save(self, run: Run) -> None:
        """Store a finished run; a diverged run is refused (never cached as if it were good)."""
        if run.status != "ok":
            raise ValueError(f"refusing to store a run with status {run.status!r}")
        folder = self._dir(run.config)
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / WEIGHTS
        state = {k: v.contiguous() for k, v in run.state.items()}
        atomic_write(weights, lambda tmp: save_file(state, str(tmp), metadata={"key": run.config.key()}))
        atomic_write_json(folder / META, {
            "format": FORMAT, "config": run.config.to_dict(), "history": run.history.to_dict(),
            "metrics": run.metrics, "created": time.time(), "weights_sha256": _sha256(weights),
        })

    def delete(self, cfg: TrainConfig) -> None:
        shutil.rmtree(self._dir(cfg), ignore_errors=True)

    @contextmanager
    def lock(self, cfg: TrainConfig) -> Iterator[None]:
        """Exclusive per-config lock, across threads and processes."""
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(exist_ok=True)
        with open(lock_dir / f"{cfg.key()}.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def get_or_train(self, cfg: TrainConfig, train: Callable[[], Run]) -> tuple[Run, bool]:
        """(run, trained_now). Loads a stored run; else trains once under the lock and stores it."""
        run = self.load(cfg)
        if run is not None:
            return run, False
        with self.lock(cfg):
            run = self.load(cfg)  # another session may have finished it while we waited
            if run is not None:
                return run, False
            run = train()
            if run.status == "ok":
                self.save(run)
            return run, True
