"""Real `torch.optim` optimizers walking on 2-D loss surfaces.

The parameter is one 2-element tensor `p = (x, y)`; each step is the optimizer's own
`step()` after `loss.backward()`, exactly as in a training loop, so the paths are
what PyTorch does, not a re-implementation. Divergence (a non-finite or exploding
loss) stops the path and is explained with the surface's curvature, measured with
`torch.autograd.functional.hessian`. No Streamlit here.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from core.errors import InputError
from core.optimizers import OPTIMIZERS, SURFACE_OPTIMIZER_LABELS, make_optimizer, optimizer_code

SurfaceName = Literal["bowl", "rosenbrock", "saddle"]
OptName = Literal["sgd", "momentum", "adam", "rmsprop"]

SURFACE_LABELS: dict[str, str] = {"bowl": "Quadratic bowl", "rosenbrock": "Rosenbrock valley",
                                  "saddle": "Saddle (with two valleys)"}
BLOWUP = 1e6  # |loss| or |p| beyond this counts as diverged


@dataclass(frozen=True)
class Surface:
    name: SurfaceName = "bowl"
    condition: float = 10.0  # bowl only: ratio of the steepest to the flattest curvature

    @property
    def xrange(self) -> tuple[float, float]:
        return {"bowl": (-3.0, 3.0), "rosenbrock": (-2.0, 2.0), "saddle": (-2.0, 2.0)}[self.name]

    @property
    def yrange(self) -> tuple[float, float]:
        return {"bowl": (-3.0, 3.0), "rosenbrock": (-1.0, 3.0), "saddle": (-2.0, 2.0)}[self.name]

    @property
    def minima(self) -> tuple[tuple[float, float], ...]:
        return {"bowl": ((0.0, 0.0),), "rosenbrock": ((1.0, 1.0),), "saddle": ((0.0, -1.0), (0.0, 1.0))}[self.name]

    @property
    def default_start(self) -> tuple[float, float]:
        return {"bowl": (-2.5, 2.0), "rosenbrock": (-1.5, 2.0), "saddle": (-1.5, 0.05)}[self.name]

    def formula(self) -> str:
        """The surface as Python (x, y are tensors) — the same text the code panel prints."""
        if self.name == "bowl":
            return f"0.5 * (x ** 2 + {self.condition!r} * y ** 2)"
        if self.name == "rosenbrock":
            return "(1 - x) ** 2 + 100 * (y - x ** 2) ** 2"
        return "x ** 2 + 0.25 * y ** 4 - 0.5 * y ** 2"

    def latex(self) -> str:
        if self.name == "bowl":
            return rf"f(x, y) = \tfrac12\,(x^2 + {self.condition:g}\,y^2)"
        if self.name == "rosenbrock":
            return r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2"
        return r"f(x, y) = x^2 + \tfrac14 y^4 - \tfrac12 y^2"

    def fn(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        c = self.condition
        if self.name == "bowl":
            return lambda x, y: 0.5 * (x ** 2 + c * y ** 2)
        if self.name == "rosenbrock":
            return lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2
        return lambda x, y: x ** 2 + 0.25 * y ** 4 - 0.5 * y ** 2


@dataclass(frozen=True)
class OptimSpec:
    name: OptName = "sgd"
    lr: float = 0.1
    momentum: float = 0.9  # "momentum" only (SGD's momentum); Adam/RMSprop keep PyTorch's defaults

    def build(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        return make_optimizer(self.name, params, self.lr, self.momentum)

    def code(self, params: str = "[p]") -> str:
        """The constructor call `build` makes, as code."""
        return optimizer_code(self.name, params, self.lr, self.momentum)


@dataclass(frozen=True)
class Trajectory:
    spec: OptimSpec
    path: np.ndarray  # (S + 1, 2) the start and p after every step (until divergence)
    losses: np.ndarray  # (S + 1,) f at those points
    diverged_at: int | None  # the step whose result blew up (path stops before it), else None

    @property
    def final(self) -> tuple[float, float]:
        return float(self.path[-1, 0]), float(self.path[-1, 1])


def check_settings(spec: OptimSpec, steps: int, start: tuple[float, float]) -> None:
    """Raise InputError (plain words) for settings that can't be run."""
    if spec.name not in SURFACE_OPTIMIZER_LABELS:
        raise InputError(f"unknown optimizer {spec.name!r}")
    if not (math.isfinite(spec.lr) and spec.lr > 0):
        raise InputError(f"the learning rate must be a positive number (got {spec.lr})")
    if not 0 <= spec.momentum < 1:
        raise InputError(f"momentum must be at least 0 and below 1 (got {spec.momentum}); "
                              "at 1 or more the velocity never decays")
    if not 1 <= steps <= 2000:
        raise InputError(f"the number of steps must be between 1 and 2000 (got {steps})")
    if not all(math.isfinite(v) for v in start):
        raise InputError(f"the start point must be finite numbers (got {start})")


def trajectory(surface: Surface, spec: OptimSpec, start: tuple[float, float], steps: int,
               check_every: int = 25) -> Trajectory:
    """Run up to `steps` real optimizer steps on f(p[0], p[1]) from `start` (float32, like a model's weights).

    The loop does only what a training loop does (zero_grad, backward, step) plus one copy of p per step;
    blow-ups are looked for every `check_every` steps on the recorded path (no per-step sync), and the
    path is cut just before the first point whose loss or coordinates are non-finite or beyond BLOWUP.
    """
    check_settings(spec, steps, start)
    f = surface.fn()
    p = torch.tensor(start, dtype=torch.float32, requires_grad=True)  # (2,)
    opt = spec.build([p])
    path = torch.empty(steps + 1, 2)  # (S + 1, 2)
    path[0] = p.detach()
    done = steps
    for i in range(1, steps + 1):
        opt.zero_grad()
        f(p[0], p[1]).backward()
        opt.step()
        path[i] = p.detach()
        if (i % check_every == 0 or i == steps) and not _ok(path[i]):
            done = i
            break
    path = path[:done + 1]
    with torch.no_grad():
        losses = f(path[:, 0], path[:, 1])  # (n,) element-wise, the same numbers as per point
    ok = torch.isfinite(losses) & (losses.abs() <= BLOWUP) & torch.isfinite(path).all(1) & \
        (path.abs() <= BLOWUP).all(1)  # (n,)
    bad = torch.nonzero(~ok).flatten()
    diverged_at = int(bad[0]) if len(bad) else None
    end = diverged_at if diverged_at is not None else len(path)
    return Trajectory(spec, path[:end].numpy().copy(), losses[:end].numpy().copy(), diverged_at)


def _ok(p: torch.Tensor) -> bool:
    return bool(torch.isfinite(p).all()) and bool(p.abs().max() <= BLOWUP)


def grid(surface: Surface, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs (n,), ys (n,), Z (n, n)) with Z[i, j] = f(xs[j], ys[i]): one vectorized call."""
    xs = torch.linspace(*surface.xrange, n)
    ys = torch.linspace(*surface.yrange, n)
    Y, X = torch.meshgrid(ys, xs, indexing="ij")  # (n, n) each
    return xs.numpy(), ys.numpy(), surface.fn()(X, Y).numpy()


def curvature(surface: Surface, point: tuple[float, float]) -> np.ndarray:
    """Eigenvalues of the Hessian of f at `point` (ascending): the surface's curvatures there."""
    f = surface.fn()
    H = torch.autograd.functional.hessian(lambda q: f(q[0], q[1]),
                                          torch.tensor(point, dtype=torch.float64))  # (2, 2)
    return torch.linalg.eigvalsh(H).numpy()


def explain(surface: Surface, traj: Trajectory, start: tuple[float, float]) -> str:
    """Plain words on what happened to one path: diverged (and why), reached a minimum, or still on its way."""
    name = OPTIMIZERS[traj.spec.name].label
    lr = traj.spec.lr
    lam = float(np.max(curvature(surface, start)))
    if traj.diverged_at is not None:
        why = (f"**{name} diverged at step {traj.diverged_at}**: the loss exploded (beyond {BLOWUP:g} or not a "
               f"number), so the path stops there. ")
        if traj.spec.name in ("sgd", "momentum") and lam > 0:
            beta = traj.spec.momentum if traj.spec.name == "momentum" else 0.0
            limit = 2 * (1 + beta) / lam
            why += (f"Near the start the steepest curvature (largest Hessian eigenvalue) is λ = {lam:.3g}. "
                    f"Gradient descent{' with momentum β' if beta else ''} overshoots more each step unless "
                    f"lr < {'2(1+β)' if beta else '2'}/λ = {limit:.3g}; here lr = {lr:g}. Lower the learning rate.")
        else:
            why += (f"{name} divides the gradient by its running size, so each step is roughly lr = {lr:g} long: "
                    f"that jumps far outside the region where this surface is gentle. Lower the learning rate.")
        return why
    (x0, x1), (y0, y1) = surface.xrange, surface.yrange
    outside = np.nonzero((traj.path[:, 0] < x0) | (traj.path[:, 0] > x1) | (traj.path[:, 1] < y0)
                         | (traj.path[:, 1] > y1))[0]
    x, y = traj.final
    if len(outside):
        step_sizes = np.linalg.norm(np.diff(traj.path, axis=0), axis=1)
        how = ("Adam and RMSprop take steps of about lr" if traj.spec.name in ("adam", "rmsprop")
               else "each step is lr × gradient")
        return (f"{name} left the plotted area at step {int(outside[0])} (largest step {step_sizes.max():.3g} units; "
                f"ended at ({x:.3g}, {y:.3g}), loss {traj.losses[-1]:.3g}). The learning rate lr = {lr:g} is too "
                f"large for this surface: {how}, which jumps past the minimum. Lower the learning rate.")
    dist = min(math.hypot(x - mx, y - my) for mx, my in surface.minima)
    if dist < 1e-2:
        return f"{name} reached a minimum (within {dist:.1e}) in {len(traj.path) - 1} steps."
    if surface.name == "saddle" and abs(y) < 1e-3 and abs(x) < 0.05:
        return (f"{name} stopped near the saddle point (0, 0): the gradient there is zero, and with y so close "
                f"to 0 there is almost no push downhill along y. Start with y slightly off 0.")
    return (f"{name} ended at ({x:.3g}, {y:.3g}), loss {traj.losses[-1]:.3g}, distance {dist:.3g} from the nearest "
            f"minimum after {len(traj.path) - 1} steps.")


def optim_code(surface: Surface, spec: OptimSpec, start: tuple[float, float], steps: int) -> str:
    """Self-contained code that walks the same path as `trajectory` (tests run it and compare)."""
    return f"""import torch

def f(x, y):
    return {surface.formula()}

p = torch.tensor([{float(start[0])!r}, {float(start[1])!r}], requires_grad=True)  # the 2 parameters (x, y)
optimizer = {spec.code()}
path = [p.detach().clone()]
for step in range({steps}):
    optimizer.zero_grad()
    loss = f(p[0], p[1])
    loss.backward()
    optimizer.step()
    new_loss = f(p[0], p[1]).detach()
    if not (torch.isfinite(new_loss) and torch.isfinite(p).all()) or new_loss.abs() > 1e6 \\
            or p.detach().abs().max() > 1e6:  # the loss exploded: stop
        print("diverged at step", step + 1)
        break
    path.append(p.detach().clone())
path = torch.stack(path)  # (steps + 1, 2)
print("final point", path[-1].tolist(), "loss", f(path[-1][0], path[-1][1]).item())
"""
