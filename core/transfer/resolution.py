"""How input resolution trades accuracy against time, read from stored transfer runs: one point per strategy and
resolution (the best run there), and a one-line conclusion computed from them, never typed in.

Time is each run's wall time "as if alone" (`metrics["wall_s"]`): for feature extraction that includes the one
backbone pass over the images (`features_s`), which is the part that grows with the resolution.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.transfer.config import TRANSFER_RESOLUTIONS, TRANSFER_STRATEGY_LABELS, TransferConfig


@dataclass(frozen=True)
class ResolutionPoint:
    """The best stored run of one strategy at one input resolution."""

    strategy: str  # a core.transfer.STRATEGIES key
    resolution: int  # px
    acc: float  # target test accuracy, 0..1
    wall_s: float  # the whole run, a feature-extraction run's backbone pass included
    features_s: float  # of which the one backbone pass (feature extraction; 0 otherwise)
    label: str  # the run it comes from, e.g. 'Feature extraction · ... · 64 px · 10 ep · seed 0'
    runs: int  # stored runs of this strategy at this resolution (the best one is shown)


def resolution_points(summaries: Iterable) -> list[ResolutionPoint]:
    """One point per (strategy, resolution) over stored target runs (anything with `.config`, a TransferConfig,
    and `.metrics`): the most accurate run there (the faster one on a tie), ordered by strategy then resolution."""
    groups: dict[tuple[str, int], list] = {}
    for s in summaries:
        cfg = s.config
        if isinstance(cfg, TransferConfig) and cfg.task == "target":
            groups.setdefault((cfg.strategy, cfg.resolution), []).append(s)
    order = list(TRANSFER_STRATEGY_LABELS)
    points = []
    for (strategy, resolution), runs in groups.items():
        best = min(runs, key=lambda r: (-float(r.metrics["test_acc"]), float(r.metrics["wall_s"])))
        points.append(ResolutionPoint(strategy, resolution, float(best.metrics["test_acc"]),
                                      float(best.metrics["wall_s"]), float(best.metrics.get("features_s", 0.0)),
                                      best.config.label(), len(runs)))
    return sorted(points, key=lambda p: (order.index(p.strategy) if p.strategy in order else len(order),
                                         p.resolution))


def resolutions(points: Sequence[ResolutionPoint]) -> list[int]:
    return sorted({p.resolution for p in points})


def _name(strategy: str) -> str:
    return TRANSFER_STRATEGY_LABELS.get(strategy, strategy)


def _another(resolution: int) -> int:
    """A second resolution to train at: the smallest one that is not `resolution` (cheap on a CPU)."""
    return next(r for r in TRANSFER_RESOLUTIONS if r != resolution)


def resolution_conclusion(points: Sequence[ResolutionPoint], strategy: str, resolution: int) -> str:
    """One line computed from the points. With two or more resolutions: the strategy trained at the widest span of
    resolutions, its lowest vs its highest (accuracy change in points, time ratio); when no strategy has two,
    what to train so resolution can be told apart from strategy. With fewer: what to train (`strategy`,
    `resolution`: the page's current choice) to see the trade-off at all."""
    have = resolutions(points)
    if len(have) < 2:
        if not have:
            alt = _another(resolution)
            return (f"Train {_name(strategy)} at {resolution} px and at {alt} px (the Input resolution control) to see "
                    f"how resolution trades accuracy against time.")
        stored = strategy if any(p.strategy == strategy for p in points) else points[0].strategy
        alt = resolution if resolution != have[0] else _another(have[0])
        return (f"Your stored runs on this task are all at {have[0]} px: train {_name(stored)} at {alt} px too "
                f"(the Input resolution control) to see how resolution trades accuracy against time.")
    by: dict[str, list[ResolutionPoint]] = {}
    for p in points:
        by.setdefault(p.strategy, []).append(p)
    spans = {s: (max(ps, key=lambda p: p.resolution), min(ps, key=lambda p: p.resolution)) for s, ps in by.items()
             if len(ps) > 1}
    if not spans:
        mixed = ", ".join(f"{_name(p.strategy)} at {p.resolution} px" for p in points)
        missing = next(r for r in have if r != points[0].resolution)
        return (f"No strategy is stored at two resolutions yet ({mixed}), so the figure mixes strategy with "
                f"resolution: train {_name(points[0].strategy)} at {missing} px too to see resolution alone.")
    widest = max(spans, key=lambda s: (spans[s][0].resolution / spans[s][1].resolution, len(by[s])))
    hi, lo = spans[widest]
    gain = 100 * (hi.acc - lo.acc)
    cost = hi.wall_s / max(lo.wall_s, 1e-9)
    verdict = (f"raised target accuracy from {100 * lo.acc:.1f}% to {100 * hi.acc:.1f}% ({gain:+.1f} points)"
               if gain > 0 else f"changed target accuracy from {100 * lo.acc:.1f}% to {100 * hi.acc:.1f}% "
                                f"({gain:+.1f} points): no gain")
    return (f"**{_name(widest)}**: going from {lo.resolution} px to {hi.resolution} px "
            f"{verdict}, for {cost:.1f}× the time ({lo.wall_s:.1f} s → {hi.wall_s:.1f} s).")
