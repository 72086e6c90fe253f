"""The Training runs page lists stored runs and overlays their curves."""
from __future__ import annotations

from conftest import page_app


def test_runs_page_lists_stored_runs_and_overlays_them():
    import torch

    from core.config import ModelConfig, TrainConfig
    from core.data import load_sample
    from core.train import fit
    from ui import resources as cache

    for seed in (11, 12):
        cfg = TrainConfig(model=ModelConfig("cnn", 16), batch_size=512, epochs=1, seed=seed, data_source="mnist-sample")
        if cache.store().load(cfg) is None:
            cache.store().save(fit(cfg, load_sample(), torch.device("cpu")))
    at = page_app("pages/runs.py")
    at.radio(key="runs_arch").set_value("cnn")
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) >= 2
    assert set(table["hidden"]) == {16} and (table["test accuracy (%)"] > 10).all()
    assert len(at.get("plotly_chart")) == 1
