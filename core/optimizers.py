"""The one table of optimizers: training (core/train.py) and the 2-D surfaces (core/optim2d.py) both use it.

Each entry says how to build the real `torch.optim` optimizer and how to write the same call as code,
so the code panels print exactly what ran. Adding an optimizer = adding one entry. No Streamlit here.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class OptimizerKind:
    label: str
    cls: type[torch.optim.Optimizer]
    kwargs: Callable[[float, float], dict[str, float]]  # (lr, momentum) -> constructor keywords
    training: bool  # offered by the training engine (TrainConfig.optimizer); else 2-D surfaces only
    fused: bool = False  # use the fused kernel when training (one kernel per step, CPU and CUDA)


OPTIMIZERS: dict[str, OptimizerKind] = {
    "sgd": OptimizerKind("SGD", torch.optim.SGD, lambda lr, m: {"lr": lr}, training=True),
    "momentum": OptimizerKind("SGD + momentum", torch.optim.SGD, lambda lr, m: {"lr": lr, "momentum": m},
                              training=True),
    "adam": OptimizerKind("Adam", torch.optim.Adam, lambda lr, m: {"lr": lr}, training=True, fused=True),
    "rmsprop": OptimizerKind("RMSprop", torch.optim.RMSprop, lambda lr, m: {"lr": lr}, training=False),
}
OPTIMIZER_LABELS: dict[str, str] = {k: o.label for k, o in OPTIMIZERS.items() if o.training}  # training engine
SURFACE_OPTIMIZER_LABELS: dict[str, str] = {k: o.label for k, o in OPTIMIZERS.items()}  # 2-D surfaces: all


def _kwargs(name: str, lr: float, momentum: float, fused: bool) -> dict[str, object]:
    kind = OPTIMIZERS[name]
    kw: dict[str, object] = dict(kind.kwargs(lr, momentum))
    if fused and kind.fused:
        kw["fused"] = True
    return kw


def make_optimizer(name: str, params: Iterable[torch.Tensor], lr: float, momentum: float = 0.0, *,
                   fused: bool = False) -> torch.optim.Optimizer:
    """The optimizer `name` over `params`. `fused=True` (training) picks the fused kernel where the entry has one."""
    return OPTIMIZERS[name].cls(params, **_kwargs(name, lr, momentum, fused))


def optimizer_code(name: str, params: str, lr: float, momentum: float = 0.0, *, fused: bool = False) -> str:
    """The constructor call `make_optimizer` makes, as code, e.g. 'torch.optim.SGD([p], lr=0.1)'."""
    kw = ", ".join(f"{k}={v!r}" for k, v in _kwargs(name, lr, momentum, fused).items())
    return f"torch.optim.{OPTIMIZERS[name].cls.__name__}({params}, {kw})"
