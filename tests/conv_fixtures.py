"""Shared set-up for the Convolutions / Draw-a-digit tests: offline, a temp home, tiny stored runs.

Imported by tests/test_*conv*.py, test_digits.py and test_browser_draw.py. If
tests/conftest.py already set PTCE_HOME session-wide, that home is used (setdefault).
"""
from __future__ import annotations

import os
import tempfile

os.environ["PTCE_OFFLINE"] = "1"
os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-test-conv-"))

from dataclasses import replace  # noqa: E402

from core.config import ModelConfig, Paths, TrainConfig, default_config  # noqa: E402


TINY_SEED = 7  # not the default seed 0: other test modules expect "hidden 16, 1 epoch, seed 0" untrained


def tiny_config(arch: str) -> TrainConfig:
    """What the pages' controls give with hidden=16, epochs=1 and seed=7 (other settings at their defaults)."""
    return replace(default_config(arch, "mnist-sample"), model=ModelConfig(arch=arch, hidden=16),  # type: ignore[arg-type]
                   epochs=1, seed=TINY_SEED)


def ensure_tiny_runs() -> dict[str, TrainConfig]:
    """Train (once per PTCE_HOME) and store a 1-epoch Net2 and CNN on the bundled sample."""
    from core.data import load_mnist
    from core.store import RunStore
    from core.train import fit

    paths = Paths.from_env()
    store = RunStore(paths.runs)
    data = None
    out = {}
    for arch in ("net2", "cnn"):
        cfg = tiny_config(arch)
        if store.load(cfg) is None:
            data = data or load_mnist(paths, allow_download=False)
            run, _ = store.get_or_train(cfg, lambda c=cfg: fit(c, data))
            assert run.status == "ok"
        out[arch] = cfg
    return out
