"""core.autograd_demo: gradients from backward() equal the hand formula; the graph is the one autograd recorded."""
import math

import pytest
import torch

from core.errors import InputError
from core.lessons.autograd import AutogradInputs, autograd_code, run_autograd


@pytest.mark.parametrize("w, x, b, t", [(2.0, 1.5, 0.5, 1.0), (-1.3, 0.7, 2.2, -0.4), (0.0, 0.0, 0.0, 0.0)])
def test_gradients_match_formula_and_autograd(w, x, b, t):
    r = run_autograd(AutogradInputs(w, x, b, t))
    y = w * x + b
    assert math.isclose(r.y, y, rel_tol=1e-6, abs_tol=1e-6)
    assert math.isclose(r.grad_w, 2 * (y - t) * x, rel_tol=1e-5, abs_tol=1e-5)
    assert math.isclose(r.grad_b, 2 * (y - t), rel_tol=1e-5, abs_tol=1e-5)
    assert r.matches
    # and against torch.autograd.grad on an independent build
    W, B = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    gw, gb = torch.autograd.grad((W * x + B - t) ** 2, (W, B))
    assert r.grad_w == gw.item() and r.grad_b == gb.item()


def test_graph_is_walked_from_grad_fn():
    r = run_autograd(AutogradInputs())
    ops = sorted(n.label.split(" = ")[-1] for n in r.nodes if n.kind == "op")
    assert ops == ["AddBackward0", "MulBackward0", "PowBackward0", "SubBackward0"]
    leaves = {n.label: n for n in r.nodes if n.kind == "leaf"}
    assert set(leaves) == {"w (leaf)", "b (leaf)"}
    assert leaves["w (leaf)"].grad == r.grad_w and leaves["b (leaf)"].grad == r.grad_b
    assert sum(e.label == "AccumulateGrad" for e in r.edges) == 2
    ids = {n.id for n in r.nodes}
    assert all(e.src in ids and e.dst in ids for e in r.edges)
    loss_node = next(n for n in r.nodes if n.depth == 0)
    assert loss_node.grad == 1.0 and loss_node.value == pytest.approx(r.loss)


def test_non_finite_is_refused():
    with pytest.raises(InputError):
        run_autograd(AutogradInputs(w=float("nan")))


def test_code_panel_reproduces(capsys):
    inp = AutogradInputs(1.2, -0.8, 0.3, 2.0)
    env: dict = {}
    exec(autograd_code(inp), env)
    r = run_autograd(inp)
    assert env["w"].grad.item() == r.grad_w and env["b"].grad.item() == r.grad_b and env["loss"].item() == r.loss
    assert "PowBackward0" in capsys.readouterr().out
