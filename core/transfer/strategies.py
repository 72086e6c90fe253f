"""Transfer strategies as one table (`STRATEGIES`), and freezing: which modules train, frozen BatchNorms kept in
eval mode, the optimizer's parameter groups, and per-layer gradient norms that show frozen layers at exactly 0.

Fine-tuning unfreezes the last k stages (layer4, then layer3, layer2, layer1) with a lower learning rate for
the backbone than for the head.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.optimizers import make_optimizer
from core.training.loop import train_mode
from core.transfer.config import TransferConfig
from core.transfer.inputs import normalization, prepare

STAGES: tuple[str, ...] = ("layer4", "layer3", "layer2", "layer1")  # unfrozen in this order by "finetune"


@dataclass(frozen=True)
class Strategy:
    key: str  # its name in TransferConfig.strategy, labelled by TRANSFER_STRATEGY_LABELS
    trainable: Callable[[int], tuple[str, ...]]  # k -> top-level modules whose parameters train
    pretrained: bool  # starts from pretrained backbone weights
    explain: str


STRATEGIES: dict[str, Strategy] = {s.key: s for s in (
    Strategy("feature", lambda k: ("fc",), True,
             "Everything but the new fc head is frozen: the backbone is a fixed feature extractor."),
    Strategy("finetune", lambda k: ("fc", *STAGES[:k]), True,
             "The head and the last k stages train; the backbone's stages use a lower learning rate."),
    Strategy("full", lambda k: ("conv1", "bn1", *STAGES, "fc"), True,
             "Every layer trains, the pretrained backbone with a lower learning rate than the head."),
    Strategy("scratch", lambda k: ("conv1", "bn1", *STAGES, "fc"), False,
             "Random weights, every layer trains at the head's learning rate: no transfer at all."),
)}


@dataclass(frozen=True)
class ParamGroup:
    name: str  # "head (fc)" or "backbone"
    lr: float
    n_params: int
    modules: tuple[str, ...]  # top-level modules in the group


@dataclass(frozen=True)
class LayerGrad:
    name: str  # parameterized leaf module, e.g. "layer4.1.conv2"
    grad_norm: float  # L2 norm of the gradients of its parameters after one step (0.0 when frozen)
    trainable: bool


def apply_strategy(model: nn.Module, strategy: str, k: int = 1) -> nn.Module:
    """Set requires_grad per the strategy: the listed top-level modules train, everything else is frozen."""
    trainable = set(STRATEGIES[strategy].trainable(k))
    for name, child in model.named_children():
        child.requires_grad_(name in trainable)
    return model


def frozen_norms(model: nn.Module) -> tuple[nn.Module, ...]:
    """The BatchNorm layers whose parameters are all frozen: the ones that stay in eval mode while the rest
    trains, so their running mean/var keep the pretrained statistics instead of drifting toward each batch."""
    return tuple(m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and not any(p.requires_grad for p in m.parameters(recurse=False)))


def set_train_mode(model: nn.Module) -> nn.Module:
    """model.train(), except the frozen BatchNorm layers (`frozen_norms`), which stay in eval mode."""
    return train_mode(model, frozen_norms(model))


def param_groups(model: nn.Module, cfg: TransferConfig) -> list[ParamGroup]:
    """The optimizer's groups: the head at head_lr, the trainable backbone at backbone_lr (scratch: one lr)."""
    head_lr = cfg.head_lr
    backbone_lr = cfg.head_lr if cfg.strategy == "scratch" else cfg.backbone_lr
    groups = []
    for name, lr, pick in (("head (fc)", head_lr, lambda n: n == "fc"), ("backbone", backbone_lr, lambda n: n != "fc")):
        mods = tuple(n for n, c in model.named_children()
                     if pick(n) and any(p.requires_grad for p in c.parameters()))
        n_params = sum(p.numel() for n in mods for p in getattr(model, n).parameters() if p.requires_grad)
        if mods:
            groups.append(ParamGroup(name, lr, n_params, mods))
    return groups


def optimizer(model: nn.Module, cfg: TransferConfig) -> torch.optim.Optimizer:
    """Adam (from the one optimizer table) over the trainable parameters only, one group per `param_groups` entry."""
    groups = [{"params": [p for n in g.modules for p in getattr(model, n).parameters() if p.requires_grad],
               "lr": g.lr, "name": g.name} for g in param_groups(model, cfg)]
    return make_optimizer("adam", groups, cfg.head_lr, fused=True)


def gradient_norms(model: nn.Module, cfg: TransferConfig, images: torch.Tensor,
                   labels: torch.Tensor) -> list[LayerGrad]:
    """Per-layer gradient norms of one training step under `cfg`'s strategy, on a private copy of `model`
    (the shared model's mode, requires_grad and .grad are untouched). Frozen layers are exactly 0."""
    work = apply_strategy(copy.deepcopy(model), cfg.strategy, cfg.k_stages)
    set_train_mode(work)
    device = next(work.parameters()).device
    x = prepare(images.to(device), cfg.resolution, normalization(cfg))  # (B, 3, r, r)
    F.cross_entropy(work(x), labels.to(device)).backward()
    out = []
    for name, m in work.named_modules():
        params = list(m.parameters(recurse=False))
        if params:
            sq = sum(float(p.grad.pow(2).sum()) for p in params if p.grad is not None)
            out.append(LayerGrad(name, math.sqrt(sq), any(p.requires_grad for p in params)))
    return out
