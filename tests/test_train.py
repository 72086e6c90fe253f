"""core.train: short runs lower the loss and replay exactly; non-finite losses, untrainable configs and
runs that blow up are handled."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from conftest import TINY, state_equal
from core.config import ConfigError, ModelConfig, TrainConfig
from core.data import load_sample
from core.store import RunStore
from core.train import fit


def test_short_run_lowers_loss_and_replays_exactly(sample):
    progress = []
    run = fit(TINY, sample, torch.device("cpu"), on_progress=progress.append, report_every=5)
    h = run.history
    assert run.status == "ok" and len(h.step_loss) == 2 * math.ceil(4000 / 128) and len(h.val_acc) == 2
    assert sum(h.step_loss[-5:]) / 5 < sum(h.step_loss[:5]) / 5 * 0.6
    assert h.val_acc[-1] > 0.8 and run.metrics["test_acc"] == h.val_acc[-1]
    assert progress[-1].step == progress[-1].total_steps and progress[-1].val_acc == h.val_acc[-1]
    again = fit(TINY, sample, torch.device("cpu"))
    assert state_equal(run.state, again.state) and again.history.step_loss == h.step_loss


def test_non_finite_loss_stops_cleanly_and_is_not_stored(sample, tmp_path, monkeypatch):
    """A NaN loss (forced: no setting within the controls' bounds reliably gives one) stops training."""
    import core.train

    cfg = replace(TINY, optimizer="sgd", lr=10.0, epochs=3)
    real_cross_entropy, calls = core.train.F.cross_entropy, []

    def cross_entropy(*a, **k):
        calls.append(1)
        return real_cross_entropy(*a, **k) * (math.nan if len(calls) > 40 else 1.0)

    monkeypatch.setattr(core.train.F, "cross_entropy", cross_entropy)
    run = fit(cfg, sample, torch.device("cpu"))
    assert run.status == "diverged" and "Lower the learning rate" in run.reason
    assert len(run.history.step_loss) < 3 * math.ceil(4000 / 128)
    store = RunStore(tmp_path)
    got, trained = store.get_or_train(cfg, lambda: run)
    assert trained and got.status == "diverged" and store.load(cfg) is None
    with pytest.raises(ValueError):
        store.save(run)


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=0.0), dict(lr=float("nan")), dict(batch_size=0)])
def test_untrainable_configs_are_refused_with_a_reason(sample, bad):
    with pytest.raises(ConfigError):
        fit(replace(TINY, **bad), sample)


def test_batch_larger_than_dataset_is_one_full_batch(sample):
    run = fit(replace(TINY, batch_size=8192, epochs=1), sample, torch.device("cpu"))
    # one step learns next to nothing: stored, but marked "did-not-learn"
    assert run.status in ("ok", "did-not-learn") and run.history.steps_per_epoch == 1


CFG = TrainConfig(model=ModelConfig("net2", hidden=16), optimizer="adam", lr=3e-3, batch_size=128, epochs=2, seed=1)


def _bars(n: int = 500) -> MNISTData:  # noqa: F821 - imported inside: keeps this file's import light
    """Easy synthetic digits: class c is a bright band at rows 2c..2c+1 (learnable in a few steps)."""
    from core.data import MNISTData, Split

    labels = torch.arange(n) % 10
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for c in range(10):
        images[labels == c, 2 * c + 4:2 * c + 6, :] = 255
    split = Split(images, labels)
    return MNISTData("mnist-sample", "bands", split, split)


def test_fit_marks_a_run_that_blew_up_to_chance_as_did_not_learn(tmp_path):
    from core.train import fit

    good = fit(replace(CFG, batch_size=64, lr=1e-2), _bars(), torch.device("cpu"))
    assert good.status == "ok" and good.metrics["test_acc"] > 0.5
    bad = fit(replace(CFG, optimizer="sgd", lr=10.0), load_sample(), torch.device("cpu"))  # real digits, as in #12
    assert bad.status == "did-not-learn" and bad.metrics["test_acc"] < 0.2
    assert max(bad.history.step_loss) > 100 * bad.history.step_loss[0] and "did not learn" in bad.reason
    store = RunStore(tmp_path)
    got, trained = store.get_or_train(bad.config, lambda: bad)
    assert trained and store.load(bad.config).status == "did-not-learn"
    assert [s.status for s in store.summaries()] == ["did-not-learn"]
