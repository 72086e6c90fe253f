"""Conv arithmetic against PyTorch itself: the hand-computed value, the size formula, the shape flow."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.lessons import conv_stages
from core.models import conv_arithmetic
from core.models.inspection import activations
from core.models.registry import ModelConfig, build_model
from core.models.zoo import CNNDemo


@pytest.fixture(scope="module")
def model() -> nn.Sequential:
    return conv_stages.initial_model(ModelConfig(arch="cnn", hidden=32), seed=3)


def test_arithmetic_matches_f_conv2d_at_random_positions(model):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 28, 28, generator=g)  # (1, 1, 28, 28)
    acts = dict(activations(model, x))
    rng = np.random.default_rng(0)
    for layer_name, inp_name in (("conv1", "input"), ("conv2", "pool1")):
        layer = getattr(model, layer_name)
        inp = acts[inp_name][0]  # (C_in, H, W)
        ref = F.conv2d(inp[None], layer.weight, layer.bias, stride=layer.stride, padding=layer.padding)[0]
        assert torch.allclose(ref, acts[layer_name][0], atol=1e-5)
        for _ in range(25):  # random positions, including the borders where padding is used
            ch = int(rng.integers(ref.shape[0]))
            r, c = (int(v) for v in rng.integers(ref.shape[1], size=2))
            step = conv_arithmetic.conv_at(inp, layer, ch, r, c)
            assert step.value == pytest.approx(float(ref[ch, r, c]), abs=1e-5)
            assert step.patch.shape == step.kernel.shape == step.products.shape == (inp.shape[0], 3, 3)
            assert float(step.products.sum()) + step.bias == pytest.approx(step.value, abs=1e-5)
        corner = conv_arithmetic.conv_at(inp, layer, 0, 0, 0)
        assert np.all(corner.patch[:, 0, :] == 0) and np.all(corner.patch[:, :, 0] == 0)  # padding reads 0


@pytest.mark.parametrize("stride,padding,dilation", [(2, 0, 1), (3, 2, 1), (1, 1, 2), (2, 3, 3)])
def test_arithmetic_with_stride_padding_dilation(stride, padding, dilation):
    layer = nn.Conv2d(3, 4, kernel_size=3, stride=stride, padding=padding, dilation=dilation)
    x = torch.randn(3, 11, 13)
    ref = layer(x[None])[0].detach()
    for ch, r, c in itertools.product(range(4), range(ref.shape[1]), range(ref.shape[2])):
        assert conv_arithmetic.conv_at(x, layer, ch, r, c).value == pytest.approx(float(ref[ch, r, c]), abs=1e-5)


SWEEP = [conv_arithmetic.ConvSpec(n, k, s, p, d, op)
         for op in ("conv", "pool")
         for n in (1, 2, 3, 5, 7, 8, 28)
         for k in (1, 2, 3, 5, 9)
         for s in (0, 1, 2, 3)
         for p in (0, 1, 2, 4)
         for d in (1, 2, 3)]


def test_sandbox_sizes_match_pytorch_including_invalid():
    n_invalid = 0
    for spec in SWEEP:
        ours = conv_arithmetic.check(spec)
        theirs, error = conv_arithmetic.pytorch_output_size(spec)
        assert ours.size == theirs, (spec, ours, error)
        if not ours.ok:
            n_invalid += 1
            assert error, spec  # PyTorch refuses exactly when we say it is invalid
            assert ours.problems and all(isinstance(p, str) and p for p in ours.problems)
            assert "⌊" in ours.formula
        else:
            assert f"= {ours.size}" in ours.formula
    assert n_invalid > 100  # the sweep really covers kernel > padded input, stride 0, pool padding


def test_invalid_configs_are_explained_in_plain_words():
    too_big = conv_arithmetic.check(conv_arithmetic.ConvSpec(size=3, kernel=5))
    assert too_big.size is None and "does not fit" in too_big.problems[0]
    stride0 = conv_arithmetic.check(conv_arithmetic.ConvSpec(size=5, kernel=3, stride=0))
    assert stride0.size is None and "stride is 0" in stride0.problems[0]
    pool_pad = conv_arithmetic.check(conv_arithmetic.ConvSpec(size=5, kernel=3, stride=1, padding=2, op="pool"))
    assert pool_pad.size is None and "half" in pool_pad.problems[0]


def test_coverage_marks_pixels_the_stride_skips():
    spec = conv_arithmetic.ConvSpec(size=7, kernel=3, stride=3)  # windows at 0-2 and 3-5: row/column 6 is never used
    cov = conv_arithmetic.coverage(spec)
    assert cov.out == 2 and cov.uncovered[6].all() and cov.uncovered[:, 6].all()
    assert int(cov.uncovered.sum()) == 13
    assert any("never" in n for n in conv_arithmetic.check(spec).notes)
    # the count map equals the number of windows each pixel is in, from unfold
    x = torch.ones(1, 1, 7, 7)
    counts = F.fold(F.unfold(x, 3, stride=3), (7, 7), 3, stride=3)[0, 0]
    assert np.array_equal(cov.counts, counts.numpy().astype(int))
    full = conv_arithmetic.coverage(conv_arithmetic.ConvSpec(size=28, kernel=3, stride=1, padding=1))
    assert not full.uncovered.any() and full.counts[1:-1, 1:-1].min() >= 1


def test_shape_flow_equals_live_model(model):
    stages = conv_stages.shape_stages(model)
    acts = activations(model, torch.zeros(1, 1, 28, 28))
    assert [s.name for s in stages] == [name for name, _ in acts]
    for stage, (_, out) in zip(stages, acts):
        assert stage.shape == tuple(out.shape[1:])
    for stage in stages[1:]:
        layer = getattr(model, stage.name)
        assert stage.params == sum(p.numel() for p in layer.parameters())
    by_name = {s.name: s for s in stages}
    default = CNNDemo()  # hidden 128: the numbers the issue quotes
    flow = {s.name: s for s in conv_stages.shape_stages(default)}
    assert flow["conv1"].formula == "16·1·3·3 + 16" and flow["conv1"].params == 160
    assert flow["conv2"].formula == "32·16·3·3 + 32" and flow["conv2"].params == 4640
    assert flow["fc1"].formula == "1568·128 + 128" and flow["fc1"].params == 200_832
    assert flow["fc2"].params == 1290
    assert flow["flatten"].shape == (1568,) == (32 * 7 * 7,)
    assert by_name["pool2"].shape == (32, 7, 7)
    assert "32·7·7 = **1,568**" in conv_stages.flatten_explanation(stages)


def test_initial_model_is_what_the_engine_starts_from():
    cfg = ModelConfig(arch="cnn", hidden=16)
    a = conv_stages.initial_model(cfg, 7)
    b = build_model(cfg, torch.Generator().manual_seed(7))  # core.training.loop.fit does exactly this
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert not any(p.requires_grad for p in a.parameters()) and not a.training
