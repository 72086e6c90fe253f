"""Why a tensor operation failed, in the learner's terms: which dimension disagrees and what would fit.

Two shapes are aligned from the right as broadcasting does (the page shows that table when the operation works too);
each op's explainer names the offending dimension next to PyTorch's own message (in the spirit of tensor-sensor).
No Streamlit here.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.lessons.tensor_op_spec import OpSpec
from core.lessons.tensor_specs import dtype_name

Tensor = torch.Tensor


# ---------------------------------------------------------------- broadcasting
@dataclass(frozen=True)
class DimAlign:
    """One column of the right-aligned shapes table."""

    dim: int  # negative: counted from the right, as broadcasting aligns them
    a: int | None  # None: this tensor has no such dimension (treated as 1)
    b: int | None
    out: int | None  # None when the sizes disagree
    note: str  # "same", "a stretched", "b stretched", "a added", "b added", "MISMATCH"


@dataclass(frozen=True)
class BroadcastInfo:
    a_shape: tuple[int, ...]
    b_shape: tuple[int, ...]
    columns: tuple[DimAlign, ...]
    ok: bool
    out_shape: tuple[int, ...] | None


def explain_broadcast(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> BroadcastInfo:
    """Align two shapes from the right; a size-1 or missing dimension is stretched to match."""
    n = max(len(a_shape), len(b_shape))
    cols = []
    for k in range(n, 0, -1):  # k-th dimension from the right
        a = a_shape[-k] if k <= len(a_shape) else None
        b = b_shape[-k] if k <= len(b_shape) else None
        aa, bb = 1 if a is None else a, 1 if b is None else b
        if aa == bb:
            out, note = aa, ("same" if a is not None and b is not None else
                             ("a added (size 1)" if a is None else "b added (size 1)"))
        elif aa == 1:
            out, note = bb, ("a added and stretched" if a is None else "a stretched")
        elif bb == 1:
            out, note = aa, ("b added and stretched" if b is None else "b stretched")
        else:
            out, note = None, "MISMATCH"
        cols.append(DimAlign(-k, a, b, out, note))
    ok = all(c.out is not None for c in cols)
    return BroadcastInfo(tuple(a_shape), tuple(b_shape), tuple(cols), ok,
                         tuple(c.out for c in cols) if ok else None)  # type: ignore[arg-type]


# ---------------------------------------------------------------- failures, one explainer per kind of op
@dataclass(frozen=True)
class OpError:
    """A failed operation, explained: PyTorch's own message plus which dimension disagrees."""

    title: str
    explanation: str
    torch_message: str
    a_shape: tuple[int, ...]
    b_shape: tuple[int, ...] | None = None
    bad_dim: int | None = None  # the offending dim (negative = from the right) when one can be named


def explain_elementwise(op: OpSpec, a: Tensor, b: Tensor | None, msg: str) -> OpError | None:
    if b is None:
        return None
    sa, sb = tuple(a.shape), tuple(b.shape)
    bad = next((c for c in explain_broadcast(sa, sb).columns if c.note == "MISMATCH"), None)
    if bad is None:
        return None
    return OpError(
        "These shapes don't broadcast",
        f"Aligned from the right, dimension {bad.dim} (counting from the right) has size {bad.a} in a "
        f"and {bad.b} in b. Broadcasting can only stretch a dimension of size 1 (or a missing one), "
        f"so {bad.a} and {bad.b} can't be matched. Make one of them 1 (e.g. with unsqueeze or a slice), "
        f"or make them equal.", msg, sa, sb, bad.dim)


# Rewrites of `a @ b` worth trying when its inner dimensions differ: a transpose of a 1-D tensor is a no-op
# (so never offered for one), and each candidate is kept only if PyTorch accepts its shapes.
_MATMUL_REWRITES: tuple[tuple[str, Callable[[Tensor, Tensor], Tensor], Callable[[int, int], bool]], ...] = (
    ("a @ b.T", lambda a, b: a @ b.T, lambda da, db: db == 2),
    ("a @ b.mT", lambda a, b: a @ b.mT, lambda da, db: db > 2),
    ("a.T @ b", lambda a, b: a.T @ b, lambda da, db: da == 2),
    ("a.mT @ b", lambda a, b: a.mT @ b, lambda da, db: da > 2),
    ("b @ a", lambda a, b: b @ a, lambda da, db: True),
)


def _matmul_fixes(sa: tuple[int, ...], sb: tuple[int, ...]) -> str:
    """One sentence naming the rewrites of a @ b that PyTorch accepts for these shapes (checked on the meta
    device: shapes only), or how a would have to change."""
    a, b = torch.empty(sa, device="meta"), torch.empty(sb, device="meta")
    works = []
    for expr, fn, applies in _MATMUL_REWRITES:
        if not applies(len(sa), len(sb)):
            continue
        try:
            works.append(f"`{expr}` (gives {list(fn(a, b).shape)})")
        except RuntimeError:
            continue
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    change = f"change a so its last dimension is {k_b}"
    if not works:
        return f"Neither a transpose nor swapping a and b fixes these shapes: {change}."
    return f"These shapes would work: {', '.join(works)}; or {change}. Check which one you mean."


def explain_matmul(op: OpSpec, a: Tensor, b: Tensor | None, msg: str) -> OpError | None:
    if b is None:
        return None
    sa, sb = tuple(a.shape), tuple(b.shape)
    if a.dim() == 0 or b.dim() == 0:
        return OpError("matmul needs at least 1-D tensors",
                       "`@` multiplies vectors or matrices; a 0-d tensor (a single number) has no "
                       "dimension to sum over. Use `*` to scale by a number.", msg, sa, sb)
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        which_b = "its only dimension" if len(sb) == 1 else f"dimension {-2} (rows)"
        return OpError(
            "Inner dimensions of a @ b don't match",
            f"a @ b sums over the last dimension of a (size {k_a}) and {which_b} of b (size {k_b}). "
            f"They must be equal: a is {list(sa)}, b is {list(sb)}. {_matmul_fixes(sa, sb)}",
            msg, sa, sb, -1)
    if len(sa) > 2 and len(sb) > 2:
        bad = next((c for c in explain_broadcast(sa[:-2], sb[:-2]).columns if c.note == "MISMATCH"), None)
        if bad is not None:
            return OpError(
                "The batch dimensions of a @ b don't broadcast",
                f"Besides the two matrix dimensions, the leading (batch) dimensions must broadcast: "
                f"batch dimension {bad.dim - 2} has size {bad.a} in a and {bad.b} in b.",
                msg, sa, sb, bad.dim - 2)
    return None


def explain_stack(op: OpSpec, a: Tensor, b: Tensor | None, msg: str) -> OpError | None:
    if b is None or a.shape == b.shape:
        return None
    sa, sb = tuple(a.shape), tuple(b.shape)
    diff = [i for i in range(max(len(sa), len(sb))) if i >= len(sa) or i >= len(sb) or sa[i] != sb[i]]
    return OpError("torch.stack needs tensors of the same shape",
                   f"stack puts a and b side by side along a NEW dimension, so they must have the same "
                   f"shape; a is {list(sa)} and b is {list(sb)} (they differ at dimension {diff[0]}). "
                   f"torch.cat joins along an EXISTING dimension and only needs the other sizes equal.",
                   msg, sa, sb, diff[0])


def explain_cat(op: OpSpec, a: Tensor, b: Tensor | None, msg: str) -> OpError | None:
    if b is None:
        return None
    sa, sb = tuple(a.shape), tuple(b.shape)
    if len(sa) != len(sb):
        return OpError("torch.cat needs tensors with the same number of dimensions",
                       f"a has {len(sa)} dimensions and b has {len(sb)}. Use unsqueeze to add one.", msg, sa, sb)
    d = (op.dim or 0) % max(len(sa), 1)
    diff = [i for i in range(len(sa)) if i != d and sa[i] != sb[i]]
    if not diff:
        return None
    return OpError("torch.cat: sizes differ outside the joining dimension",
                   f"cat joins along dimension {d}, so every other dimension must match; "
                   f"dimension {diff[0]} is {sa[diff[0]]} in a and {sb[diff[0]]} in b.", msg, sa, sb, diff[0])


def explain_reshape(op: OpSpec, a: Tensor, b: Tensor | None, msg: str) -> OpError | None:
    o, sa, n, target = op.op, tuple(a.shape), a.numel(), op.shape
    known = math.prod(s for s in target if s != -1)
    if -1 in target:
        if known == 0 or n % known:
            return OpError(f"Can't {o} to {list(target)}",
                           f"a has {n} elements; with -1 PyTorch divides {n} by the other sizes "
                           f"(product {known}), which doesn't give a whole number.", msg, sa)
    elif known != n:
        return OpError(f"Can't {o} {list(sa)} to {list(target)}",
                       f"{o} keeps every element, so the number of elements must stay the same: "
                       f"{' × '.join(map(str, sa)) or '1'} = {n}, but {list(target)} holds {known}. "
                       f"Use -1 in one place to let PyTorch work that size out.", msg, sa)
    if o == "view" and not a.is_contiguous():
        return OpError("view() needs memory laid out compatibly",
                       f"a has strides {list(a.stride())} (it is not contiguous, e.g. after transpose), so "
                       f"its elements can't be re-read as {list(target)} without copying. "
                       f"Use .reshape() (copies when needed) or .contiguous().view(...).", msg, sa)
    return None


def explain_mean(op: OpSpec, a: Tensor, b: Tensor | None, msg: str) -> OpError | None:
    if a.dtype.is_floating_point:
        return None
    return OpError("mean needs a floating-point tensor",
                   f"a is {dtype_name(a)}; an average of integers is usually not an "
                   f"integer. Choose float32, or write a.float().mean().", msg, tuple(a.shape))
