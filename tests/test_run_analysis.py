"""core/run_analysis: overfitting stated from the run's own validation losses; the debiased smoothing by hand."""
from __future__ import annotations

import pytest
import torch

from core.figures.training import smooth
from core.training.analysis import overfitting


def test_rising_validation_loss_is_overfitting_with_its_epoch():
    val = [0.40, 0.25, 0.20, 0.18, 0.17, 0.19, 0.22, 0.25]
    o = overfitting(val)
    assert o is not None and (o.best_epoch, o.last_epoch) == (5, 8)
    assert o.rise == pytest.approx(0.25 - 0.17)
    text = o.sentence()
    assert "lowest at epoch 5" in text and "rose by 0.080" in text and "overfit" in text and "epoch 8" in text


@pytest.mark.parametrize("val", [
    [0.5, 0.4, 0.3, 0.2],  # still improving
    [0.30, 0.20, 0.201, 0.2005],  # flat within noise (rise < 2 % of the minimum)
    [0.3],  # one epoch: nothing to compare
    [],
    [0.3, 0.2, float("nan")],  # diverged: a different problem, not overfitting
])
def test_no_overfitting_claimed(val):
    assert overfitting(val) is None


def test_overfitting_on_a_real_overfitting_model():
    """A real network memorising 16 noisy points: its validation loss on fresh points falls, then rises."""
    g = torch.Generator().manual_seed(0)
    xt, xv = torch.randn(16, 1, generator=g), torch.randn(256, 1, generator=g)
    yt, yv = xt + 0.8 * torch.randn(16, 1, generator=g), xv + 0.8 * torch.randn(256, 1, generator=g)
    net = torch.nn.Sequential(torch.nn.Linear(1, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    val = []
    for _ in range(60):
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.mse_loss(net(xt), yt).backward()
            opt.step()
        with torch.no_grad():
            val.append(torch.nn.functional.mse_loss(net(xv), yv).item())
    o = overfitting(val)
    assert o is not None and o.best_epoch == min(range(len(val)), key=val.__getitem__) + 1
    assert o.last_loss == pytest.approx(val[-1]) and o.rise > 0


def test_smoothed_loss_is_debiased_by_hand():
    """TensorBoard's debiasing: EMA_t / (1 - w^t). By hand for 3 values, weight 0.9."""
    a1 = 0.1 * 2.0
    a2 = 0.9 * a1 + 0.1 * 1.0
    a3 = 0.9 * a2 + 0.1 * 4.0
    expected = [a1 / (1 - 0.9), a2 / (1 - 0.81), a3 / (1 - 0.729)]  # 2.0, 1.5263..., 2.4354...
    assert smooth([2.0, 1.0, 4.0]).tolist() == pytest.approx(expected)
    assert expected[0] == pytest.approx(2.0)  # the first smoothed value is the first value, no lag from 0
    assert smooth([1.0] * 5).tolist() == pytest.approx([1.0] * 5)  # a flat curve stays flat
