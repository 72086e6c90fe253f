"""core.optimizers: one table serves training and the 2-D surfaces; what it builds is what its code says."""
import pytest
import torch

from core.lessons.optim2d import OptimSpec
from core.optimizers import OPTIMIZER_LABELS, OPTIMIZERS, SURFACE_OPTIMIZER_LABELS, make_optimizer, optimizer_code
from core.training.config import TrainConfig


def test_labels_training_and_surfaces():
    assert OPTIMIZER_LABELS == {"sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam"}
    assert SURFACE_OPTIMIZER_LABELS == {**OPTIMIZER_LABELS, "rmsprop": "RMSprop"}  # RMSprop: surfaces only
    assert TrainConfig().optimizer in OPTIMIZER_LABELS


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("fused", [False, True])
def test_built_optimizer_is_what_the_code_says(name, fused):
    p = torch.zeros(2, requires_grad=True)
    opt = make_optimizer(name, [p], 0.05, 0.7, fused=fused)
    code = optimizer_code(name, "[p]", 0.05, 0.7, fused=fused)
    ref = eval(code, {"torch": torch, "p": p})  # the test runs the code panel's own text
    assert type(opt) is type(ref)
    assert opt.param_groups[0].keys() == ref.param_groups[0].keys()
    assert all(opt.param_groups[0][k] == ref.param_groups[0][k] for k in opt.param_groups[0] if k != "params")


def test_training_adam_is_fused_and_sgd_keeps_its_momentum():
    p = torch.zeros(2, requires_grad=True)
    cfg = TrainConfig()
    adam = make_optimizer(cfg.optimizer, [p], cfg.lr, cfg.momentum, fused=True)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["fused"] is True
    sgd = make_optimizer("momentum", [p], 0.1, 0.9, fused=True)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    assert not sgd.param_groups[0].get("fused")  # only the entries marked fused change kernels
    assert make_optimizer("sgd", [p], 0.1, 0.9).param_groups[0]["momentum"] == 0  # plain SGD ignores momentum


def test_surface_spec_builds_through_the_table():
    p = torch.zeros(2, requires_grad=True)
    opt = OptimSpec("rmsprop", 0.01).build([p])
    assert isinstance(opt, torch.optim.RMSprop) and opt.param_groups[0]["lr"] == 0.01
    assert OptimSpec("momentum", 0.1, 0.5).code() == "torch.optim.SGD([p], lr=0.1, momentum=0.5)"
