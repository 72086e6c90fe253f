"""core.models.inspection on any nn.Module: torchvision's ResNet-18 (containers, a reused ReLU, in-place ops)."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from core.models.inspection import (
    _measure,
    _rows,
    activations,
    confusion_matrix,
    count_params,
    forward_hooks,
    layer_table,
    per_class_accuracy,
    private_copy,
    summarize,
    top_level,
)
from core.models.registry import ModelConfig, build_model
from core.models.zoo import CNNDemo, Net2
from support import hook_count

STAGES = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]


def snapshot(model: nn.Module) -> dict:
    """Everything a read-only inspection must leave as it was."""
    return {"state": {k: v.clone() for k, v in model.state_dict().items()},
            "ids": [id(p) for p in model.parameters()],
            "requires_grad": [p.requires_grad for p in model.parameters()],
            "grad": [p.grad for p in model.parameters()],
            "modes": [m.training for m in model.modules()],
            "hooks": hook_count(model)}


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k
    assert after["ids"] == before["ids"] and after["requires_grad"] == before["requires_grad"]
    assert all(g is None for g in after["grad"]) and after["modes"] == before["modes"]
    assert after["hooks"] == before["hooks"] == 0


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    return build_model(ModelConfig("resnet18"), torch.Generator().manual_seed(0)).eval()  # fc = Linear(512, 10)


def test_parameter_totals_of_resnet18():
    model = resnet18(weights=None)
    rows = layer_table(model, (1, 3, 32, 32))
    assert sum(r.total_params for r in top_level(rows)) == count_params(model) == 11_689_512
    model.fc = nn.Linear(512, 10)
    rows = layer_table(model, (1, 3, 32, 32))
    assert sum(r.total_params for r in top_level(rows)) == sum(p.numel() for p in model.parameters()) == 11_181_642
    assert sum(r.params for r in rows) == 11_181_642  # own parameters: every one counted exactly once


def test_rows_have_depth_containers_and_call_order(resnet):
    rows = layer_table(resnet, (2, 3, 224, 224))
    by_name = {r.name: r for r in rows}
    assert [r.name for r in top_level(rows)] == STAGES
    assert rows[0].name == "conv1" and rows[-1].name == "fc"
    assert by_name["layer1"].kind == "Sequential" and by_name["layer1"].container and by_name["layer1"].depth == 1
    block = by_name["layer2.0"]
    assert block.kind == "BasicBlock" and block.container and block.depth == 2 and block.params == 0
    assert block.total_params == sum(p.numel() for p in resnet.layer2[0].parameters())
    assert by_name["layer2.0.downsample.0"].depth == 4 and not by_name["layer2.0.conv1"].container
    names = [r.name for r in rows]
    assert names.index("layer2") < names.index("layer2.0") < names.index("layer2.0.conv1")  # containers first
    assert len(names) == len(set(names)) == len([n for n, _ in resnet.named_modules() if n])  # reused ReLU: one row
    expected = {"conv1": (2, 64, 112, 112), "maxpool": (2, 64, 56, 56), "layer1": (2, 64, 56, 56),
                "layer2.0": (2, 128, 28, 28), "layer3": (2, 256, 14, 14), "layer4": (2, 512, 7, 7),
                "avgpool": (2, 512, 1, 1), "fc": (2, 10)}
    for name, shape in expected.items():
        assert by_name[name].output_shape == shape, name
    assert by_name["fc"].formula == "512·10 + 10" and by_name["layer1.0.bn1"].formula == "64 + 64"


def test_shape_only_pass_equals_a_real_forward(resnet):
    """The meta-device table (no arithmetic) matches one run on real zeros, row for row."""
    private = private_copy(resnet)
    real = _rows(private, _measure(private, (1, 3, 40, 40), "cpu", mult_adds=True))
    assert layer_table(resnet, (1, 3, 40, 40), mult_adds=True) == real
    fast = layer_table(resnet, (1, 3, 40, 40))  # without the flop counter: the same rows, mult-adds left out
    assert [replace(r, mult_adds=None) for r in real] == fast and all(r.mult_adds is None for r in fast)


def test_frozen_backbone_reads_false_except_fc():
    model = build_model(ModelConfig("resnet18"))
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    rows = layer_table(model, (1, 3, 32, 32))
    assert sum(r.trainable_params for r in top_level(rows)) == count_params(model, trainable_only=True) == 5_130
    for r in rows:
        if r.name == "fc":
            assert r.trainable == "True" and r.trainable_params == r.total_params == 5_130
        elif r.total_params:
            assert r.trainable == "False" and r.trainable_params == 0, r.name
        else:
            assert r.trainable == "—", r.name  # ReLU, pools: no parameters


def test_one_frozen_batchnorm_makes_its_block_partial():
    model = build_model(ModelConfig("resnet18"))
    model.layer3[1].bn2.requires_grad_(False)
    by_name = {r.name: r for r in layer_table(model, (1, 3, 32, 32))}
    assert by_name["layer3.1.bn2"].trainable == "False" and by_name["layer3.1.conv2"].trainable == "True"
    assert by_name["layer3.1"].trainable == "Partial" and by_name["layer3"].trainable == "Partial"
    assert by_name["layer3.0"].trainable == "True" and by_name["layer2"].trainable == "True"
    assert by_name["layer3"].trainable_params == by_name["layer3"].total_params - 2 * 256


@pytest.mark.parametrize("side", [32, 224])
def test_activations_of_every_stage_match_pytorch(resnet, side):
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(side))
    acts = dict(activations(resnet, x))
    assert list(acts) == ["input", *STAGES]
    with torch.no_grad():  # the same stages, by hand, from torchvision's forward
        y = resnet.bn1(resnet.conv1(x))
        assert torch.equal(acts["bn1"], y) and acts["bn1"].min() < 0  # not overwritten by the in-place ReLU
        y = resnet.maxpool(resnet.relu(y))
        torch.testing.assert_close(acts["maxpool"], y)
        for name in ("layer1", "layer2", "layer3", "layer4"):
            y = getattr(resnet, name)(y)
            torch.testing.assert_close(acts[name], y)
        torch.testing.assert_close(acts["fc"], resnet(x))
    s = side // 4  # conv1 stride 2, maxpool stride 2
    assert acts["layer1"].shape == (1, 64, s, s) and acts["layer2"].shape == (1, 128, s // 2, s // 2)
    assert acts["layer4"].shape == (1, 512, s // 8, s // 8)
    assert acts["avgpool"].shape == (1, 512, 1, 1) and acts["fc"].shape == (1, 10)


def test_inspection_leaves_a_shared_model_untouched():
    model = build_model(ModelConfig("resnet18")).train()  # train mode: batch norm would update its running stats
    model.layer4.requires_grad_(False)
    before = snapshot(model)
    x = torch.randn(2, 3, 32, 32)
    for _ in range(2):
        layer_table(model, (2, 3, 32, 32))
        activations(model, x, names=["layer1.0.bn1", "layer4", "fc"])
    assert_unchanged(model, before)
    assert model.training and model.layer1.training


def test_activations_of_named_submodules_in_call_order():
    model = build_model(ModelConfig("cnn", 16)).eval()
    acts = activations(model, torch.randn(2, 1, 28, 28), names=["fc2", "conv1", "pool2"])
    assert [n for n, _ in acts] == ["input", "conv1", "pool2", "fc2"]


def test_hooks_are_removed_when_the_forward_pass_fails():
    model = build_model(ModelConfig("net2", 16))
    seen = []
    with pytest.raises(RuntimeError):
        with forward_hooks(model, ["flatten", "fc1"], lambda n, _m, _out: seen.append(n),
                           on_call=lambda n, _m: seen.append(f"call {n}")):
            assert hook_count(model) == 4  # a pre-hook and a hook on each
            model(torch.zeros(1, 3, 5, 5))  # wrong size: fc1 raises
    assert hook_count(model) == 0 and seen == ["call flatten", "flatten", "call fc1"]
    with pytest.raises(KeyError):  # an unknown name registers nothing
        with forward_hooks(model, ["flatten", "nope"], lambda *_: None):
            pass
    assert hook_count(model) == 0


def test_summary_totals_agree_with_flop_counter_on_a_real_forward(resnet):
    """One row type: the measured summary (shape-only copy) carries mult-adds, activation bytes and calls."""
    from torch.utils.flop_counter import FlopCounterMode

    summary = summarize(resnet, (2, 3, 32, 32))
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        y = resnet(torch.zeros(2, 3, 32, 32))
    assert summary.mult_adds == counter.get_total_flops() // 2 == sum(r.mult_adds for r in top_level(summary.rows))
    assert summary.output_shape == tuple(y.shape) == (2, 10) and summary.params == count_params(resnet)
    by_name = {r.name: r for r in summary.rows}
    assert by_name["layer2.0"].mult_adds == sum(by_name[f"layer2.0.{n}"].mult_adds
                                                for n in ("conv1", "conv2", "downsample"))
    assert by_name["fc"].mult_adds == 2 * 512 * 10 and by_name["fc"].activation_bytes == 2 * 10 * 4
    assert by_name["layer1.0.relu"].calls == 2 and by_name["conv1"].calls == 1
    assert by_name["layer1.0.relu"].activation_bytes == 2 * (2 * 64 * 8 * 8 * 4)  # both calls counted


def test_a_module_the_forward_never_calls_comes_last_with_zero_calls():
    class WithSpare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.spare = nn.Linear(3, 3)
            self.used = nn.Linear(4, 2)

        def forward(self, x):
            return self.used(x)

    rows = layer_table(WithSpare(), (5, 4), mult_adds=True)
    assert [(r.name, r.calls, r.output_shape, r.mult_adds) for r in rows] == [
        ("used", 1, (5, 2), 5 * 4 * 2), ("spare", 0, (), 0)]


@pytest.mark.parametrize("model, params", [(Net2(), 784 * 128 + 128 + 128 * 10 + 10),
                                           (CNNDemo(), 160 + 4640 + 200_832 + 1290)])
def test_param_counts_match_numel(model, params):
    rows = layer_table(model, (2, 1, 28, 28))
    assert sum(r.params for r in rows) == count_params(model) == sum(p.numel() for p in model.parameters()) == params


def test_layer_table_shapes_formulas_and_no_side_effects():
    model = CNNDemo().eval()
    rows = {r.name: r for r in layer_table(model, (3, 1, 28, 28))}
    assert rows["conv1"].output_shape == (3, 16, 28, 28) and rows["conv1"].formula == "16·1·3·3 + 16"
    assert rows["pool1"].output_shape == (3, 16, 14, 14)
    assert rows["pool2"].output_shape == (3, 32, 7, 7)
    assert rows["flatten"].output_shape == (3, 32 * 7 * 7)
    assert rows["fc1"].formula == "1568·128 + 128" and rows["fc1"].params == 200_832
    assert rows["relu1"].trainable == "—" and rows["conv1"].trainable == "True"
    assert all(not m._forward_hooks for m in model.modules())  # nothing left on the caller's model
    assert not model.training


def test_trainable_flag_reads_partial_and_false():
    model = Net2()
    model.fc1.bias.requires_grad_(False)
    model.fc2.requires_grad_(False)
    rows = {r.name: r.trainable for r in layer_table(model, (1, 1, 28, 28))}
    assert rows["fc1"] == "Partial" and rows["fc2"] == "False"


def test_activations_walk_matches_forward():
    model = CNNDemo().eval()
    x = torch.randn(2, 1, 28, 28)
    acts = activations(model, x)
    assert [n for n, _ in acts][:4] == ["input", "conv1", "relu1", "pool1"]
    torch.testing.assert_close(acts[-1][1], model(x))
    torch.testing.assert_close(acts[1][1], F.conv2d(x, model.conv1.weight, model.conv1.bias, padding=1))


def test_confusion_and_per_class():
    cm = confusion_matrix(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 1]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert per_class_accuracy(cm).tolist() == [0.5, 1.0, 0.0]
