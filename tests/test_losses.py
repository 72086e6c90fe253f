"""core.lessons.losses: every number checked against PyTorch's own loss modules and autograd."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError
from core.lessons.losses import (
    CEInputs,
    best_constant,
    ce_breakdown,
    ce_code,
    ce_vs_temperature,
    model_losses,
    parse_logits,
    regression_curves,
    targets_with_outlier,
)


@pytest.mark.parametrize("logits, target, T", [((2.0, 1.0, 0.1), 0, 1.0), ((-3.0, 7.5, 0.2, 1.1), 3, 0.1),
                                                ((0.0, 0.0), 1, 10.0), ((8.0, -8.0, 8.0, 0.5, 1.0, -2.0), 1, 0.2)])
def test_ce_is_nll_of_logsoftmax_to_the_last_bit(logits, target, T):
    r = ce_breakdown(CEInputs(logits, target, T))
    z = torch.tensor([logits]) / T
    ref = nn.CrossEntropyLoss()(z, torch.tensor([target]))
    assert r.exactly_equal and r.ce == ref.item() and r.nll == ref.item()
    assert r.nll == -float(r.log_probs[target])  # NLL picks -log p(target)
    assert np.array_equal(r.probs, torch.softmax(z, 1)[0].numpy())
    assert np.array_equal(r.log_probs, torch.log_softmax(z, 1)[0].numpy())


def test_ce_gradient_is_softmax_minus_onehot():
    r = ce_breakdown(CEInputs((1.5, -0.3, 2.2, 0.0), 2, 0.5))
    z = (torch.tensor([[1.5, -0.3, 2.2, 0.0]]) / 0.5).requires_grad_(True)
    F.cross_entropy(z, torch.tensor([2])).backward()
    assert np.array_equal(r.grad_autograd, z.grad[0].numpy())
    assert np.allclose(r.grad_formula, r.grad_autograd, atol=1e-6) and r.grad_max_abs_diff < 1e-6
    assert abs(r.grad_formula.sum()) < 1e-6  # softmax sums to 1, one-hot sums to 1


@pytest.mark.parametrize("logits, target, T", [((1.0, float("nan")), 0, 1.0), ((1.0, float("inf")), 0, 1.0),
                                                ((1.0, 2.0), 2, 1.0), ((1.0, 2.0), 0, 0.0), ((1.0,), 0, 1.0)])
def test_bad_logits_are_refused_in_words(logits, target, T):
    with pytest.raises(InputError) as e:
        ce_breakdown(CEInputs(logits, target, T))
    assert len(str(e.value)) > 20


def test_temperature_sweep_matches_single_calls():
    inp = CEInputs((2.0, 0.5, -1.0), 1)
    temps = [0.1, 1.0, 3.0]
    sweep = ce_vs_temperature(inp, temps)
    for T, v in zip(temps, sweep):
        assert math.isclose(v, ce_breakdown(CEInputs(inp.logits, 1, T)).ce, rel_tol=1e-6)


def test_regression_curves_and_gradients():
    preds = np.linspace(-3, 3, 13)
    curves = regression_curves(0.5, preds, beta=1.0)
    p = torch.tensor(preds, dtype=torch.float32)
    t = torch.full_like(p, 0.5)
    assert np.allclose(curves["MSE"][0], F.mse_loss(p, t, reduction="none").numpy())
    assert np.allclose(curves["L1"][0], F.l1_loss(p, t, reduction="none").numpy())
    assert np.allclose(curves["SmoothL1"][0], F.smooth_l1_loss(p, t, reduction="none", beta=1.0).numpy())
    assert np.allclose(curves["MSE"][1], 2 * (p - t).numpy(), atol=1e-6)
    assert np.allclose(curves["L1"][1], np.sign(preds - 0.5))
    assert np.all(np.abs(curves["SmoothL1"][1]) <= 1 + 1e-6)


def test_outlier_moves_mse_not_l1():
    clean, dirty = best_constant(targets_with_outlier(False)), best_constant(targets_with_outlier(True))
    y = torch.tensor(targets_with_outlier(True))
    step = float(dirty.grid[1] - dirty.grid[0])
    assert abs(dirty.best["MSE"] - float(y.mean())) <= step
    median = (float(y.median()), float(y.sort().values[4]))
    assert min(abs(dirty.best["L1"] - m) for m in median) <= step
    assert dirty.best["MSE"] - clean.best["MSE"] > 1.0  # the outlier drags MSE's answer
    assert abs(dirty.best["L1"] - clean.best["L1"]) < 0.5  # L1 barely moves
    assert dirty.outlier_grad_share["MSE"] > dirty.outlier_grad_share["L1"]


def test_model_losses_leave_the_model_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval().requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(50, 1, 28, 28), torch.arange(50) % 10
    ml = model_losses(model, x, y, batch=16)
    ref = F.cross_entropy(model(x), y, reduction="none")
    assert np.allclose(ml.per_sample, ref.numpy(), atol=1e-6)
    assert math.isclose(ml.mean, ref.mean().item(), rel_tol=1e-5)
    for c in range(10):
        assert math.isclose(ml.per_class[c], ref[y == c].mean().item(), rel_tol=1e-5)
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model._forward_hooks


def test_ce_code_panel_reproduces():
    inp = CEInputs((1.0, -2.0, 0.3), 2, 2.0)
    env: dict = {}
    exec(ce_code(inp), env)
    r = ce_breakdown(inp)
    assert env["ce"].item() == r.ce and env["nll"].item() == r.nll
    assert np.array_equal(env["z"].grad[0].numpy(), r.grad_autograd)


@pytest.mark.parametrize("text, ok", [("2, 1, 0.1", (2.0, 1.0, 0.1)), (" 3 ,-1,", (3.0, -1.0)), ("1, two", None),
                                      ("2; 1", None)])
def test_typed_logits_parse_or_are_refused_in_words(text, ok):
    if ok is not None:
        assert parse_logits(text) == ok
        return
    with pytest.raises(InputError) as e:
        parse_logits(text)
    assert "numbers separated by commas" in str(e.value)
