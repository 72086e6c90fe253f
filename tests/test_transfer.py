"""Transfer learning core: freezing, BN modes, parameter groups, stored features, weights and CIFAR loading."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from core.data import cifar
from core.data.mnist import MNISTData
from core.data.normalization import MNIST_MEAN, MNIST_STD
from core.data.split import Split
from core.figures.transfer import STATE_COLOURS, frozen_map
from core.figures.transfer import gradient_norms as gradient_figure
from core.models.inspection import count_params as _count
from core.models.inspection import layer_table
from core.transfer import pretrained
from core.transfer.code import strategy_code
from core.transfer.config import TransferConfig
from core.transfer.estimate import estimate_seconds, time_per_image
from core.transfer.features import backbone_features, extract_features, normalization, prepare
from core.transfer.fit import fit_transfer
from core.transfer.model import build_resnet18, model_of, predict
from core.transfer.report import RunResult, anatomy, conclusion, first_filters, wilson
from core.transfer.strategies import (
    STAGES,
    apply_strategy,
    gradient_norms,
    optimizer,
    param_groups,
    set_train_mode,
)
from core.transfer.tasks import digit_tasks, source_config
from support import write_cifar, write_fake_imagenet

CPU = torch.device("cpu")


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total), through core.models.inspection's one counter."""
    return _count(model, trainable_only=True), _count(model)


@pytest.fixture(scope="module")
def resnet10() -> nn.Module:
    return build_resnet18(10, torch.Generator().manual_seed(0))


def tiny_digits(n_per_class: int = 12, seed: int = 0) -> MNISTData:
    """Synthetic 28x28 'digits': class c is a bright bar at row 2c plus noise (learnable in a few steps)."""
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        labels = torch.arange(10).repeat_interleave(n)
        imgs = torch.randint(0, 40, (len(labels), 28, 28), generator=g, dtype=torch.uint8)
        for i, c in enumerate(labels.tolist()):
            imgs[i, 2 * c + 2: 2 * c + 5, 4:24] = 250
        return Split(imgs, labels)

    return MNISTData("mnist-sample", "tiny synthetic digits", split(n_per_class), split(4))


def test_parameter_totals_match_torchvision(resnet10):
    assert sum(p.numel() for p in resnet18(weights=None).parameters()) == 11_689_512
    assert count_params(apply_strategy(resnet10, "full")) == (11_181_642, 11_181_642)


@pytest.mark.parametrize("strategy,k,trainable", [
    ("feature", 1, 5_130),
    ("finetune", 1, 5_130 + 8_393_728),  # + layer4
    ("finetune", 2, 5_130 + 8_393_728 + 2_099_712),  # + layer3
    ("finetune", 3, 5_130 + 8_393_728 + 2_099_712 + 525_568),  # + layer2
    ("finetune", 4, 5_130 + 8_393_728 + 2_099_712 + 525_568 + 147_968),  # + layer1
    ("full", 1, 11_181_642),
    ("scratch", 1, 11_181_642),
])
def test_exact_trainable_counts(resnet10, strategy, k, trainable):
    apply_strategy(resnet10, strategy, k)
    assert count_params(resnet10) == (trainable, 11_181_642)
    stage_sizes = {s: sum(p.numel() for p in getattr(resnet10, s).parameters()) for s in STAGES}
    assert stage_sizes == {"layer4": 8_393_728, "layer3": 2_099_712, "layer2": 525_568, "layer1": 147_968}


def test_layer_table_map_true_false_partial(resnet10):
    apply_strategy(resnet10, "feature")
    rows = layer_table(resnet10, (1, 3, 32, 32))
    by = {r.name: r for r in rows}
    assert sum(r.total_params for r in rows if r.depth == 1) == 11_181_642
    assert sum(r.trainable_params for r in rows if r.depth == 1) == 5_130
    assert by["fc"].trainable == "True" and by["fc"].total_params == 5_130
    assert (by["layer4.1"].kind, by["layer4.1"].trainable, by["layer4.1"].depth) == ("BasicBlock", "False", 2)
    assert by["layer2.0.downsample.0"].trainable == "False"
    tree = frozen_map(rows).data[0]
    assert tree.values[0] == 11_181_642 and tree.ids[0] == "resnet18"
    assert len(tree.ids) == 1 + sum(r.total_params > 0 for r in rows)  # relu, pools: no parameters, no box
    assert tree.marker.colors[0] == STATE_COLOURS["Partial"]
    resnet10.layer4[1].bn2.requires_grad_(True)
    rows = layer_table(resnet10, (1, 3, 32, 32))
    by = {r.name: r for r in rows}
    assert (by["layer4.1.bn2"].trainable, by["layer4.1"].trainable, by["layer4"].trainable) == ("True", "Partial",
                                                                                                "Partial")
    tree = frozen_map(rows).data[0]
    assert tree.marker.colors[list(tree.ids).index("layer4.1")] == STATE_COLOURS["Partial"]
    assert tree.marker.colors[list(tree.ids).index("layer4.0")] == STATE_COLOURS["False"]
    apply_strategy(resnet10, "full")
    assert frozen_map(layer_table(resnet10, (1, 3, 32, 32))).data[0].marker.colors[0] == STATE_COLOURS["True"]


@pytest.mark.parametrize("resolution,after_layer4", [(32, (1, 512, 1, 1)), (64, (1, 512, 2, 2)),
                                                      (224, (1, 512, 7, 7))])
def test_anatomy_counts_18_weighted_layers_and_stage_shapes(resnet10, resolution, after_layer4):
    rows = layer_table(resnet10, (1, 3, resolution, resolution))
    arch = anatomy(rows)
    assert (arch.weighted, arch.convs, arch.linears, arch.projections, arch.blocks) == (18, 17, 1, 3, 8)
    stages = {s.name: s for s in arch.stages}
    assert stages["layer4"].output_shape == after_layer4 and stages["fc"].output_shape == (1, 10)
    assert [stages[n].projection for n in ("layer1", "layer2", "layer3", "layer4")] == [False, True, True, True]
    assert all(stages[n].blocks == 2 for n in ("layer1", "layer2", "layer3", "layer4"))
    with torch.no_grad():  # the shapes are those of a real forward pass
        x = resnet10.eval().maxpool(resnet10.relu(resnet10.bn1(resnet10.conv1(torch.zeros(1, 3, resolution,
                                                                                             resolution)))))
        assert tuple(resnet10.layer4(resnet10.layer3(resnet10.layer2(resnet10.layer1(x)))).shape) == after_layer4


def test_normalization_comes_from_the_weights_own_transforms():
    from torchvision.models import ResNet18_Weights

    t = ResNet18_Weights.IMAGENET1K_V1.transforms()
    mean, std = normalization(TransferConfig(weights="imagenet", source="cifar10"))
    assert list(mean) == pytest.approx(list(t.mean)) and list(std) == pytest.approx(list(t.std))
    assert normalization(TransferConfig()) == ((MNIST_MEAN,) * 3, (MNIST_STD,) * 3)  # the digits pretraining's own


def test_param_groups_lrs_and_sizes(resnet10):
    cfg = TransferConfig(strategy="finetune", k_stages=2, head_lr=1e-2, backbone_lr=1e-4)
    apply_strategy(resnet10, "finetune", 2)
    groups = param_groups(resnet10, cfg)
    assert [(g.name, g.lr, g.n_params, set(g.modules)) for g in groups] == [
        ("head (fc)", 1e-2, 5_130, {"fc"}), ("backbone", 1e-4, 10_493_440, {"layer3", "layer4"})]
    opt = optimizer(resnet10, cfg)
    assert [pg["lr"] for pg in opt.param_groups] == [1e-2, 1e-4]
    in_opt = {id(p) for pg in opt.param_groups for p in pg["params"]}
    assert in_opt == {id(p) for p in resnet10.parameters() if p.requires_grad}
    apply_strategy(resnet10, "feature")
    assert [(g.name, g.n_params) for g in param_groups(resnet10, replace(cfg, strategy="feature"))] == [
        ("head (fc)", 5_130)]
    apply_strategy(resnet10, "scratch")
    scratch = param_groups(resnet10, replace(cfg, strategy="scratch", weights="random"))
    assert [g.lr for g in scratch] == [1e-2, 1e-2] and sum(g.n_params for g in scratch) == 11_181_642


def test_frozen_batchnorm_stays_in_eval_and_keeps_running_stats():
    model = apply_strategy(build_resnet18(5, torch.Generator().manual_seed(1)), "finetune", 1)
    for m in model.modules():  # non-trivial running stats, as after pretraining
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
    before = {n: b.clone() for n, b in model.named_buffers()}
    set_train_mode(model)
    opt = optimizer(model, TransferConfig(strategy="finetune", k_stages=1))
    x = torch.randn(8, 3, 32, 32)
    nn.functional.cross_entropy(model(x), torch.arange(8) % 5).backward()
    opt.step()
    for name, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.training == name.startswith("layer4"), name
    for name, b in model.named_buffers():
        if name.startswith("layer4.") and name.endswith("running_mean"):
            assert not torch.equal(b, before[name]), name  # trainable stage: stats updated
        elif not name.startswith("layer4."):
            assert torch.equal(b, before[name]), name  # frozen stages: unchanged


def test_gradient_norms_zero_for_frozen_and_shared_model_untouched(resnet10):
    apply_strategy(resnet10, "full").eval()
    cfg = TransferConfig(strategy="finetune", k_stages=1)
    grads = gradient_norms(resnet10, cfg, torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8),
                           torch.tensor([0, 1, 2, 3]))
    by = {g.name: g for g in grads}
    assert len(grads) == 2 + 8 * 4 + 3 * 2 + 1  # conv1, bn1; 8 blocks x (2 conv + 2 bn); 3 downsample x 2; fc
    for g in grads:
        frozen = not (g.name.startswith("layer4") or g.name == "fc")
        assert g.trainable != frozen
        assert (g.grad_norm == 0.0) if frozen else (g.grad_norm > 0), g
    assert by["fc"].grad_norm > 0
    assert not resnet10.training and all(p.grad is None and p.requires_grad for p in resnet10.parameters())


def test_gradient_figure_bars_trainable_and_marks_frozen_zero(resnet10):
    apply_strategy(resnet10, "full").eval()
    grads = gradient_norms(resnet10, TransferConfig(strategy="feature"),
                           torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), torch.tensor([0, 1, 2, 3]))
    bars, frozen = gradient_figure(grads).data
    assert list(bars.x) == ["fc"] and bars.y[0] == pytest.approx(next(g.grad_norm for g in grads if g.name == "fc"))
    assert len(frozen.x) == len(grads) - 1 and set(frozen.customdata) == {0.0}


def test_conclusion_is_computed_from_the_runs():
    runs = [RunResult("Feature extraction", "feature", 0.82, 2.0, 2_565),
            RunResult("Full fine-tuning", "full", 0.91, 20.0, 11_179_077),
            RunResult("From scratch", "scratch", 0.55, 19.0, 11_179_077)]
    text = conclusion(runs)
    assert text.startswith("**Full fine-tuning** won with 91.0% (95% interval 88.2–93.2%) target accuracy in 20.0 s")
    assert "9.0 points ahead of Feature extraction (82.0%" in text and "more than the ±4.2 points" in text
    assert "10.0× less" in text and "Every pretrained strategy beat from scratch (55.0%)" in text
    flipped = conclusion([RunResult("Feature extraction", "feature", 0.40, 2.0, 2_565),
                          RunResult("From scratch", "scratch", 0.60, 19.0, 11_179_077)])
    assert flipped.startswith("**From scratch** won") and "beat Feature extraction" in flipped
    assert "do not fit this target" in flipped and conclusion([]) == ""


def test_a_gap_inside_the_test_sets_uncertainty_wins_nothing():
    """Issue 19: a strategy "won" on a 1.6-point gap over 500 test images, with a different head learning rate, and
    a 8.2 s vs 8.8 s timing was read as faster. Now: the Wilson interval from the test images, no winner inside the
    noise, the other differing settings named, and times within 25% called noise on a shared machine."""
    a = RunResult("Feature extraction", "feature", 0.824, 8.8, 2_565, 500, {"head learning rate": "0.01"})
    b = RunResult("Full fine-tuning", "full", 0.808, 8.2, 11_179_077, 500,
                  {"head learning rate": "0.001", "backbone learning rate": "0.0001"}, shared=True)
    text = conclusion([a, b])
    assert " won " not in text and "within the test set's uncertainty" in text and "neither has won" in text
    assert "1.6-point gap is less than the ±4.8 points" in text
    assert wilson(0.824, 500) == pytest.approx((0.7881, 0.8548), abs=1e-4)  # Wilson by hand: 95 %, n = 500
    assert "head learning rate (0.01 vs 0.001)" in text and "backbone" not in text.split("differ in")[1][:60]
    assert "within timing noise" in text and "shared machine" in text
    many = [replace(a, n_test=500, seeds=5), replace(b, n_test=500, seeds=5, acc=0.70)]
    assert "**Feature extraction** won" in conclusion(many)  # 12 points over 5 seeds each: more than chance
def test_predict_and_filters_match_the_model(resnet10):
    resnet10.eval()
    cfg = TransferConfig(resolution=64)
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        want = resnet10(prepare(x, 64, normalization(cfg))).argmax(1)
    assert torch.equal(predict(resnet10, x, cfg, batch=2), want)
    state = resnet10.state_dict()
    torch.testing.assert_close(first_filters(state, 4), state["conv1.weight"][:4].sum(1))


def test_timing_leaves_the_model_alone_and_estimate_adds_up(resnet10):
    apply_strategy(resnet10, "full").eval()
    before = {k: v.clone() for k, v in resnet10.state_dict().items()}
    train_s, infer_s = time_per_image(resnet10, TransferConfig(strategy="finetune", k_stages=1), CPU, batch=2)
    assert train_s > 0 and infer_s > 0
    assert not resnet10.training and all(p.grad is None and p.requires_grad for p in resnet10.parameters())
    assert all(torch.equal(v, before[k]) for k, v in resnet10.state_dict().items())
    assert time_per_image(resnet10, TransferConfig(), CPU, batch=2)[0] == 0.0  # feature extraction: inference only
    assert estimate_seconds(TransferConfig(strategy="full", epochs=3), 10, 20, (0.5, 0.1)) == pytest.approx(
        3 * (10 * 0.5 + 20 * 0.1))
    assert estimate_seconds(TransferConfig(epochs=3), 10, 20, (0.0, 0.1)) == pytest.approx(30 * 0.1)


# ---------------------------------------------------------------- stored-feature fast path
def test_head_on_stored_features_equals_full_model_logits():
    data = tiny_digits(4)
    source, target = digit_tasks(data, labels_per_class=4)
    backbone = build_resnet18(5, torch.Generator().manual_seed(3)).state_dict()
    cfg = TransferConfig(strategy="feature", epochs=2, batch_size=8, head_lr=1e-2)
    run = fit_transfer(cfg, target, CPU, backbone=backbone)
    assert set(run.state) == {"fc.weight", "fc.bias"} and run.metrics["trainable_params"] == 5 * 512 + 5
    full = model_of(run, 5, backbone)  # backbone + the trained head, eval mode
    x = target.test.images  # (N, 3, 32, 32) uint8
    with torch.no_grad():
        expected = full(prepare(x, cfg.resolution, normalization(cfg)))  # (N, 5)
        feats = extract_features(full, x, cfg.resolution, normalization(cfg), CPU, batch=7)  # (N, 512)
        head = nn.Linear(512, 5)
        head.load_state_dict({"weight": run.state["fc.weight"], "bias": run.state["fc.bias"]})
        torch.testing.assert_close(head(feats), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(backbone_features(full, prepare(x[:3], 32, normalization(cfg))), feats[:3])
    # the run's reported test accuracy is the full model's accuracy
    acc = (expected.argmax(1) == target.test.labels).float().mean().item()
    assert abs(acc - run.metrics["test_acc"]) < 1e-6


def test_fine_tuning_trains_through_the_one_loop_exactly_like_plain_pytorch(monkeypatch):
    """fit_transfer hands core.training's loop the uint8 images, the resize + normalize transform, the optimizer's
    parameter groups and the frozen BatchNorm layers; the result equals the plain loop's, bit for bit."""
    from test_train import plain_loop

    import core.transfer.fit
    from core.transfer.strategies import frozen_norms

    calls = []
    real = core.transfer.fit.train_loop
    monkeypatch.setattr(core.transfer.fit, "train_loop", lambda *a, **k: calls.append((a, k)) or real(*a, **k))
    _, target = digit_tasks(tiny_digits(6), labels_per_class=6)
    backbone = build_resnet18(5, torch.Generator().manual_seed(3)).state_dict()
    cfg = TransferConfig(strategy="finetune", k_stages=1, epochs=2, batch_size=16, head_lr=1e-3, backbone_lr=1e-4,
                         resolution=64, labels_per_class=6)
    run = fit_transfer(cfg, target, CPU, backbone=backbone)
    (model, opt, data, schedule, _), kw = calls[0]
    assert data.x_train.dtype == torch.uint8 and data.num_classes == 5 and schedule.batch_size == 16
    assert [pg["lr"] for pg in opt.param_groups] == [1e-3, 1e-4]
    assert {id(m) for m in kw["keep_eval"]} == {id(m) for n, m in model.named_modules()
                                                 if isinstance(m, nn.BatchNorm2d) and not n.startswith("layer4")}
    g = torch.Generator().manual_seed(cfg.seed)
    ref = apply_strategy(build_resnet18(5, g, backbone), "finetune", 1)
    losses = plain_loop(ref, optimizer(ref, cfg), target.train.images, target.train.labels, 2, 16, g,
                        lambda xb: prepare(xb, 64, normalization(cfg)), frozen_norms(ref))
    assert run.history.step_loss == losses and len(losses) == 2 * 2
    assert all(torch.equal(run.state[k], v) for k, v in ref.state_dict().items())
    calls.clear()
    head = fit_transfer(replace(cfg, strategy="feature", head_lr=1e-2), target, CPU, backbone=backbone)
    (model, _, data, schedule, _), kw = calls[0]  # the head trains on stored (N, 512) features, same loop
    assert isinstance(model, nn.Linear) and data.x_train.shape == (30, 512) and schedule.eval_batch == 4096
    assert head.status == "ok" and not kw.get("keep_eval")


def test_a_transfer_run_that_blows_up_stops_with_its_learning_rates(monkeypatch):
    import core.training.loop

    real, calls = core.training.loop.F.cross_entropy, []

    def cross_entropy(*a, **k):
        calls.append(1)
        return real(*a, **k) * (math.nan if len(calls) > 1 else 1.0)

    monkeypatch.setattr(core.training.loop.F, "cross_entropy", cross_entropy)
    _, target = digit_tasks(tiny_digits(6), labels_per_class=6)
    cfg = TransferConfig(strategy="scratch", weights="random", epochs=3, batch_size=8, head_lr=3e-3,
                         labels_per_class=6)
    run = fit_transfer(cfg, target, CPU, report_every=1)  # losses read back after every step
    assert run.status == "diverged" and "Lower the learning rates (head 0.003)" in run.reason
    assert "at step 2 of 12" in run.reason and len(run.history.val_acc) == 0


def test_prepare_resizes_on_device_like_interpolate():
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    norm = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    out = prepare(x, 64, norm)
    ref = (nn.functional.interpolate(x.float() / 255, size=(64, 64), mode="bilinear", align_corners=False) - 0.5) / 0.25
    assert out.shape == (2, 3, 64, 64)
    torch.testing.assert_close(out, ref)


@pytest.mark.slow
def test_offline_source_to_target_end_to_end():
    data = tiny_digits(12)
    source, target = digit_tasks(data, labels_per_class=6)
    assert source.train.images.shape[1:] == (3, 32, 32) and source.classes == tuple("01234")
    assert target.classes == tuple("56789") and target.train.labels.bincount().tolist() == [6] * 5
    base = TransferConfig(epochs=1, batch_size=32, head_lr=1e-3, backbone_lr=1e-4, labels_per_class=6)
    src_run = fit_transfer(source_config(base, epochs=2), source, CPU)
    assert src_run.status == "ok" and len(src_run.history.val_acc) == 2 and src_run.history.steps_per_epoch == 2
    seen = []
    for strategy in ("feature", "finetune", "full", "scratch"):
        cfg = replace(base, strategy=strategy, weights="random" if strategy == "scratch" else "digits-pretrained")
        run = fit_transfer(cfg, target, CPU, on_progress=seen.append,
                           backbone=None if strategy == "scratch" else src_run.state)
        assert run.status == "ok" and run.metrics["n_train"] == 30 and run.metrics["n_test"] == len(target.test)
        assert len(run.history.step_loss) == run.history.steps_per_epoch == 1 and 0 <= run.metrics["test_acc"] <= 1
        frozen_from_source = {"feature": "layer4.1.conv2.weight", "finetune": "layer3.1.conv2.weight",
                              "full": None, "scratch": None}[strategy]
        if frozen_from_source:  # frozen layers hold exactly the pretrained source weights
            model = model_of(run, 5, src_run.state)
            assert torch.equal(model.state_dict()[frozen_from_source], src_run.state[frozen_from_source])
    assert [p.epoch for p in seen] == [1] * 4


def test_config_round_trip_and_bounds():
    cfg = TransferConfig(strategy="finetune", k_stages=3)
    assert TransferConfig.from_dict(cfg.to_dict()) == cfg and cfg.key() != replace(cfg, k_stages=2).key()
    assert "digits 0-4" in cfg.label() and "ImageNet" not in cfg.label()
    for bad in ({**cfg.to_dict(), "epochs": "3"}, {**cfg.to_dict(), "resolution": 33}, [], {"strategy": "feature"},
                {**cfg.to_dict(), "strategy": "magic"}, {**cfg.to_dict(), "head_lr": float("nan")}):
        with pytest.raises(ValueError):
            TransferConfig.from_dict(bad)
    assert TransferConfig(strategy="scratch").problems()  # scratch needs random weights


@pytest.mark.parametrize("strategy,k", [("feature", 1), ("finetune", 2), ("full", 1), ("scratch", 1)])
def test_code_panel_runs_and_matches_the_live_model(resnet10, strategy, k, capsys):
    cfg = TransferConfig(strategy=strategy, k_stages=k, weights="random" if strategy == "scratch" else "imagenet")
    code = strategy_code(cfg, 10).replace("ResNet18_Weights.IMAGENET1K_V1", "None")  # same graph, no download
    namespace: dict = {}
    exec(compile(code, "<strategy_code>", "exec"), namespace)  # our own generated code, under test
    trainable, total = count_params(apply_strategy(resnet10, strategy, k))
    assert capsys.readouterr().out.strip() == f"{trainable:,} trainable of {total:,}"
    lrs = [g["lr"] for g in namespace["optimizer"].param_groups]
    assert lrs == [g.lr for g in param_groups(resnet10, cfg)]


# ---------------------------------------------------------------- the run store: transfer runs and stored features
@pytest.mark.slow
def test_runs_pretraining_and_features_go_through_the_store(tmp_path):
    from core.runs.store import RunStore
    from core.transfer.config import FeatureConfig
    from core.transfer.features import feature_config
    from core.transfer.fit import train_stored
    from core.transfer.tasks import pretraining_config, task_for

    store, digits = RunStore(tmp_path / "runs"), tiny_digits(12)
    cfg = TransferConfig(epochs=1, batch_size=16, labels_per_class=6)
    run, trained = store.get_or_train(cfg, lambda: train_stored(cfg, store, tmp_path, CPU, digits=digits))
    assert trained and run.status == "ok"
    pre = store.load(pretraining_config())  # the pretraining landed in the store first
    assert pre is not None and len(pre.history.val_acc) == 2 and pre.config.task == "source"
    target = task_for(cfg, tmp_path, digits)
    fcfg = feature_config(cfg, target, pretraining_config().key())
    feats = store.load(fcfg)  # (N, 512) features, keyed like any run
    assert feats.state["train"].shape == (30, 512) and feats.state["test"].shape == (len(target.test), 512)
    assert FeatureConfig.from_dict(fcfg.to_dict()) == fcfg
    with torch.no_grad():  # they are the pretrained backbone's features
        model = build_resnet18(5, torch.Generator().manual_seed(0), pre.state).eval()
        torch.testing.assert_close(feats.state["train"][:4],
                                   backbone_features(model, prepare(target.train.images[:4], 32, normalization(cfg))))
    loaded = store.load(cfg)  # a config that was trained loads from the store
    assert all(torch.equal(loaded.state[k], run.state[k]) for k in run.state) and set(loaded.state) == {
        "fc.weight", "fc.bias"}
    assert loaded.metrics["features_s"] == pytest.approx(feats.metrics["features_s"])
    other = replace(cfg, head_lr=1e-3, epochs=2)  # another head on the same features: no backbone pass
    created = {s.key: s.created for s in store.summaries("features")}
    store.get_or_train(other, lambda: train_stored(other, store, tmp_path, CPU, digits=digits))
    assert {s.key: s.created for s in store.summaries("features")} == created  # the same one record, untouched
    kinds = {s.kind for s in store.summaries(None)}
    assert kinds == {"transfer", "features"} and store.summaries() == []  # MNIST pages list only MNIST runs
    assert [s.config.task for s in store.summaries("transfer")].count("target") == 2


def test_tampered_transfer_records_are_refused(tmp_path):
    import json

    from core.config import ConfigError
    from core.runs.store import RunStore

    store = RunStore(tmp_path)
    cfg = TransferConfig(strategy="scratch", weights="random", epochs=1)
    with pytest.raises(ConfigError):
        TransferConfig.from_dict({**cfg.to_dict(), "k_stages": 9})
    head = {"fc.weight": torch.zeros(5, 512), "fc.bias": torch.zeros(5)}
    from core.training.record import History, Run

    with pytest.raises(Exception, match="names differ"):  # a head alone is not a from-scratch model
        store.save(Run(cfg, head, History([1.0], 1, [1.0], [0.5]), {
            "test_acc": 0.5, "test_loss": 1.0, "train_s": 1.0, "wall_s": 1.0, "samples_per_s": 1.0,
            "device": "cpu", "n_train": 5, "n_test": 5}))
    feature = TransferConfig(epochs=1)
    store.save(Run(feature, head, History([1.0], 1, [1.0], [0.5]), {
        "test_acc": 0.5, "test_loss": 1.0, "train_s": 1.0, "wall_s": 1.0, "samples_per_s": 1.0, "device": "cpu",
        "n_train": 5, "n_test": 5, "trainable_params": 2_565, "features_s": 0.5}))
    assert store.load(feature) is not None
    meta = tmp_path / feature.key() / "run.json"
    record = json.loads(meta.read_text())
    record["config"]["strategy"] = "magic"
    meta.write_text(json.dumps(record))
    assert store.load(feature) is None and "config" in store.last_problem(feature)


@pytest.mark.slow
def test_cifar_route_trains_through_the_store(tmp_path, monkeypatch):
    from core.runs.store import RunStore
    from core.transfer.fit import train_stored

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    written = write_fake_imagenet(pretrained.hub_cache_file())
    write_cifar(cifar.cifar_dir(tmp_path / "data"))
    store = RunStore(tmp_path / "runs")
    cfg = TransferConfig(source="cifar10", weights="imagenet", subset=20, epochs=1, batch_size=8)
    run, _ = store.get_or_train(cfg, lambda: train_stored(cfg, store, tmp_path / "data", CPU))
    assert run.status == "ok" and run.metrics["trainable_params"] == 5_130 and run.metrics["n_train"] == 20
    model = model_of(store.load(cfg), 10, written)  # ImageNet backbone + the stored 10-class head
    assert torch.equal(model.layer1[0].conv1.weight, written["layer1.0.conv1.weight"])
    assert [s.config.weights for s in store.summaries("features")] == ["imagenet"]
    missing = TransferConfig(source="cifar10", weights="imagenet", subset=20, epochs=1)
    with pytest.raises(ValueError, match="python -m core.data.cifar --download"):  # a plain-words failure
        train_stored(missing, store, tmp_path / "elsewhere", CPU)
