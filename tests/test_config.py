"""core.config: default configs are trainable and their keys stable."""
from __future__ import annotations

import json

from core.training.config import TrainConfig, default_config


def test_default_configs_are_trainable_and_keys_stable():
    for arch in ("net2", "cnn"):
        for source in ("mnist-sample", "mnist-full"):
            cfg = default_config(arch, source)  # type: ignore[arg-type]
            assert cfg.key() == TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))).key()
    assert default_config("net2", "mnist-sample").key() != default_config("net2", "mnist-full").key()
