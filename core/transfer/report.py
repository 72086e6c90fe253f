"""What the Transfer learning page reads from models and runs: ResNet-18's anatomy from its layer table, the first
filters, and a conclusion computed from the stored runs.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from core.models.inspection import LayerRow


# ---------------------------------------------------------------- architecture, read from the layer table
@dataclass(frozen=True)
class Stage:
    name: str  # "conv1", "layer1", ..., "fc"
    output_shape: tuple[int, ...]  # for the chosen input, batch 1
    blocks: int  # BasicBlocks in the stage (0 for conv1/bn1/maxpool/avgpool/fc)
    projection: bool  # its first block's skip path has a 1x1 conv ("downsample") that changes the shape
    params: int


@dataclass(frozen=True)
class Anatomy:
    convs: int  # 3x3 / 7x7 convolutions on the main path (17 in ResNet-18)
    linears: int  # 1 (fc)
    projections: int  # 1x1 convs on skip paths (3); not counted in the "18"
    blocks: int  # BasicBlocks (8), each adds its input back: out = relu(bn2(conv2(relu(bn1(conv1(x))))) + x)
    stages: tuple[Stage, ...]

    @property
    def weighted(self) -> int:
        return self.convs + self.linears


def anatomy(rows: Sequence[LayerRow]) -> Anatomy:
    """ResNet-18's structure counted from its layer table (core.models.inspection.layer_table rows)."""
    convs = [r for r in rows if r.kind == "Conv2d"]
    projections = sum(".downsample." in r.name for r in convs)
    stages = tuple(Stage(r.name, r.output_shape, sum(b.depth == 2 and b.kind == "BasicBlock" and
                                                     b.name.startswith(r.name + ".") for b in rows),
                         any(b.name.startswith(r.name + ".") and b.name.endswith(".downsample") for b in rows),
                         r.total_params)
                   for r in rows if r.depth == 1)
    return Anatomy(len(convs) - projections, sum(r.kind == "Linear" for r in rows), projections,
                   sum(r.kind == "BasicBlock" for r in rows), stages)


# ---------------------------------------------------------------- after training
def first_filters(state: dict[str, torch.Tensor], n: int = 16) -> torch.Tensor:
    """conv1's first `n` filters (n, 7, 7), summed over the RGB inputs (what a gray image sees)."""
    return state["conv1.weight"][:n].sum(1)  # (64, 3, 7, 7) -> (n, 7, 7)


@dataclass(frozen=True)
class RunResult:
    """What the conclusion reads from one stored run."""

    label: str
    strategy: str
    acc: float  # target test accuracy, 0..1
    wall_s: float
    trainable: int | None  # None: the record does not say (the metric is optional, e.g. in an imported run)
    n_test: int = 500  # test images behind `acc`
    settings: Mapping[str, str] = field(default_factory=dict)  # besides the strategy: {"head learning rate": "0.01"}
    seeds: int = 1  # runs averaged into this result (the same settings, other seeds)
    spread: float = 0.0  # their accuracies' range (max - min), 0..1
    shared: bool = False  # another run trained on the machine at the same time


def _params(n: int | None) -> str:
    return "an unknown number of" if n is None else f"{n:,}"


Z95 = 1.96  # two-sided 95 %
TIME_NOISE = 1.25  # on a shared machine, times closer than this ratio are not told apart


def wilson(acc: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy measured on n test images (95 % by default), as (low, high)."""
    if n <= 0:
        return 0.0, 1.0
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def margin(a: RunResult, b: RunResult, z: float = Z95) -> float:
    """The accuracy gap that chance alone makes on these test sets (95 %): z · sqrt(p(1-p)/n + q(1-q)/m), each run's
    images counted once per seed it averages. Two runs judged on the same images are correlated, so this errs on the
    side of calling a gap noise."""
    return z * math.sqrt(a.acc * (1 - a.acc) / (a.n_test * a.seeds) + b.acc * (1 - b.acc) / (b.n_test * b.seeds))


def _interval(r: RunResult) -> str:
    lo, hi = wilson(r.acc, r.n_test * r.seeds)
    seeds = f", mean of {r.seeds} seeds (range {100 * r.spread:.1f} points)" if r.seeds > 1 else ""
    return f"{100 * r.acc:.1f}% (95% interval {100 * lo:.1f}–{100 * hi:.1f}%{seeds})"


def _differences(a: RunResult, b: RunResult) -> list[str]:
    """Settings both runs have (a backbone's rate only where both train one) that differ between them."""
    return [f"{name} ({a.settings[name]} vs {b.settings[name]})" for name in a.settings
            if name in b.settings and a.settings[name] != b.settings[name]]


def conclusion(results: Sequence[RunResult]) -> str:
    """Plain words computed from the stored runs: the best run, and whether it really beat the next one (the gap
    against the test set's uncertainty), what else differed between them, its cost, and how scratch fared."""
    if not results:
        return ""
    ranked = sorted(results, key=lambda r: (-r.acc, r.wall_s))
    best = ranked[0]
    n = best.n_test * best.seeds
    if len(ranked) == 1:
        text = (f"**{best.label}**: {_interval(best)} target accuracy in {best.wall_s:.1f} s, training "
                f"{_params(best.trainable)} parameters. The interval is what {n:,} test images can tell; train another "
                "strategy to compare.")
    else:
        second = ranked[1]
        gap, noise = best.acc - second.acc, margin(best, second)
        if gap > noise:
            text = (f"**{best.label}** won with {_interval(best)} target accuracy in {best.wall_s:.1f} s, "
                    f"training {_params(best.trainable)} parameters; {100 * gap:.1f} points ahead of {second.label} "
                    f"({_interval(second)}, {second.wall_s:.1f} s, {_params(second.trainable)} trainable), more "
                    f"than the ±{100 * noise:.1f} points chance alone makes on these test images.")
        else:
            text = (f"**{best.label}**, {_interval(best)}, and **{second.label}**, {_interval(second)}, are within "
                    f"the test set's uncertainty: a {100 * gap:.1f}-point gap is less than the ±{100 * noise:.1f} "
                    "points chance alone makes on these test images, so neither has won. Train both with other seeds "
                    "(the Seed control) to see how much each varies.")
        differ = _differences(best, second)
        if differ:
            text += (f" They also differ in {', '.join(differ)}, not only in strategy: the gap is not the "
                     "strategy's alone.")
    fastest = min(results, key=lambda r: r.wall_s)
    if fastest is not best:
        ratio = best.wall_s / max(fastest.wall_s, 1e-9)
        if ratio >= TIME_NOISE:
            text += (f" The cheapest, {fastest.label}, took {fastest.wall_s:.1f} s ({ratio:.1f}× less) for "
                     f"{100 * fastest.acc:.1f}%.")
        else:
            text += (f" {fastest.label} took {fastest.wall_s:.1f} s against {best.wall_s:.1f} s: on a shared "
                     f"machine, less than {TIME_NOISE - 1:.0%} apart is within timing noise.")
    if any(r.shared for r in results):
        text += (" Times were measured on a shared machine: other runs trained at the same time as some of these, so "
                 "they are slower than alone.")
    scratch = [r for r in results if r.strategy == "scratch"]
    pretrained = [r for r in results if r.strategy != "scratch"]
    if scratch and pretrained:
        s = max(scratch, key=lambda r: r.acc)
        beaten = [r for r in pretrained if r.acc + margin(r, s) <= s.acc]
        tied = [r for r in pretrained if r not in beaten and abs(r.acc - s.acc) <= margin(r, s)]
        if beaten:
            text += (f" From scratch ({100 * s.acc:.1f}%) beat {', '.join(r.label for r in beaten)}: the pretrained "
                     f"features do not fit this target well enough (a different source task, or a resolution far "
                     f"from the one the backbone was trained at), or the frozen part kept the network from "
                     f"adapting.")
        elif tied:
            text += (f" From scratch ({100 * s.acc:.1f}%) is within the test set's uncertainty of "
                     f"{', '.join(r.label for r in tied)}: with so few labels, these runs can't tell them apart.")
        else:
            text += (f" Every pretrained strategy beat from scratch ({100 * s.acc:.1f}%) by more than chance: with "
                     f"few labels, features learned on the source task are worth more than 11 million fresh weights.")
    return text
