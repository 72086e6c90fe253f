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
from core.fmt import num
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

    @property
    def default_steps(self) -> int:
        """Enough for every optimizer at its tuned learning rate (DEFAULT_LR) to reach a minimum (but plain SGD on
        Rosenbrock: STILL_ON_ITS_WAY): the long, flat Rosenbrock valley takes RMSprop about 1,750 steps."""
        return {"bowl": 150, "rosenbrock": 2000, "saddle": 150}[self.name]

    @property
    def near(self) -> float:
        """A path ending this close to a minimum has reached it: 4 % of the plotted width (at the star)."""
        return 0.04 * (self.xrange[1] - self.xrange[0])

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


# The learning rates the page offers: the training controls' list plus 5e-2, and 100, which always diverges.
LEARNING_RATES: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 5e-3, 1e-2, 3e-2, 5e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
# A fair race: each optimizer at its own tuned learning rate for the surface (from LEARNING_RATES, momentum β 0.9):
# one with which it reaches the minimum within the surface's default_steps from its default_start, robustly (the
# bowl's at every conditioning from 1 to 50). tests/test_optim2d.py runs them all.
DEFAULT_LR: dict[str, dict[str, float]] = {
    "bowl": {"sgd": 0.03, "momentum": 0.03, "adam": 0.1, "rmsprop": 0.05},
    "rosenbrock": {"sgd": 1e-3, "momentum": 1e-3, "adam": 0.1, "rmsprop": 1e-2},
    "saddle": {"sgd": 0.1, "momentum": 0.03, "adam": 0.1, "rmsprop": 0.03},
}
# The one exception, the valley problem: on Rosenbrock plain SGD's rate is capped near 2/λ ≈ 0.002 by the steep
# walls (λ ≈ 1,000; 3e-3 diverges, 2e-3 bounces chaotically and diverges from nearby starts), and at 1e-3 the flat
# floor takes it ~10,000 steps. Its default is its best stable rate; the page says why it is still on its way.
STILL_ON_ITS_WAY: frozenset[tuple[str, str]] = frozenset({("rosenbrock", "sgd")})


def default_spec(surface: SurfaceName, name: OptName, momentum: float = 0.9) -> OptimSpec:
    """`name` at its tuned learning rate for `surface`."""
    return OptimSpec(name, DEFAULT_LR[surface][name], momentum)


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


Verdict = Literal["converged", "diverged", "left", "oscillating", "saddle", "slow"]
WARNINGS: frozenset[str] = frozenset({"diverged", "left", "oscillating"})  # verdicts shown as a warning
ZIGZAG = 0.3  # a path whose step direction reverses in more than this share of its steps oscillates


@dataclass(frozen=True)
class Diagnosis:
    """What happened to one path, computed from the path itself, and the advice that follows from it."""

    verdict: Verdict
    text: str

    @property
    def warn(self) -> bool:
        return self.verdict in WARNINGS


def _nearest(surface: Surface, point: tuple[float, float]) -> float:
    return min(math.hypot(point[0] - mx, point[1] - my) for mx, my in surface.minima)


def _reversals(path: np.ndarray) -> int:
    """How many times the step direction turned back (consecutive steps with a negative dot product)."""
    d = np.diff(path.astype(np.float64), axis=0)  # (S, 2)
    return int(np.sum(np.einsum("ij,ij->i", d[:-1], d[1:]) < 0))


def _diverged_text(surface: Surface, traj: Trajectory, start: tuple[float, float], name: str) -> str:
    lr = traj.spec.lr
    lam = float(np.max(curvature(surface, start)))
    why = (f"**{name} diverged at step {traj.diverged_at}**: the loss exploded (beyond {BLOWUP:g} or not a "
           f"number), so the path stops there. ")
    if traj.spec.name in ("sgd", "momentum") and lam > 0:
        beta = traj.spec.momentum if traj.spec.name == "momentum" else 0.0
        limit = 2 * (1 + beta) / lam
        return why + (f"Near the start the steepest curvature (largest Hessian eigenvalue) is λ = {lam:.3g}. "
                      f"Gradient descent{' with momentum β' if beta else ''} overshoots more each step unless "
                      f"lr < {'2(1+β)' if beta else '2'}/λ = {limit:.3g}; here lr = {lr:g}. Lower the learning rate.")
    return why + (f"{name} divides the gradient by its running size, so each step is roughly lr = {lr:g} long: "
                  f"that jumps far outside the region where this surface is gentle. Lower the learning rate.")


def _slow_advice(surface: Surface, traj: Trajectory, start: tuple[float, float]) -> str:
    """Why a stable path is still far away, and what would speed it up, from its own numbers."""
    spec, steps = traj.spec, len(traj.path) - 1
    if spec.name in ("adam", "rmsprop"):
        travel = float(np.linalg.norm(np.diff(traj.path, axis=0), axis=1).sum())
        gained = _nearest(surface, start) - _nearest(surface, traj.final)
        if spec.lr * steps < _nearest(surface, start):
            return (f"Its steps are about lr = {spec.lr:g} long, so {steps} steps can cover at most about "
                    f"{spec.lr * steps:.3g} units, and the minimum was {_nearest(surface, start):.3g} away from the "
                    "start. Raise the learning rate or give it more steps.")
        if gained < 0.3 * travel:
            return (f"It travelled {travel:.3g} units to get {gained:.3g} closer: most of its steps go back and forth "
                    "across the valley, not along it. More steps get it there; a smaller learning rate wastes less "
                    "on zig-zags but moves more slowly.")
        return (f"It travelled {travel:.3g} units, mostly towards the minimum: give it more steps, or a somewhat "
                "larger learning rate.")
    # the steepest curvature on its way: along the path (up to 40 points) and at the minimum it heads for
    ahead = min(surface.minima, key=lambda m: math.hypot(traj.final[0] - m[0], traj.final[1] - m[1]))
    points = [tuple(map(float, q)) for q in traj.path[::max(1, len(traj.path) // 40)]] + [ahead]
    lam = max(float(np.max(curvature(surface, q))) for q in points)
    beta = spec.momentum if spec.name == "momentum" else 0.0
    limit = 2 * (1 + beta) / lam if lam > 0 else math.inf
    rule = f"2{'(1+β)' if beta else ''}/λ"
    if spec.lr < 0.3 * limit:
        return (f"It stays stable up to lr ≈ {limit:.3g} on this way ({rule} with the steepest curvature λ = "
                f"{lam:.3g} along it): raise the learning rate or give it more steps.")
    return (f"lr = {spec.lr:g} is already about the largest stable value on this way, {rule} = {limit:.3g} "
            f"(steepest curvature λ = {lam:.3g}), so a larger one would overshoot across the valley; along the "
            "flat valley floor the gradient is tiny, so each step is short. That is the valley problem: give it "
            "more steps, or use momentum or Adam, which build up speed along the floor.")


def diagnose(surface: Surface, traj: Trajectory, start: tuple[float, float]) -> Diagnosis:
    """Plain words on one path, judged from the path: diverged, reached a minimum, left the plotted area,
    oscillating, stuck on the saddle point, or too slow — with the advice each calls for (a path that reached
    the minimum is never told to lower its learning rate)."""
    name = OPTIMIZERS[traj.spec.name].label
    lr = traj.spec.lr
    if traj.diverged_at is not None:
        return Diagnosis("diverged", _diverged_text(surface, traj, start, name))
    (x0, x1), (y0, y1) = surface.xrange, surface.yrange
    px, py = traj.path[:, 0], traj.path[:, 1]
    outside = np.nonzero((px < x0) | (px > x1) | (py < y0) | (py > y1))[0]
    x, y = traj.final
    steps = len(traj.path) - 1
    dist = _nearest(surface, (x, y))
    loss = traj.losses[-1]
    if dist < surface.near:
        arrived = int(np.argmax([_nearest(surface, (float(a), float(b))) < surface.near for a, b in traj.path]))
        detour = (f" On the way it overshot out of the plotted area (step {int(outside[0])}) and came back."
                  if len(outside) else "")
        where = "exactly on it" if dist == 0 else f"{dist:.2g} away"
        return Diagnosis("converged", f"{name} reached a minimum: {where} after {steps} steps (loss "
                                      f"{num(loss)}), first within {surface.near:.2g} of it at step {arrived}.{detour}")
    if surface.name == "saddle" and abs(y) < 1e-3 and abs(x) < 0.05:
        return Diagnosis("saddle", f"{name} stopped near the saddle point (0, 0): the gradient there is zero, and "
                                   "with y so close to 0 there is almost no push downhill along y. Start with y "
                                   "slightly off 0.")
    if len(outside):
        sizes = np.linalg.norm(np.diff(traj.path, axis=0), axis=1)
        how = ("Adam and RMSprop take steps of about lr" if traj.spec.name in ("adam", "rmsprop")
               else "each step is lr × gradient")
        return Diagnosis("left", f"{name} left the plotted area at step {int(outside[0])} (largest step "
                                 f"{sizes.max():.3g} units; ended at ({x:.3g}, {y:.3g}), loss {num(loss)}). The "
                                 f"learning rate lr = {lr:g} is too large for this surface: {how}, which jumps past "
                                 "the minimum. Lower the learning rate.")
    turns = _reversals(traj.path)
    if steps >= 4 and turns > ZIGZAG * (steps - 1):
        rises = int(np.sum(np.diff(traj.losses) > 0))
        rose = f", and the loss went up {rises} times" if rises else ""
        return Diagnosis("oscillating", f"{name} zig-zags: its step direction turned back {turns} times in "
                                        f"{steps} steps{rose}; it ended {dist:.3g} from the minimum (loss "
                                        f"{num(loss)}). Each step of lr = {lr:g} overshoots across the valley. "
                                        "Lower the learning rate.")
    return Diagnosis("slow", f"{name} is still on its way after {steps} steps: loss {num(traj.losses[0])} → "
                             f"{num(loss)}, ended at ({x:.3g}, {y:.3g}), {dist:.3g} from the minimum. "
                             + _slow_advice(surface, traj, start))


def explain(surface: Surface, traj: Trajectory, start: tuple[float, float]) -> str:
    """The diagnosis of one path, as text."""
    return diagnose(surface, traj, start).text


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
