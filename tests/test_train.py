"""core.training.loop: short runs lower the loss and replay exactly; non-finite losses, untrainable configs and
runs that blow up are handled."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from core.config import ConfigError
from core.data.mnist import load_sample
from core.models.registry import ModelConfig
from core.runs.store import RunStore
from core.training.config import TrainConfig
from core.training.loop import fit
from support import TINY, state_equal


def test_short_run_lowers_loss_and_replays_exactly(sample):
    progress = []
    run = fit(TINY, sample, torch.device("cpu"), on_progress=progress.append, report_every=5)
    h = run.history
    assert run.status == "ok" and len(h.step_loss) == 2 * math.ceil(3600 / 128) and len(h.val_acc) == 2
    assert (run.metrics["n_train"], run.metrics["n_val"], run.metrics["n_test"]) == (3600, 400, 1000)
    assert sum(h.step_loss[-5:]) / 5 < sum(h.step_loss[:5]) / 5 * 0.6
    assert h.val_acc[-1] > 0.8 and run.metrics["test_acc"] > 0.8  # validation per epoch, the test set once
    assert progress[-1].step == progress[-1].total_steps and progress[-1].val_acc == h.val_acc[-1]
    again = fit(TINY, sample, torch.device("cpu"))
    assert state_equal(run.state, again.state) and again.history.step_loss == h.step_loss


def test_progress_is_reported_by_time_so_a_short_run_streams_its_curve(sample, monkeypatch):
    """Reports come every `report_s` seconds of training (a fake clock: one second per step), plus each epoch end."""
    import core.training.loop

    clock = iter(range(10**6))
    monkeypatch.setattr(core.training.loop.time, "perf_counter", lambda: float(next(clock)))
    cfg = replace(TINY, epochs=1, batch_size=512)  # 8 steps
    often, rare = [], []
    fit(cfg, sample, torch.device("cpu"), on_progress=often.append, report_s=0.5)
    fit(cfg, sample, torch.device("cpu"), on_progress=rare.append, report_s=1e9)
    assert [p.step for p in often] == list(range(1, 9))  # every step took "a second": each one reported
    assert [p.step for p in rare] == [8]  # only the epoch end
    assert [v for p in often for v in p.new_losses] == rare[0].new_losses  # the same losses, in pieces


def test_non_finite_loss_stops_cleanly_and_is_not_stored(sample, tmp_path, monkeypatch):
    """A NaN loss (forced: no setting within the controls' bounds reliably gives one) stops training."""
    import core.training.loop

    cfg = replace(TINY, optimizer="sgd", lr=10.0, epochs=3)
    real_cross_entropy, calls = core.training.loop.F.cross_entropy, []

    def cross_entropy(*a, **k):
        calls.append(1)
        return real_cross_entropy(*a, **k) * (math.nan if len(calls) > 40 else 1.0)

    monkeypatch.setattr(core.training.loop.F, "cross_entropy", cross_entropy)
    run = fit(cfg, sample, torch.device("cpu"))
    assert run.status == "diverged" and "Lower the learning rate" in run.reason
    assert len(run.history.step_loss) < 3 * math.ceil(3600 / 128)
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
    from core.data.mnist import MNISTData
    from core.data.split import Split

    labels = torch.arange(n) % 10
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for c in range(10):
        images[labels == c, 2 * c + 4:2 * c + 6, :] = 255
    split = Split(images, labels)
    return MNISTData("mnist-sample", "bands", split, split)


@pytest.mark.slow
def test_fit_marks_a_run_that_blew_up_to_chance_as_did_not_learn(tmp_path):
    from core.training.loop import fit

    good = fit(replace(CFG, batch_size=64, lr=1e-2), _bars(), torch.device("cpu"))
    assert good.status == "ok" and good.metrics["test_acc"] > 0.5
    bad = fit(replace(CFG, optimizer="sgd", lr=10.0), load_sample(), torch.device("cpu"))  # real digits, as in #12
    assert bad.status == "did-not-learn" and bad.metrics["test_acc"] < 0.2
    assert max(bad.history.step_loss) > 100 * bad.history.step_loss[0] and "did not learn" in bad.reason
    store = RunStore(tmp_path)
    got, trained = store.get_or_train(bad.config, lambda: bad)
    assert trained and store.load(bad.config).status == "did-not-learn"
    assert [s.status for s in store.summaries()] == ["did-not-learn"]


# ---------------------------------------------------------------- the one loop, against plain PyTorch
def plain_loop(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, epochs: int,
               batch: int, g: torch.Generator, inputs=lambda xb: xb, keep_eval=()) -> list[float]:
    """The textbook loop, written out: shuffle with `g`, gather a batch, transform it, step; frozen norms in eval."""
    import torch.nn.functional as F

    losses = []
    for _ in range(epochs):
        model.train()
        for m in keep_eval:
            m.eval()
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(inputs(x[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize("arch,optimizer", [("net2", "adam"), ("cnn", "momentum")])
def test_fit_is_bit_identical_to_a_plain_pytorch_loop(sample, arch, optimizer):
    """Net2 and CNNDemo through the generalized loop give exactly the weights and losses of the plain loop
    (same seed: the generator draws the initialization, then each epoch's order) on the training digits left after
    the validation split (core.training.validation.carve)."""
    from core.data.mnist import MNISTData
    from core.data.normalization import MNIST_MEAN, MNIST_STD
    from core.data.split import Split
    from core.models.registry import build_model

    small = MNISTData(sample.source, "first 600 / 200", Split(sample.train.images[:600], sample.train.labels[:600]),
                      Split(sample.test.images[:200], sample.test.labels[:200]))
    cfg = replace(TINY, model=ModelConfig(arch, hidden=16), optimizer=optimizer, lr=1e-2, batch_size=128, epochs=2)
    run = fit(cfg, small, torch.device("cpu"))
    g = torch.Generator().manual_seed(cfg.seed)
    model = build_model(cfg.model, g)
    opt = (torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True) if optimizer == "adam" else
           torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum))
    from core.training.validation import carve

    train, _ = carve(small.train)  # 540 train, 60 validation
    x = (train.images.unsqueeze(1).float() / 255 - MNIST_MEAN) / MNIST_STD  # (540, 1, 28, 28)
    losses = plain_loop(model, opt, x, train.labels, cfg.epochs, cfg.batch_size, g)
    assert run.history.step_loss == losses and len(losses) == 2 * 5
    assert state_equal(run.state, model.state_dict())


def test_one_loop_takes_any_image_tensors_a_transform_and_frozen_norms():
    """uint8 images of 3 classes, turned into inputs per batch; a frozen BatchNorm kept in eval mode (its running
    statistics untouched) while the rest trains; weights and losses equal the plain loop's; progress reported."""
    from torch import nn

    from core.training.loop import Schedule, TensorData, train_loop

    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 3
    x = torch.randint(0, 60, (48, 3, 8, 8), generator=g, dtype=torch.uint8)  # (48, 3, 8, 8)
    for c in range(3):
        x[y == c, c] = 250  # class c: channel c bright
    seen_dtypes = set()

    def inputs(xb: torch.Tensor) -> torch.Tensor:
        seen_dtypes.add(xb.dtype)
        return xb.float().div(255).sub(0.5)  # (b, 3, 8, 8)

    def build(state: dict | None = None) -> tuple[nn.Module, torch.optim.Optimizer]:
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
        init = torch.Generator().manual_seed(2)  # this test's own initialization: no global RNG
        for m in (model[0], model[4]):
            torch.nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=init)
            torch.nn.init.zeros_(m.bias)
        model[1].running_mean.fill_(-0.25)  # as after pretraining
        if state is not None:
            model.load_state_dict(state)
        model[1].requires_grad_(False)
        return model, torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-2)

    model, opt = build()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    start = model[0].weight.detach().clone()
    progress = []
    done = train_loop(model, opt, TensorData(x, y, x[:9], y[:9], 3), Schedule(epochs=3, batch_size=8),
                      torch.Generator().manual_seed(5), inputs=inputs, keep_eval=(model[1],),
                      on_progress=progress.append, report_every=1)
    assert not done.diverged and done.seen == 3 * 48 and done.total_steps == 18 and not model.training
    assert len(done.history.step_loss) == 18 and len(done.history.val_acc) == 3 and done.history.val_acc[-1] == 1.0
    assert [p.step for p in progress] == list(range(1, 19)) and [p.epoch for p in progress if p.val_acc] == [1, 2, 3]
    assert seen_dtypes == {torch.uint8}  # the transform got the stored batches
    assert torch.equal(model[1].running_mean, torch.full((4,), -0.25)) and not torch.equal(model[0].weight, start)
    ref, ref_opt = build(initial)
    losses = plain_loop(ref, ref_opt, x, y, 3, 8, torch.Generator().manual_seed(5), inputs, keep_eval=(ref[1],))
    assert done.history.step_loss == losses and state_equal(model.state_dict(), ref.state_dict())
    with pytest.raises(ValueError, match="differ in length"):
        TensorData(x, y[:5], x, y, 3)


def test_validation_is_carved_from_training_and_the_test_set_is_only_reported(sample):
    """Issue 19: over-fitting advice came from the test curve. Each epoch is now judged on a stratified, seeded
    10% of the training digits, which the model never trains on; the test set is evaluated once, at the end."""
    from core.training.loop import evaluate, load_model
    from core.training.validation import carve, held_out

    train, val = carve(sample.train)
    assert len(val) == held_out(sample.train.labels) == 400 and len(train) + len(val) == len(sample.train)
    per_class = torch.bincount(val.labels, minlength=10).float() / torch.bincount(sample.train.labels, minlength=10)
    assert torch.allclose(per_class, torch.full((10,), 0.1), atol=0.005)  # stratified
    seen = set(map(bytes, (x.numpy().tobytes() for x in train.images)))
    assert not any(x.numpy().tobytes() in seen for x in val.images[:50])  # held out, not also trained on
    assert torch.equal(carve(sample.train)[1].labels, val.labels)  # seeded: the same split every time

    from core.data.mnist import to_input

    run = fit(TINY, sample, torch.device("cpu"))
    model = load_model(run, torch.device("cpu"))
    assert evaluate(model, to_input(val.images), val.labels) == pytest.approx(
        (run.history.val_loss[-1], run.history.val_acc[-1]))
    assert evaluate(model, to_input(sample.test.images), sample.test.labels) == pytest.approx(
        (run.metrics["test_loss"], run.metrics["test_acc"]))
