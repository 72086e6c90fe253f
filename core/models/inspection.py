"""Look inside any nn.Module: a torchinfo-style layer table and per-layer activations.

`layer_table` gives one row per submodule (containers such as Sequential or BasicBlock included, with their
depth): output shape, own and total parameters, trainable True / False / Partial, activation memory and
call count from one forward pass, and, when asked (`mult_adds=True`), mult-adds. `summarize` adds the
model's totals. Mult-adds come from `torch.utils.flop_counter.FlopCounterMode` (flops / 2), never from
hand formulas: it counts matrix products and convolutions, so pooling, ReLU and BatchNorm show 0. It
counts from shapes alone, so it runs on the same shape-only copy.

Per module, the flops are the growth of the counter's own total (`get_flop_counts()["Global"]`) between
the module's forward pre-hook and hook. The counter's per-module table is not used: it names modules through
process-wide module hooks, so while another session's thread runs a model with the same names
("Sequential.3"), that thread's module calls are credited with this pass's flops (measured: 20 of 20
tables wrong with a second thread running a Sequential). The counter's mode itself is thread-local.

Neither the table nor the activations change the model you pass (a shared, cached model stays exactly as
it was: mode, hooks, `.grad`, `requires_grad`): both run on a private copy of its module tree, and their
forward hooks live in the `forward_hooks` context manager, which removes them in `finally`. The layer
table's copy holds shape-only "meta" tensors (no weights copied, no arithmetic done); the activations' copy
shares the model's parameters and buffers read-only (no weights copied either).
"""
from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

Trainable = Literal["True", "False", "Partial", "—"]


@dataclass(frozen=True)
class LayerRow:
    name: str  # "fc1", or "layer1.0.conv1" for nested models
    kind: str  # class name, e.g. "Linear"
    depth: int  # 1 for the model's own children, 2 for their children, ...
    container: bool  # True for a module with children (Sequential, BasicBlock, ...)
    output_shape: tuple[int, ...]  # batch included; () when not called or not one tensor returned
    params: int  # its own parameters (0 for most containers)
    total_params: int  # its own and all its children's
    trainable_params: int  # of total_params, those with requires_grad
    formula: str  # parameter arithmetic of its own parameters, e.g. "784·128 + 128"
    trainable: Trainable  # over total_params: all, none, some, or no parameters at all
    activation_bytes: int  # bytes of the tensors it returned (every call, for a module called twice)
    calls: int  # how often forward ran (torchvision's BasicBlock calls its one ReLU twice)
    mult_adds: int | None = None  # FlopCounterMode's flops / 2, children included; None when not counted


@dataclass(frozen=True)
class Summary:
    """The layer table with the model's totals (what torchinfo prints under its table)."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    params: int
    trainable_params: int
    mult_adds: int


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


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def private_copy(model: nn.Module, device: torch.device | str | None = None) -> nn.Module:
    """A copy of the module tree in eval mode for hooks to attach to. With `device=None` it shares the
    model's parameters and buffers (read them only, under inference_mode); with "meta" it holds
    shape-only tensors with the same `requires_grad`. Either way no weight is copied."""
    tensors: list[torch.Tensor] = [*model.parameters(), *model.buffers()]
    if device is None:
        memo = {id(t): t for t in tensors}
    else:
        memo = {id(p): nn.Parameter(torch.empty_like(p, device=device), requires_grad=p.requires_grad)
                for p in model.parameters()}
        memo.update({id(b): torch.empty_like(b, device=device) for b in model.buffers()})
    return copy.deepcopy(model, memo).eval()


@contextmanager
def forward_hooks(model: nn.Module, names: Sequence[str],
                  on_output: Callable[[str, nn.Module, Any], None],
                  on_call: Callable[[str, nn.Module], None] | None = None) -> Iterator[None]:
    """Forward hooks on the submodules `names` of `model` for the duration of the `with` block:
    `on_call(name, module)` before and `on_output(name, module, output)` after each call. Removed in
    `finally`, so an exception in the forward pass leaves no hook behind."""
    handles = []
    try:
        modules = dict(model.named_modules())
        for name in names:
            module = modules[name]
            if on_call is not None:
                handles.append(module.register_forward_pre_hook(lambda m, _inp, n=name: on_call(n, m)))
            handles.append(module.register_forward_hook(lambda m, _inp, out, n=name: on_output(n, m, out)))
        yield
    finally:
        for h in handles:
            h.remove()


def tensors_in(out: object) -> list[torch.Tensor]:
    """The tensors in a module's output or arguments (a tensor, or tuples and lists of them, nested)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in tensors_in(o)]
    return []


@dataclass
class _Pass:
    """What one forward pass measured: per module, and the model's output and flops."""

    order: list[str]  # first call of each module, in call order (a container before its children)
    shapes: dict[str, tuple[int, ...]]
    nbytes: dict[str, int]
    calls: dict[str, int]
    flops: dict[str, int] | None
    output_shape: tuple[int, ...]
    total_flops: int


def _measure(model: nn.Module, input_shape: tuple[int, ...], device: torch.device | str,
             mult_adds: bool) -> _Pass:
    names = [name for name, _ in model.named_modules() if name]
    m = _Pass([], {}, {}, {}, {} if mult_adds else None, (), 0)
    counter = FlopCounterMode(display=False) if mult_adds else None
    started: dict[str, list[int]] = {}  # counter total at each running call's start (a stack: calls may nest)

    def total() -> int:
        return sum(counter.get_flop_counts().get("Global", {}).values()) if counter is not None else 0

    def called(name: str, _m: nn.Module) -> None:
        if name not in m.calls:
            m.order.append(name)
        m.calls[name] = m.calls.get(name, 0) + 1
        started.setdefault(name, []).append(total())

    def returned(name: str, _m: nn.Module, out: Any) -> None:
        if m.flops is not None:
            m.flops[name] = m.flops.get(name, 0) + total() - started[name].pop()
        ts = tensors_in(out)
        if name not in m.shapes:
            m.shapes[name] = tuple(ts[0].shape) if len(ts) == 1 else ()
        m.nbytes[name] = m.nbytes.get(name, 0) + sum(t.numel() * t.element_size() for t in ts)

    with forward_hooks(model, names, returned, called), torch.inference_mode(), \
            counter if counter is not None else contextlib.nullcontext():
        y = model(torch.zeros(input_shape, device=device))
    outs = tensors_in(y)
    m.output_shape = tuple(outs[0].shape) if len(outs) == 1 else ()
    m.total_flops = counter.get_total_flops() if counter is not None else 0
    m.order += [n for n in names if n not in m.calls]  # modules the forward pass never called, last
    return m


def _rows(model: nn.Module, m: _Pass) -> list[LayerRow]:
    modules = dict(model.named_modules())
    rows = []
    for name in m.order:
        mod = modules[name]
        params = list(mod.parameters())
        rows.append(LayerRow(
            name, type(mod).__name__, name.count(".") + 1, bool(list(mod.children())), m.shapes.get(name, ()),
            sum(p.numel() for p in mod.parameters(recurse=False)), sum(p.numel() for p in params),
            sum(p.numel() for p in params if p.requires_grad), param_formula(mod), trainable_flag(mod),
            m.nbytes.get(name, 0), m.calls.get(name, 0), None if m.flops is None else m.flops.get(name, 0) // 2))
    return rows


def _measured(model: nn.Module, input_shape: tuple[int, ...], mult_adds: bool) -> tuple[nn.Module, _Pass]:
    """The pass on a shape-only copy; a model whose operations have no shape-only kernels runs on zeros."""
    try:
        private = private_copy(model, "meta")
        return private, _measure(private, input_shape, "meta", mult_adds)
    except (NotImplementedError, RuntimeError):
        private = private_copy(model)
        device = next(model.parameters(), torch.empty(0)).device
        return private, _measure(private, input_shape, device, mult_adds)


def layer_table(model: nn.Module, input_shape: tuple[int, ...], mult_adds: bool = False) -> list[LayerRow]:
    """One row per submodule (containers and leaves, not the model itself), in call order, for an input of
    `input_shape` (batch included); modules the forward pass never calls come last, with calls 0. Mult-adds
    are counted only when asked (`mult_adds=True`: FlopCounterMode, a slower pass); else they are None."""
    private, m = _measured(model, input_shape, mult_adds)
    return _rows(private, m)


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> Summary:
    """The layer table with mult-adds, and the model's totals."""
    private, m = _measured(model, input_shape, True)
    return Summary(tuple(input_shape), m.output_shape, tuple(_rows(private, m)), count_params(model),
                   count_params(model, trainable_only=True), m.total_flops // 2)


def top_level(rows: Sequence[LayerRow]) -> list[LayerRow]:
    """The rows of the model's own children (depth 1): together they hold every submodule's parameters."""
    return [r for r in rows if r.depth == 1]


def activations(model: nn.Module, x: torch.Tensor,
                names: Sequence[str] | None = None) -> list[tuple[str, torch.Tensor]]:
    """[("input", x), (name, output), ...] in call order for the submodules `names` (default: the
    model's own children), from one forward pass of `x`. Outputs are cloned as they are produced, so
    a later in-place op (ResNet's ReLU(inplace=True)) cannot change them."""
    private = private_copy(model)
    wanted = list(names) if names is not None else [n for n, _ in private.named_children()]
    out: dict[str, torch.Tensor] = {}

    def keep(name: str, _m: nn.Module, y: Any) -> None:
        if name not in out and isinstance(y, torch.Tensor):
            out[name] = y.detach().clone()

    with forward_hooks(private, wanted, keep), torch.inference_mode():
        private(x)
    return [("input", x), *out.items()]


@torch.inference_mode()
def predict_proba(model: nn.Module, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
    """Softmax probabilities (N, classes) on the CPU for a normalized input batch (N, C, H, W)."""
    parts = [torch.softmax(model(x[i:i + batch]), dim=1).cpu() for i in range(0, len(x), batch)]
    return torch.cat(parts) if parts else torch.empty(0, 0)


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """(n_classes, n_classes) int64 counts: row = true class, column = predicted class."""
    idx = y_true.long() * n_classes + y_pred.long()
    return torch.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    """(n_classes,) fraction of each true class predicted correctly (nan for an absent class)."""
    totals = cm.sum(1).double()
    return torch.where(totals > 0, cm.diag().double() / totals.clamp_min(1), torch.nan)
