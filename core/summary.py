"""Per-layer measurements of any nn.Module from one real forward pass (a torchinfo-style summary).

Output shape, parameters, trainable True / False / Partial, mult-adds and activation memory for every
module that runs, containers (Sequential, BasicBlock) included with their depth. Mult-adds come from
`torch.utils.flop_counter.FlopCounterMode` (flops / 2), never from hand formulas: it counts matrix
products and convolutions, so pooling, ReLU and BatchNorm show 0.

Per module, the flops are the growth of the counter's own total (`get_flop_counts()["Global"]`) between
the module's forward pre-hook and hook. The counter's per-module table is not used: it names modules through
process-wide module hooks, so while another session's thread runs a model with the same names
("Sequential.3"), that thread's module calls are credited with this pass's flops (measured: 20 of 20
summaries wrong with a second thread running a Sequential). The counter's mode itself is thread-local.

The caller's model is never touched: the pass runs on a private copy in eval mode, under inference mode,
with forward hooks that are removed in `finally`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

Trainable = Literal["True", "False", "Partial", "—"]


@dataclass(frozen=True)
class LayerStats:
    name: str  # "fc1", "layer1.0.conv1"
    kind: str  # class name
    depth: int  # 1 for the model's own children
    container: bool  # has child modules (its numbers include theirs)
    output_shape: tuple[int, ...]  # with the batch dimension, () for a non-tensor output
    params: int  # this module's parameters, its children's included
    trainable: Trainable
    mult_adds: int  # FlopCounterMode's flops / 2, children included
    activation_bytes: int  # bytes of the tensors it returned (every call, for a module called twice)
    calls: int  # how often forward ran (torchvision's BasicBlock calls its one ReLU twice)


@dataclass(frozen=True)
class Summary:
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    rows: tuple[LayerStats, ...]  # in the order modules were first called, each container before its children
    params: int
    trainable_params: int
    mult_adds: int


def trainable_flag(module: nn.Module) -> Trainable:
    flags = [p.requires_grad for p in module.parameters()]
    if not flags:
        return "—"
    return "True" if all(flags) else "False" if not any(flags) else "Partial"


def _tensors(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def summarize(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> Summary:
    """Measure every module of `model` on zeros of `input_shape` (batch first)."""
    private = copy.deepcopy(model).to(device).eval()
    modules = dict(private.named_modules())
    order: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    nbytes: dict[str, int] = {}
    calls: dict[str, int] = {}
    flops: dict[str, int] = {}
    started: dict[str, list[int]] = {}  # counter total at each running call's start (a stack: calls may nest)
    counter = FlopCounterMode(display=False)

    def total() -> int:
        return sum(counter.get_flop_counts().get("Global", {}).values())

    def pre(name: str):
        def hook(_module: nn.Module, _inp) -> None:
            if name not in calls:
                order.append(name)
            calls[name] = calls.get(name, 0) + 1
            started.setdefault(name, []).append(total())
        return hook

    def post(name: str):
        def hook(_module: nn.Module, _inp, out) -> None:
            flops[name] = flops.get(name, 0) + total() - started[name].pop()
            ts = _tensors(out)
            shapes[name] = tuple(ts[0].shape) if len(ts) == 1 else ()
            nbytes[name] = nbytes.get(name, 0) + sum(t.numel() * t.element_size() for t in ts)
        return hook

    handles = []
    try:
        for name, module in modules.items():
            if name:
                handles += [module.register_forward_pre_hook(pre(name)), module.register_forward_hook(post(name))]
        with torch.inference_mode(), counter:
            y = private(torch.zeros(input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    rows = tuple(LayerStats(
        name, type(modules[name]).__name__, name.count(".") + 1, bool(list(modules[name].children())),
        shapes.get(name, ()), sum(p.numel() for p in modules[name].parameters()), trainable_flag(modules[name]),
        flops.get(name, 0) // 2, nbytes.get(name, 0), calls[name]) for name in order)
    return Summary(tuple(input_shape), tuple(_tensors(y)[0].shape), rows,
                   sum(p.numel() for p in private.parameters()),
                   sum(p.numel() for p in private.parameters() if p.requires_grad),
                   counter.get_total_flops() // 2)
