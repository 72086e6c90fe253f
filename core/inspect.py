"""Look inside models: a torchinfo-style layer table and per-layer activations.

Both work on the model you pass without changing it: the layer table runs on a
private copy with forward hooks that are removed in `finally`, and activations
come from walking the Sequential's children (no hooks on shared models at all).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Trainable = Literal["True", "False", "Partial", "—"]


@dataclass(frozen=True)
class LayerRow:
    name: str  # "fc1", or "layer1.0.conv1" for nested models
    kind: str  # class name, e.g. "Linear"
    output_shape: tuple[int, ...]
    params: int
    formula: str  # parameter arithmetic, e.g. "784·128 + 128"
    trainable: Trainable


def param_formula(module: nn.Module) -> str:
    """'16·1·3·3 + 16' for Conv2d(1, 16, 3), '784·128 + 128' for Linear(784, 128) (in·out, as
    it is usually written), '' for a module without parameters of its own."""
    shapes = [list(p.shape) for p in module.parameters(recurse=False)]
    if isinstance(module, nn.Linear):
        shapes[0] = shapes[0][::-1]  # weight is stored (out, in)
    return " + ".join("·".join(str(d) for d in s) for s in shapes)


def trainable_flag(module: nn.Module) -> Trainable:
    flags = [p.requires_grad for p in module.parameters()]
    if not flags:
        return "—"
    return "True" if all(flags) else "False" if not any(flags) else "Partial"


def layer_table(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str = "cpu") -> list[LayerRow]:
    """One row per leaf module, in call order, with its output shape for an input of `input_shape`."""
    private = copy.deepcopy(model).to(device).eval()  # hooks never touch the caller's (shared) model
    rows: list[LayerRow] = []
    handles = []

    def hook(name: str):
        def record(module: nn.Module, _inp, out) -> None:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
            own = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerRow(name, type(module).__name__, shape, own, param_formula(module),
                                 trainable_flag(module)))
        return record

    try:
        for name, module in private.named_modules():
            if name and not list(module.children()):
                handles.append(module.register_forward_hook(hook(name)))
        with torch.inference_mode():
            private(torch.zeros(input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return rows


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.inference_mode()
def activations(model: nn.Sequential, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """[(layer name, output)] for every child of a Sequential, starting with ("input", x)."""
    out = [("input", x)]
    for name, layer in model.named_children():
        x = layer(x)
        out.append((name, x))
    return out


@torch.inference_mode()
def predict_proba(model: nn.Module, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
    """Softmax probabilities (N, 10) on the CPU for a normalized input batch (N, 1, 28, 28)."""
    parts = [torch.softmax(model(x[i:i + batch]), dim=1).cpu() for i in range(0, len(x), batch)]
    return torch.cat(parts) if parts else torch.empty(0, 10)


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """(n_classes, n_classes) int64 counts: row = true class, column = predicted class."""
    idx = y_true.long() * n_classes + y_pred.long()
    return torch.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """(n_classes,) fraction of each true class predicted correctly (nan for an absent class)."""
    totals = cm.sum(1).double()
    return torch.where(totals > 0, cm.diag().double() / totals.clamp_min(1), torch.nan)
