"""What the Transfer learning page reads from models and runs: ResNet-18's anatomy from its layer table, the first
filters, and a conclusion computed from the stored runs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def _params(n: int | None) -> str:
    return "an unknown number of" if n is None else f"{n:,}"


def conclusion(results: Sequence[RunResult]) -> str:
    """Plain words computed from the stored runs: the winner, its margin, its cost, and why scratch lost or won."""
    if not results:
        return ""
    ranked = sorted(results, key=lambda r: (-r.acc, r.wall_s))
    best = ranked[0]
    text = (f"**{best.label}** won with {100 * best.acc:.1f}% target accuracy in {best.wall_s:.1f} s, "
            f"training {_params(best.trainable)} parameters")
    if len(ranked) > 1:
        second = ranked[1]
        text += (f"; {100 * (best.acc - second.acc):.1f} points ahead of {second.label} "
                 f"({100 * second.acc:.1f}%, {second.wall_s:.1f} s, {_params(second.trainable)} trainable)")
    text += "."
    fastest = min(results, key=lambda r: r.wall_s)
    if fastest is not best:
        text += (f" The cheapest, {fastest.label}, took {fastest.wall_s:.1f} s "
                 f"({best.wall_s / max(fastest.wall_s, 1e-9):.1f}× less) for {100 * fastest.acc:.1f}%.")
    scratch = [r for r in results if r.strategy == "scratch"]
    pretrained = [r for r in results if r.strategy != "scratch"]
    if scratch and pretrained:
        s = max(scratch, key=lambda r: r.acc)
        beaten = [r for r in pretrained if r.acc <= s.acc]
        if beaten:
            text += (f" From scratch ({100 * s.acc:.1f}%) matched or beat {', '.join(r.label for r in beaten)}: "
                     f"the pretrained features do not fit this target well enough (a different source task, or a "
                     f"resolution far from the one the backbone was trained at), or the frozen part kept the "
                     f"network from adapting; with so few labels such a gap is also within run-to-run noise.")
        else:
            text += (f" Every pretrained strategy beat from scratch ({100 * s.acc:.1f}%): with few labels, "
                     f"features learned on the source task are worth more than 11 million fresh weights.")
    return text
