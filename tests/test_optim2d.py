"""core.lessons.optim2d: paths are exactly what a manual torch.optim loop produces; divergence is caught and
explained."""
import numpy as np
import pytest
import torch

from core.errors import InputError
from core.lessons.optim2d import (
    DEFAULT_LR,
    LEARNING_RATES,
    STILL_ON_ITS_WAY,
    SURFACE_LABELS,
    OptimSpec,
    Surface,
    curvature,
    default_spec,
    diagnose,
    explain,
    grid,
    optim_code,
    trajectory,
)
from core.optimizers import SURFACE_OPTIMIZER_LABELS as OPT_LABELS
from support import torch_path

SURFACES = [Surface("bowl", 10.0), Surface("rosenbrock"), Surface("saddle")]


# the reference optimizers, written out with torch.optim directly (not through core.optimizers)
TORCH_OPTIM = {"sgd": lambda ps, s: torch.optim.SGD(ps, lr=s.lr),
               "momentum": lambda ps, s: torch.optim.SGD(ps, lr=s.lr, momentum=s.momentum),
               "adam": lambda ps, s: torch.optim.Adam(ps, lr=s.lr),
               "rmsprop": lambda ps, s: torch.optim.RMSprop(ps, lr=s.lr)}


def test_reference_covers_every_surface_optimizer():
    assert set(TORCH_OPTIM) == set(OPT_LABELS)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
@pytest.mark.parametrize("name", list(OPT_LABELS))
def test_path_equals_manual_torch_optim_loop(surface, name):
    spec = OptimSpec(name, lr=1e-3 if surface.name == "rosenbrock" else 0.05, momentum=0.8)
    start = surface.default_start
    traj = trajectory(surface, spec, start, 60)
    ref = torch_path(surface, lambda ps: TORCH_OPTIM[spec.name](ps, spec), start, 60)
    assert traj.diverged_at is None
    assert np.array_equal(traj.path, ref.numpy())  # bit for bit: the same optimizer code ran
    f = surface.fn()
    assert np.allclose(traj.losses, f(ref[:, 0], ref[:, 1]).numpy(), rtol=1e-6)


def test_hand_checked_sgd_step():
    # one SGD step on the bowl: p - lr * grad, grad = (x, c*y)
    traj = trajectory(Surface("bowl", 4.0), OptimSpec("sgd", lr=0.1), (1.0, 1.0), 1)
    assert np.allclose(traj.path[1], [1.0 - 0.1 * 1.0, 1.0 - 0.1 * 4.0])


def test_learning_rate_100_diverges_with_explanation():
    s = Surface("bowl", 10.0)
    traj = trajectory(s, OptimSpec("sgd", lr=100.0), s.default_start, 50)
    assert traj.diverged_at == 1 and len(traj.path) == 1
    msg = explain(s, traj, s.default_start)
    assert "diverged" in msg and "λ = 10" in msg and "lr < 2/λ = 0.2" in msg
    # just above the stability limit 2/λ it takes a while, and is still caught
    slow = trajectory(s, OptimSpec("sgd", lr=0.21), s.default_start, 300)
    assert slow.diverged_at is not None and np.isfinite(slow.path).all() and np.abs(slow.path).max() <= 1e6
    adam = trajectory(s, OptimSpec("adam", lr=100.0), s.default_start, 30)
    assert "Lower the learning rate" in explain(s, adam, s.default_start)


def test_convergence_and_saddle_messages():
    s = Surface("bowl", 2.0)
    traj = trajectory(s, OptimSpec("momentum", lr=0.1, momentum=0.5), s.default_start, 300)
    assert "reached a minimum" in explain(s, traj, s.default_start)
    sad = Surface("saddle")
    stuck = trajectory(sad, OptimSpec("sgd", lr=0.1), (-1.5, 0.0), 200)
    assert "saddle" in explain(sad, stuck, (-1.5, 0.0))


@pytest.mark.parametrize("spec, steps, start", [
    (OptimSpec("sgd", lr=0.0), 10, (0.0, 0.0)), (OptimSpec("sgd", lr=float("nan")), 10, (0.0, 0.0)),
    (OptimSpec("momentum", lr=0.1, momentum=1.0), 10, (0.0, 0.0)), (OptimSpec("adam"), 0, (0.0, 0.0)),
    (OptimSpec("adam"), 10, (float("inf"), 0.0)), (OptimSpec("lbfgs"), 10, (0.0, 0.0)),  # type: ignore[arg-type]
])
def test_invalid_settings_are_refused(spec, steps, start):
    with pytest.raises(InputError):
        trajectory(Surface(), spec, start, steps)


def test_grid_and_curvature():
    s = Surface("bowl", 7.0)
    xs, ys, Z = grid(s, 21)
    assert Z.shape == (21, 21) and np.isclose(Z[10, 10], 0.0) and np.isclose(Z[0, 20], 0.5 * (9 + 7 * 9))
    assert np.allclose(curvature(s, (0.3, -0.2)), [1.0, 7.0])
    assert np.allclose(curvature(Surface("saddle"), (0.0, 0.0)), [-1.0, 2.0])


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
@pytest.mark.parametrize("spec", [OptimSpec("adam", 0.05), OptimSpec("momentum", 0.01, 0.9), OptimSpec("sgd", 100.0)])
def test_code_panel_reproduces_path(surface, spec):
    start, steps = surface.default_start, 40
    env: dict = {}
    exec(optim_code(surface, spec, start, steps), env)
    traj = trajectory(surface, spec, start, steps)
    assert np.array_equal(env["path"].numpy(), traj.path)


def test_the_default_table_covers_every_surface_and_optimizer():
    assert set(DEFAULT_LR) == set(SURFACE_LABELS)
    for lrs in DEFAULT_LR.values():
        assert set(lrs) == set(OPT_LABELS) and set(lrs.values()) <= set(LEARNING_RATES)


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
@pytest.mark.parametrize("name", list(OPT_LABELS))
def test_every_tuned_default_reaches_the_minimum_within_the_default_steps(surface, name):
    """The race is fair: each optimizer at its own default gets there (trajectory is the torch.optim loop: see
    test_path_equals_manual_torch_optim_loop) — but plain SGD on Rosenbrock, whose best stable rate is too slow."""
    spec = default_spec(surface.name, name)
    traj = trajectory(surface, spec, surface.default_start, surface.default_steps)
    assert traj.diverged_at is None
    verdict = diagnose(surface, traj, surface.default_start)
    assert "Lower the learning rate" not in verdict.text and not verdict.warn, verdict.text
    if (surface.name, name) in STILL_ON_ITS_WAY:
        assert verdict.verdict == "slow" and "valley problem" in verdict.text, verdict.text
        assert traj.losses[-1] < 0.05 * traj.losses[0]  # well down the valley, and stable all the way
        faster = trajectory(surface, OptimSpec(name, LEARNING_RATES[LEARNING_RATES.index(spec.lr) + 1]),
                            surface.default_start, 200)
        assert faster.diverged_at is not None  # the next rate of the list is no option
        return
    assert min(np.hypot(*(traj.path[-1] - m)) for m in surface.minima) < surface.near
    assert verdict.verdict == "converged" and "reached a minimum" in verdict.text, verdict.text


@pytest.mark.parametrize("condition", [1.0, 50.0])
def test_bowl_defaults_converge_at_every_conditioning(condition):
    s = Surface("bowl", condition)
    for name in OPT_LABELS:
        traj = trajectory(s, default_spec("bowl", name), s.default_start, s.default_steps)
        assert diagnose(s, traj, s.default_start).verdict == "converged", (name, condition)


@pytest.mark.parametrize("surface, spec, steps, verdict, advice", [
    (Surface("bowl", 10.0), OptimSpec("sgd", 0.19), 20, "oscillating", "Lower the learning rate"),  # 2/λ = 0.2
    (Surface("bowl", 10.0), OptimSpec("sgd", 1e-3), 50, "slow", "raise the learning rate"),
    (Surface("bowl", 10.0), OptimSpec("adam", 1e-3), 50, "slow", "Raise the learning rate"),
    (Surface("rosenbrock"), OptimSpec("sgd", 1e-3), 200, "slow", "valley problem"),  # lr near 2/λ: not "raise"
    (Surface("bowl", 10.0), OptimSpec("adam", 10.0), 30, "left", "Lower the learning rate"),
    (Surface("bowl", 10.0), OptimSpec("rmsprop", 10.0), 150, "converged", "came back"),  # out and back, loss 0
], ids=["zigzag", "sgd-slow", "adam-slow", "valley", "left", "overshoot-then-converged"])
def test_the_advice_follows_from_the_path(surface, spec, steps, verdict, advice):
    traj = trajectory(surface, spec, surface.default_start, steps)
    d = diagnose(surface, traj, surface.default_start)
    assert d.verdict == verdict and advice in d.text, d.text
    assert d.warn == (verdict in ("oscillating", "left", "diverged"))
    if verdict in ("converged", "slow"):  # a path that got there, or is stable on its way, is never told to lower
        assert "lower the learning rate" not in d.text.lower()
    if verdict == "converged":
        assert traj.losses[-1] < 1e-6
