"""Transfer learning core: freezing, BN modes, parameter groups, stored features, weights and CIFAR loading."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from core.config import TransferConfig
from core.data import MNISTData, Split
from core.figures.transfer import STATE_COLOURS, frozen_map
from core.transfer import (
    STAGES,
    apply_strategy,
    backbone_features,
    build_resnet18,
    count_params,
    digit_tasks,
    extract_features,
    fit_transfer,
    gradient_norms,
    layer_states,
    make_optimizer,
    model_of,
    normalization,
    param_groups,
    prepare,
    set_train_mode,
    source_config,
    strategy_code,
)

CPU = torch.device("cpu")


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


def test_layer_states_true_false_partial_and_map(resnet10):
    apply_strategy(resnet10, "feature")
    by = {r.name: r for r in layer_states(resnet10)}
    assert (by[""].params, by[""].trainable) == (11_181_642, "Partial")
    assert by["fc"].trainable == "True" and by["fc"].params == 5_130
    assert (by["layer4.1"].kind, by["layer4.1"].trainable, by["layer4.1"].depth) == ("BasicBlock", "False", 2)
    assert by["layer2.0.downsample.0"].trainable == "False" and "relu" not in by  # no parameters, no row
    resnet10.layer4[1].bn2.requires_grad_(True)
    by = {r.name: r for r in layer_states(resnet10)}
    assert (by["layer4.1.bn2"].trainable, by["layer4.1"].trainable, by["layer4"].trainable) == ("True", "Partial",
                                                                                                "Partial")
    rows = layer_states(resnet10)
    tree = frozen_map(rows).data[0]
    assert tree.values[0] == 11_181_642 and len(tree.ids) == len(rows)
    assert tree.marker.colors[list(tree.ids).index("layer4.1")] == STATE_COLOURS["Partial"]


def test_param_groups_lrs_and_sizes(resnet10):
    cfg = TransferConfig(strategy="finetune", k_stages=2, head_lr=1e-2, backbone_lr=1e-4)
    apply_strategy(resnet10, "finetune", 2)
    groups = param_groups(resnet10, cfg)
    assert [(g.name, g.lr, g.n_params, set(g.modules)) for g in groups] == [
        ("head (fc)", 1e-2, 5_130, {"fc"}), ("backbone", 1e-4, 10_493_440, {"layer3", "layer4"})]
    opt = make_optimizer(resnet10, cfg)
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
    opt = make_optimizer(model, TransferConfig(strategy="finetune", k_stages=1))
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


def test_prepare_resizes_on_device_like_interpolate():
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    norm = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    out = prepare(x, 64, norm)
    ref = (nn.functional.interpolate(x.float() / 255, size=(64, 64), mode="bilinear", align_corners=False) - 0.5) / 0.25
    assert out.shape == (2, 3, 64, 64)
    torch.testing.assert_close(out, ref)


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
