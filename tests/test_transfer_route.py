"""The seed's program at its own size: the CIFAR-10 route offers 224 px and all 50,000 training images for feature
extraction through the stored-feature path, says how long it will take before Train is pressed (timed steps), shows
the backbone pass's progress while it runs, and stores the features once for every later head. A tiny test-made
CIFAR-10 and ImageNet-shaped weights stand in for the real files."""
from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

import ui.resources
import ui.transfer_data
import ui.transfer_results
from core.config import Paths
from core.data import cifar
from core.runs.jobs import Job
from core.training.record import Progress
from core.transfer import pretrained
from core.transfer.config import TransferConfig
from core.transfer.features import compute_features, feature_config
from core.transfer.tasks import ImageTask
from support import ROOT, own_home, rerun, write_cifar, write_fake_imagenet

PAGE = str(ROOT / "pages" / "transfer.py")
SEED = TransferConfig(strategy="feature", source="cifar10", weights="imagenet", subset=50_000, resolution=224)


@pytest.fixture
def seed_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    write_fake_imagenet(pretrained.hub_cache_file())
    write_cifar(cifar.cifar_dir(tmp_path / "data"), n=4)
    with own_home(tmp_path):
        for cache in (ui.transfer_data.task, ui.resources._loaded):
            cache.clear()
        yield Paths(tmp_path)
        for cache in (ui.transfer_data.task, ui.resources._loaded):
            cache.clear()


def the_seeds_settings(at: AppTest) -> None:
    at.radio(key="tl_route").set_value("cifar10")
    rerun(at)
    at.selectbox(key="tl_strategy").set_value("feature")
    at.select_slider(key="tl_subset").set_value(50_000)
    at.select_slider(key="tl_res").set_value(224)
    at.slider(key="tl_epochs").set_value(2)
    rerun(at)


def test_compute_features_reports_every_batch():
    data = ImageTask("t", "", tuple("ab"), *(
        type("S", (), {"images": torch.zeros(n, 3, 32, 32, dtype=torch.uint8), "labels": torch.zeros(n).long(),
                       "__len__": lambda self, n=n: n})() for n in (10, 4)))
    seen = []
    fcfg = feature_config(TransferConfig(weights="imagenet", source="cifar10", resolution=32), data)
    compute_features(fcfg, data, None, torch.device("cpu"), on_images=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (14, 14) and all(t == 14 for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_estimate_is_said_before_train_and_the_progress_while_the_features_run(seed_files, monkeypatch):
    """Before Train: the time of the one backbone pass at 224 px, from timed steps. While a job is in its
    features stage, the page shows how many images the backbone has seen (a job in that state, as the worker's
    reports leave it)."""
    at = rerun(AppTest.from_file(PAGE, default_timeout=300))
    the_seeds_settings(at)
    said = "\n".join(c.value for c in at.caption)
    assert "Estimated time from pressing Train to the result: **~" in said
    assert "the frozen backbone runs once over 20 training and 4 test images at 224 px" in said
    assert "every later head on this data skips that pass" in said

    cfg = TransferConfig(strategy="feature", source="cifar10", weights="imagenet", subset=50_000, resolution=224,
                         epochs=2)
    job = Job(cfg, cfg.key(), state="running")
    job._progress(Progress(1_200, 60_000, 0, [], 95.0, stage="features"))

    class Pool:  # the job pool as the page sees it, with this one job running
        def get(self, c):
            return job if c.key() == cfg.key() else None

        def position(self, j):
            return None

    monkeypatch.setattr(ui.resources, "jobs", lambda: Pool())
    rerun(at)
    bars = [p.proto.text for p in at.get("progress")]
    assert any("The frozen backbone's one pass: 1,200 of 60,000 images at 224 px (1 min 35 s so far" in t for t in bars)
    job._progress(Progress(3, 40, 1, [0.5, 0.4], 100.0))  # the head's epochs follow: the training's own counts
    assert job.stage == "" and job.stage_done == 1_200 and job.fraction == pytest.approx(2 / 40)


@pytest.mark.slow
def test_the_seeds_program_trains_through_stored_features_once(seed_files, monkeypatch):
    """Feature extraction at 224 px on 'all 50,000' images (the test-made set's 20) trains in a worker: the
    backbone's features are stored once, a second head on them says so before Train and reuses them, and the page's
    predictions on the test images come from the stored features (no second backbone pass)."""
    from core.runs.jobs import Jobs

    pool = Jobs(seed_files, size=1)  # started here: its workers see this test's torch hub cache
    monkeypatch.setattr(ui.resources, "jobs", lambda: pool)
    calls = []
    real_predict = ui.transfer_results.predict
    monkeypatch.setattr(ui.transfer_results, "predict", lambda *a, **k: calls.append(a) or real_predict(*a, **k))
    try:
        at = rerun(AppTest.from_file(PAGE, default_timeout=300))
        the_seeds_settings(at)
        at.button[0].click()
        rerun(at)
        assert pool.wait_all(400)
        rerun(at)
        assert "Loaded from the run store" in at.success[0].value and not at.error
        assert [s.config.resolution for s in ui.resources.store().summaries("features")] == [224]
        assert calls == []  # predictions from the stored features
        at.select_slider(key="tl_head_lr_True").set_value(3e-3)  # another head on the same features
        rerun(at)
        assert "features of these 20 training and 4 test images at 224 px are stored already" in "\n".join(
            c.value for c in at.caption)
        at.button[0].click()
        rerun(at)
        assert pool.wait_all(400)
        rerun(at)
        assert "Loaded from the run store" in at.success[0].value
        assert len(ui.resources.store().summaries("features")) == 1  # stored once
        runs = [s for s in ui.resources.store().summaries("transfer") if s.config.resolution == 224]
        assert len(runs) == 2 and len({s.metrics["features_s"] for s in runs}) == 1
    finally:
        pool.shutdown()
