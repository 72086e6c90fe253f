"""Operations on the Tensors page, one table entry per op: compute it, write it as code, explain a failure.

Everything shown is computed by PyTorch: the result, its shape / dtype / strides, and whether it is a view sharing
storage with its input (why a failure happened is tensor_errors'). Each entry computes with real torch calls (no
generated code is evaluated); its `code` writes the same call as Python, and the tests run that code and compare.
Adding an op = adding one entry to OPS. No Streamlit here.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from core.errors import InputError
from core.lessons.tensor_errors import (
    BroadcastInfo,
    OpError,
    explain_broadcast,
    explain_cat,
    explain_elementwise,
    explain_matmul,
    explain_mean,
    explain_reshape,
    explain_stack,
)
from core.lessons.tensor_op_spec import OpSpec
from core.lessons.tensor_specs import TensorSpec, check_shape, dtype_name, index_text, parse_index, tensor_expr

Tensor = torch.Tensor
# Which arguments an op reads from OpSpec (the page shows the matching controls):
# none · reduce (dim or all, keepdim) · dim (an existing dim) · new_dim (a dim of the result, one more)
# · squeeze_dim (dim or all) · shape (target, may hold -1) · pair (two dims) · order (every dim once) · index
Args = Literal["none", "reduce", "dim", "new_dim", "squeeze_dim", "shape", "pair", "order", "index"]


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class ViewInfo:
    """Is the result a view of `a` (same memory) or a copy? Measured with untyped_storage().data_ptr()."""

    shares_storage: bool
    in_strides: tuple[int, ...]
    out_strides: tuple[int, ...]
    in_contiguous: bool
    out_contiguous: bool
    out_offset: int  # storage_offset() of the result, in elements


def view_info(a: Tensor, out: Tensor) -> ViewInfo:
    shares = out.untyped_storage().data_ptr() == a.untyped_storage().data_ptr()
    return ViewInfo(shares, tuple(a.stride()), tuple(out.stride()), a.is_contiguous(), out.is_contiguous(),
                    int(out.storage_offset()))


@dataclass(frozen=True)
class OpResult:
    expr: str  # the PyTorch expression applied, e.g. "a @ b"
    out: Tensor | None = None
    error: OpError | None = None
    broadcast: BroadcastInfo | None = None
    view: ViewInfo | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------- the table
Compute = Callable[[Tensor, Tensor | None, OpSpec], Tensor]
Check = Callable[[Tensor, OpSpec], None]  # raises InputError for arguments that can't apply to a
Explain = Callable[[OpSpec, Tensor, Tensor | None, str], OpError | None]  # None: no specific explanation
Notes = Callable[[Tensor, Tensor | None, OpSpec, Tensor], list[str]]


@dataclass(frozen=True)
class Op:
    label: str
    arity: Literal[1, 2]  # how many tensors it takes
    args: Args
    compute: Compute  # real torch calls
    code: Callable[[OpSpec], str]  # the same call as Python, with tensors named a and b
    check: Check | None = None
    explain: Explain | None = None
    notes: Notes | None = None
    view: bool = False  # compare the result with a's storage: view or copy?
    broadcasts: bool = False  # element-wise: show how the shapes broadcast


def _norm_dim(dim: int, ndim: int, name: str = "dim") -> int:
    if not -ndim <= dim < max(ndim, 1):
        raise InputError(f"{name} {dim} is out of range for a {ndim}-dimensional tensor "
                         f"(valid: {-ndim} … {ndim - 1})")
    return dim % ndim if ndim else 0


def _check_new_dim(a: Tensor, op: OpSpec) -> None:
    _norm_dim(op.dim or 0, a.dim() + 1)


def _check_some_dim(a: Tensor, op: OpSpec) -> None:
    if op.dim is None:
        return
    if a.dim() == 0:
        raise InputError("a is a single number (0-d): it has no dimension to pick")
    _norm_dim(op.dim, a.dim())


def _check_pair(a: Tensor, op: OpSpec) -> None:
    if a.dim() < 1:
        raise InputError("transpose needs a tensor with at least one dimension")
    for d in op.dims[:2]:
        _norm_dim(d, a.dim())


def _check_order(a: Tensor, op: OpSpec) -> None:
    if sorted(d % max(a.dim(), 1) for d in op.dims) != list(range(a.dim())) or len(op.dims) != a.dim():
        raise InputError(f"permute needs each of the {a.dim()} dimensions exactly once, e.g. "
                         f"{', '.join(map(str, reversed(range(a.dim()))))}; got {op.dims}")


def _check_target(a: Tensor, op: OpSpec) -> None:
    check_shape(op.shape, allow_minus_one=True)


def _check_cat(a: Tensor, op: OpSpec) -> None:
    if a.dim() == 0:
        raise InputError("torch.cat can't join 0-d tensors (single numbers); use torch.stack")
    _norm_dim(op.dim or 0, a.dim())


def _check_index(a: Tensor, op: OpSpec) -> None:
    parse_index(op.index)


def _explain_dtype(op: OpSpec, a: Tensor, b: Tensor | None, msg: str) -> OpError | None:
    """Any op: PyTorch has no kernel for this dtype ("... not implemented for 'Bool'", bool subtraction...)."""
    dtypes = sorted({dtype_name(t) for t in (a, b) if t is not None})
    if "not implemented for" not in msg and not ("bool" in dtypes and "bool" in msg.lower()):
        return None
    kinds = " and ".join(dtypes)
    return OpError(f"{OPS[op.op].label.split(' (')[0]} isn't defined for {kinds} tensors",
                   f"PyTorch has no version of this operation for {kinds} values"
                   + (": a bool holds only True or False, so arithmetic such as - or @ has no meaning for it. "
                      "Use logical ops (&, |, ^, ~) on bools, or turn them into numbers first with "
                      ".int() or .float()." if "bool" in dtypes else
                      ". Choose another dtype (e.g. float32), or convert with .float().")
                   + " Other combinations work: try the same operation with float32.",
                   msg, tuple(a.shape), None if b is None else tuple(b.shape))


def _elementwise(symbol: str, fn: Callable[[Tensor, Tensor], Tensor], label: str) -> Op:
    return Op(f"a {symbol} b (element-wise, broadcasts)" if not label else label, 2, "none",
              lambda a, b, o: fn(a, b), lambda o: f"a {symbol} b", explain=explain_elementwise,
              notes=_promotion_notes, broadcasts=True)


def _reduction(name: str, fn: Callable[..., Tensor], code_suffix: str = "") -> Op:
    def compute(a: Tensor, b: Tensor | None, o: OpSpec) -> Tensor:
        return fn(a) if o.dim is None else fn(a, dim=o.dim, keepdim=o.keepdim)

    def code(o: OpSpec) -> str:
        if o.dim is None:
            return f"a.{name}()"
        return f"a.{name}(dim={o.dim}{', keepdim=True' if o.keepdim else ''}){code_suffix}"

    return Op(f"a.{name}(dim)", 1, "reduce", compute, code, check=_check_some_dim,
              explain=explain_mean if name == "mean" else None)


def _promotion_notes(a: Tensor, b: Tensor | None, o: OpSpec, out: Tensor) -> list[str]:
    notes = []
    if b is None:
        return notes
    if o.op == "div" and not a.dtype.is_floating_point and not b.dtype.is_floating_point:
        notes.append("`/` is true division: two integer tensors give a float result "
                     "(use `//` or torch.div(..., rounding_mode='floor') for integer division).")
    if a.dtype != b.dtype:
        notes.append(f"a is {dtype_name(a)} and b is {dtype_name(b)}: PyTorch promotes both to {dtype_name(out)}.")
    return notes


def _shape_code(shape: tuple[int, ...]) -> str:
    return ", ".join(map(str, shape)) if shape else "()"


OPS: dict[str, Op] = {
    "add": _elementwise("+", torch.add, ""),
    "sub": _elementwise("-", torch.sub, ""),
    "mul": _elementwise("*", torch.mul, ""),
    "div": _elementwise("/", torch.div, ""),
    "matmul": Op("a @ b (matrix multiply)", 2, "none", lambda a, b, o: torch.matmul(a, b), lambda o: "a @ b",
                 explain=explain_matmul, notes=_promotion_notes),
    "cat": Op("torch.cat([a, b], dim)", 2, "dim", lambda a, b, o: torch.cat([a, b], dim=o.dim or 0),
              lambda o: f"torch.cat([a, b], dim={o.dim or 0})", check=_check_cat, explain=explain_cat,
              notes=lambda a, b, o, out: ["cat joins along an existing dimension: that dimension grows, the rank "
                                          f"stays {a.dim()}. stack would add a new dimension instead."]),
    "stack": Op("torch.stack([a, b], dim)", 2, "new_dim", lambda a, b, o: torch.stack([a, b], dim=o.dim or 0),
                lambda o: f"torch.stack([a, b], dim={o.dim or 0})", check=_check_new_dim, explain=explain_stack,
                notes=lambda a, b, o, out: [f"stack adds a new dimension {o.dim or 0} of size 2 (one slot per "
                                            f"tensor): rank {a.dim()} → {out.dim()}. cat would join along an "
                                            "existing dimension."]),
    "reshape": Op("a.reshape(shape)", 1, "shape", lambda a, b, o: a.reshape(o.shape),
                  lambda o: f"a.reshape({_shape_code(o.shape)})", check=_check_target, explain=explain_reshape,
                  view=True),
    "view": Op("a.view(shape)", 1, "shape", lambda a, b, o: a.view(o.shape),
               lambda o: f"a.view({_shape_code(o.shape)})", check=_check_target, explain=explain_reshape, view=True),
    "transpose": Op("a.transpose(dim0, dim1)", 1, "pair", lambda a, b, o: a.transpose(*o.pair),
                    lambda o: "a.transpose({}, {})".format(*o.pair), check=_check_pair, view=True),
    "permute": Op("a.permute(dims)", 1, "order", lambda a, b, o: a.permute(o.dims),
                  lambda o: f"a.permute({_shape_code(o.dims)})", check=_check_order, view=True),
    "unsqueeze": Op("a.unsqueeze(dim)", 1, "new_dim", lambda a, b, o: a.unsqueeze(o.dim or 0),
                    lambda o: f"a.unsqueeze({o.dim or 0})", check=_check_new_dim, view=True),
    "squeeze": Op("a.squeeze(dim)", 1, "squeeze_dim",
                  lambda a, b, o: a.squeeze() if o.dim is None else a.squeeze(o.dim),
                  lambda o: "a.squeeze()" if o.dim is None else f"a.squeeze({o.dim})", check=_check_some_dim,
                  view=True),
    "index": Op("a[index] (indexing / slicing)", 1, "index", lambda a, b, o: a[parse_index(o.index)],
                lambda o: f"a[{index_text(parse_index(o.index))}]", check=_check_index, view=True),
    "sum": _reduction("sum", torch.sum),
    "mean": _reduction("mean", torch.mean),
    "max": _reduction("max", lambda a, **kw: torch.max(a, **kw).values if kw else torch.max(a), ".values"),
    "argmax": _reduction("argmax", torch.argmax),
    "contiguous": Op("a.contiguous() (returns a itself when a is already contiguous)", 1, "none",
                     lambda a, b, o: a.contiguous(), lambda o: "a.contiguous()", view=True,
                     notes=lambda a, b, o, out: ["a is already contiguous, so .contiguous() hands back a itself "
                                                 "(no copy). Try “a.transpose(dim0, dim1).contiguous()” to see a "
                                                 "real copy."] if a.is_contiguous() else []),
    "transpose_copy": Op("a.transpose(dim0, dim1).contiguous() (a real copy)", 1, "pair",
                         lambda a, b, o: a.transpose(*o.pair).contiguous(),
                         lambda o: "a.transpose({}, {}).contiguous()".format(*o.pair), check=_check_pair, view=True),
}


def _op(op: OpSpec) -> Op:
    if op.op not in OPS:
        raise InputError(f"unknown operation {op.op!r}")
    return OPS[op.op]


def explain_failure(op: OpSpec, a: Tensor, b: Tensor | None, msg: str) -> OpError:
    """PyTorch refused: the op's own explanation, else a dtype one, else PyTorch's words alone."""
    for explain in (_op(op).explain, _explain_dtype):
        err = explain(op, a, b, msg) if explain is not None else None
        if err is not None:
            return err
    return OpError("PyTorch refused this operation", "PyTorch's own message is below.", msg, tuple(a.shape),
                   None if b is None else tuple(b.shape))


def apply_op(a: Tensor, b: Tensor | None, op: OpSpec) -> OpResult:
    """Run `op` on a (and b). Never raises for bad combinations: the error comes back explained."""
    entry = _op(op)
    if entry.arity == 2 and b is None:
        raise InputError(f"{op.op} needs two tensors")
    b = b if entry.arity == 2 else None
    try:
        expr = entry.code(op)
        if entry.check is not None:
            entry.check(a, op)
    except InputError as e:
        title = "Check the index" if entry.args == "index" else "Check the operation's arguments"
        return OpResult(op.op, error=OpError(title, str(e).capitalize() + ".", "", tuple(a.shape),
                                             None if b is None else tuple(b.shape)))
    try:
        out = entry.compute(a, b, op)
    except (RuntimeError, IndexError, ValueError, TypeError) as e:  # NotImplementedError is a RuntimeError
        return OpResult(expr, error=explain_failure(op, a, b, str(e).split("\n")[0]))
    bc = explain_broadcast(tuple(a.shape), tuple(b.shape)) if entry.broadcasts and b is not None else None
    notes = tuple(entry.notes(a, b, op, out)) if entry.notes is not None else ()
    return OpResult(expr, out=out, broadcast=bc, view=view_info(a, out) if entry.view else None, notes=notes)


def tensor_code(a: TensorSpec, b: TensorSpec | None, op: OpSpec) -> str:
    """Self-contained code that builds a (and b), applies `op` and prints what the page shows."""
    entry = _op(op)
    lines = ["import torch", "", f"a = {tensor_expr(a)}"]
    if b is not None and entry.arity == 2:
        lines.append(f"b = {tensor_expr(b)}")
    lines += [f"result = {entry.code(op)}", "print(result.shape, result.dtype, result.stride())", "print(result)"]
    if entry.view:
        lines.append("print('shares memory with a:', "
                     "result.untyped_storage().data_ptr() == a.untyped_storage().data_ptr())")
    return "\n".join(lines) + "\n"


def time_on_devices(a: Tensor, b: Tensor | None, op: OpSpec, repeats: int = 20) -> dict[str, tuple[float, bool]]:
    """Median microseconds of `op` on each available device, and whether the results agree with CPU.

    Only meaningful when CUDA is present; on CPU-only machines it returns the CPU entry alone.
    """
    out: dict[str, tuple[float, bool]] = {}
    ref = apply_op(a, b, op).out
    for dev in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        da, db = a.to(dev), None if b is None else b.to(dev)
        times = []
        res = None
        for _ in range(repeats):
            if dev == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            res = apply_op(da, db, op).out
            if dev == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        times.sort()
        same = res is not None and ref is not None and torch.allclose(res.cpu().to(ref.dtype), ref, equal_nan=True)
        out[dev] = (1e6 * times[len(times) // 2], bool(same))
    return out
