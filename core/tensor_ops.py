"""Build small tensors from a learner's choices, apply one operation, and explain what happened.

Everything shown on the Tensors page comes from here and is computed by PyTorch:
the result, its shape / dtype / strides, whether it is a view sharing storage with
its input, how two shapes broadcast (aligned from the right), and, when the
operation fails, which dimension disagrees (in the spirit of tensor-sensor).
No Streamlit here.
"""
from __future__ import annotations

import ast
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import torch

Source = Literal["typed", "random", "arange", "ones", "zeros"]
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "int32": torch.int32,
    "bool": torch.bool,
}
MAX_NUMEL = 4096  # the page builds small tensors to look at, not big ones
MAX_DIMS = 5

# op name -> (label, needs two tensors)
OPS: dict[str, tuple[str, bool]] = {
    "add": ("a + b (element-wise, broadcasts)", True),
    "sub": ("a - b (element-wise, broadcasts)", True),
    "mul": ("a * b (element-wise, broadcasts)", True),
    "div": ("a / b (element-wise, broadcasts)", True),
    "matmul": ("a @ b (matrix multiply)", True),
    "cat": ("torch.cat([a, b], dim)", True),
    "stack": ("torch.stack([a, b], dim)", True),
    "reshape": ("a.reshape(shape)", False),
    "view": ("a.view(shape)", False),
    "transpose": ("a.transpose(dim0, dim1)", False),
    "permute": ("a.permute(dims)", False),
    "unsqueeze": ("a.unsqueeze(dim)", False),
    "squeeze": ("a.squeeze(dim)", False),
    "index": ("a[index] (indexing / slicing)", False),
    "sum": ("a.sum(dim)", False),
    "mean": ("a.mean(dim)", False),
    "max": ("a.max(dim)", False),
    "argmax": ("a.argmax(dim)", False),
    "contiguous": ("a.contiguous() (returns a itself when a is already contiguous)", False),
    "transpose_copy": ("a.transpose(dim0, dim1).contiguous() (a real copy)", False),
}
REDUCTIONS = ("sum", "mean", "max", "argmax")
VIEW_OPS = ("reshape", "view", "transpose", "permute", "unsqueeze", "squeeze", "index", "contiguous",
            "transpose_copy")  # results compared with a's storage: view or copy?


class TensorInputError(ValueError):
    """Something the learner typed can't become a tensor or an operation; the message says why."""


# ---------------------------------------------------------------- specs
@dataclass(frozen=True)
class TensorSpec:
    """How to build one tensor. `values` is used for "typed"; `shape` for the other sources."""

    source: Source = "typed"
    values: str = "[[1, 2], [3, 4]]"
    shape: tuple[int, ...] = (2, 2)
    dtype: str = "int64"
    seed: int = 0


@dataclass(frozen=True)
class OpSpec:
    """One operation and its arguments (only those the op uses matter)."""

    op: str = "add"
    dim: int | None = None  # reductions / cat / stack / unsqueeze / squeeze; None = all dims (reductions)
    shape: tuple[int, ...] = (4,)  # reshape / view target (may hold one -1)
    dims: tuple[int, ...] = (1, 0)  # permute order, or transpose's (dim0, dim1)
    index: str = "0"  # text inside a[...]
    keepdim: bool = False


# ---------------------------------------------------------------- parsing
def parse_shape(text: str) -> tuple[int, ...]:
    """'2, 3' or '(2, 3)' or '[2,3]' -> (2, 3). '' or '()' -> () (a 0-d tensor)."""
    t = text.strip().strip("()[]").strip()
    if not t:
        return ()
    parts = [p.strip() for p in t.split(",") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise TensorInputError(f"the shape “{text}” must be whole numbers separated by commas, like 2, 3") from None
    return shape


def _check_shape(shape: tuple[int, ...], allow_minus_one: bool = False) -> None:
    if len(shape) > MAX_DIMS:
        raise TensorInputError(f"this page keeps tensors to at most {MAX_DIMS} dimensions (got {len(shape)})")
    if allow_minus_one:
        if sum(1 for s in shape if s == -1) > 1:
            raise TensorInputError(f"only one dimension can be -1 (inferred) in {shape}")
        bad = [s for s in shape if s < -1]
    else:
        bad = [s for s in shape if s < 0]
    if bad:
        raise TensorInputError(f"sizes can't be negative: {shape}")


def parse_values(text: str, dtype: str) -> torch.Tensor:
    """A Python literal of nested lists of numbers -> tensor, e.g. '[[1, 2], [3, 4]]'.

    Parsed with ast.literal_eval (no code runs). Ragged lists, text and empty
    input are refused with a message that says what is wrong.
    """
    if not text.strip():
        raise TensorInputError("type some values, e.g. [[1, 2], [3, 4]]")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise TensorInputError(
            f"“{text.strip()[:60]}” is not a list of numbers; write it like [[1, 2], [3, 4]]") from None

    def check(v: object, depth: int) -> None:
        if depth > MAX_DIMS:
            raise TensorInputError(f"values are nested more than {MAX_DIMS} levels deep")
        if isinstance(v, (list, tuple)):
            for item in v:
                check(item, depth + 1)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TensorInputError(f"{v!r} is not a number; values must be numbers like 1, -2.5, 3e-2")

    check(value, 0)
    try:
        t = torch.tensor(value, dtype=DTYPES[dtype])
    except (ValueError, TypeError, RuntimeError, OverflowError) as e:
        msg = str(e).split("\n")[0]
        if "sequence" in msg or "expected" in msg:
            raise TensorInputError("every row must have the same length (the rows are ragged): "
                                   f"PyTorch says “{msg}”") from None
        raise TensorInputError(f"these values can't become a {dtype} tensor: {msg}") from None
    if t.numel() > MAX_NUMEL:
        raise TensorInputError(f"keep it under {MAX_NUMEL} values (got {t.numel()})")
    return t


def parse_index(text: str) -> tuple:
    """Text inside a[...] -> an index tuple of ints, slices, None and Ellipsis. Nothing is executed."""
    src = text.strip()
    if not src:
        raise TensorInputError("type an index, e.g. 0 or 1, : or :, ::2 or ..., -1")
    try:
        node = ast.parse(f"_[{src}]", mode="eval").body
    except SyntaxError:
        raise TensorInputError(f"“{src}” is not a valid index; try 0, or 1:, or :, -1") from None
    assert isinstance(node, ast.Subscript)

    def num(n: ast.expr | None) -> int | None:
        if n is None:
            return None
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            v = num(n.operand)
            return None if v is None else -v
        if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool):
            return n.value
        raise TensorInputError(f"“{ast.unparse(n)}” in the index must be a whole number")

    def one(n: ast.expr) -> object:
        if isinstance(n, ast.Slice):
            step = num(n.step)
            if step is not None and step <= 0:
                raise TensorInputError("PyTorch slices need a positive step (a[::-1] is not supported; "
                                       "use torch.flip)")
            return slice(num(n.lower), num(n.upper), step)
        if isinstance(n, ast.Constant) and n.value is Ellipsis:
            return Ellipsis
        if isinstance(n, ast.Constant) and n.value is None:
            return None
        return num(n)

    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return tuple(one(p) for p in parts)


def index_text(idx: tuple) -> str:
    """The canonical source text of an index tuple, for code panels."""
    def one(p: object) -> str:
        if p is Ellipsis:
            return "..."
        if p is None:
            return "None"
        if isinstance(p, slice):
            s = f"{'' if p.start is None else p.start}:{'' if p.stop is None else p.stop}"
            return s + (f":{p.step}" if p.step is not None else "")
        return str(p)
    return ", ".join(one(p) for p in idx)


# ---------------------------------------------------------------- building
def build_tensor(spec: TensorSpec) -> torch.Tensor:
    """The tensor a spec describes (CPU). Random tensors use their own seeded Generator."""
    if spec.dtype not in DTYPES:
        raise TensorInputError(f"unknown dtype {spec.dtype!r}; choose one of {', '.join(DTYPES)}")
    dtype = DTYPES[spec.dtype]
    if spec.source == "typed":
        return parse_values(spec.values, spec.dtype)
    _check_shape(spec.shape)
    n = math.prod(spec.shape)
    if n > MAX_NUMEL:
        raise TensorInputError(f"shape {spec.shape} has {n:,} values; keep it under {MAX_NUMEL}")
    if spec.source == "zeros":
        return torch.zeros(spec.shape, dtype=dtype)
    if spec.source == "ones":
        return torch.ones(spec.shape, dtype=dtype)
    if spec.source == "arange":
        return torch.arange(n, dtype=dtype).reshape(spec.shape)
    if spec.source == "random":
        g = torch.Generator().manual_seed(spec.seed)
        if dtype.is_floating_point:
            return torch.randn(spec.shape, generator=g, dtype=dtype)
        if dtype == torch.bool:
            return torch.randint(0, 2, spec.shape, generator=g).bool()
        return torch.randint(0, 10, spec.shape, generator=g, dtype=dtype)
    raise TensorInputError(f"unknown source {spec.source!r}")


def tensor_expr(spec: TensorSpec) -> str:
    """Python source that builds exactly `build_tensor(spec)`."""
    dt = f"torch.{spec.dtype}"
    shape = repr(tuple(spec.shape))
    if spec.source == "typed":
        return f"torch.tensor({spec.values.strip()}, dtype={dt})"
    if spec.source == "zeros":
        return f"torch.zeros({shape}, dtype={dt})"
    if spec.source == "ones":
        return f"torch.ones({shape}, dtype={dt})"
    if spec.source == "arange":
        return f"torch.arange({math.prod(spec.shape)}, dtype={dt}).reshape({shape})"
    g = f"torch.Generator().manual_seed({spec.seed})"
    if DTYPES[spec.dtype].is_floating_point:
        return f"torch.randn({shape}, generator={g}, dtype={dt})"
    if spec.dtype == "bool":
        return f"torch.randint(0, 2, {shape}, generator={g}).bool()"
    return f"torch.randint(0, 10, {shape}, generator={g}, dtype={dt})"


# ---------------------------------------------------------------- explanations
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


@dataclass(frozen=True)
class ViewInfo:
    """Is the result a view of `a` (same memory) or a copy? Measured with untyped_storage().data_ptr()."""

    shares_storage: bool
    in_strides: tuple[int, ...]
    out_strides: tuple[int, ...]
    in_contiguous: bool
    out_contiguous: bool
    out_offset: int  # storage_offset() of the result, in elements


def view_info(a: torch.Tensor, out: torch.Tensor) -> ViewInfo:
    shares = out.untyped_storage().data_ptr() == a.untyped_storage().data_ptr()
    return ViewInfo(shares, tuple(a.stride()), tuple(out.stride()), a.is_contiguous(), out.is_contiguous(),
                    int(out.storage_offset()))


@dataclass(frozen=True)
class OpError:
    """A failed operation, explained: PyTorch's own message plus which dimension disagrees."""

    title: str
    explanation: str
    torch_message: str
    a_shape: tuple[int, ...]
    b_shape: tuple[int, ...] | None = None
    bad_dim: int | None = None  # the offending dim (negative = from the right) when one can be named


@dataclass(frozen=True)
class OpResult:
    expr: str  # the PyTorch expression applied, e.g. "a @ b"
    out: torch.Tensor | None = None
    error: OpError | None = None
    broadcast: BroadcastInfo | None = None
    view: ViewInfo | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _norm_dim(dim: int, ndim: int, name: str = "dim") -> int:
    if not -ndim <= dim < max(ndim, 1):
        raise TensorInputError(f"{name} {dim} is out of range for a {ndim}-dimensional tensor "
                               f"(valid: {-ndim} … {ndim - 1})")
    return dim % ndim if ndim else 0


def op_expr(op: OpSpec) -> str:
    """The Python expression for `op` applied to tensors named a and b."""
    o = op.op
    dim_kw = "" if op.dim is None else f"dim={op.dim}"
    keep = ", keepdim=True" if op.keepdim and op.dim is not None else ""
    if o in ("add", "sub", "mul", "div"):
        return "a " + {"add": "+", "sub": "-", "mul": "*", "div": "/"}[o] + " b"
    if o == "matmul":
        return "a @ b"
    if o in ("cat", "stack"):
        return f"torch.{o}([a, b], dim={op.dim or 0})"
    if o in ("reshape", "view"):
        return f"a.{o}({', '.join(map(str, op.shape)) if op.shape else '()'})"
    if o == "transpose":
        d0, d1 = (list(op.dims) + [0, 1])[:2]
        return f"a.transpose({d0}, {d1})"
    if o == "permute":
        return f"a.permute({', '.join(map(str, op.dims))})"
    if o == "unsqueeze":
        return f"a.unsqueeze({op.dim or 0})"
    if o == "squeeze":
        return "a.squeeze()" if op.dim is None else f"a.squeeze({op.dim})"
    if o == "index":
        return f"a[{index_text(parse_index(op.index))}]"
    if o in ("sum", "mean", "argmax"):
        return f"a.{o}({dim_kw}{keep})"
    if o == "max":
        return "a.max()" if op.dim is None else f"a.max(dim={op.dim}{keep}).values"
    if o == "contiguous":
        return "a.contiguous()"
    if o == "transpose_copy":
        d0, d1 = (list(op.dims) + [0, 1])[:2]
        return f"a.transpose({d0}, {d1}).contiguous()"
    raise TensorInputError(f"unknown operation {o!r}")


def _explain_failure(op: OpSpec, a: torch.Tensor, b: torch.Tensor | None, msg: str) -> OpError:
    sa = tuple(a.shape)
    sb = None if b is None else tuple(b.shape)
    o = op.op
    if o in ("add", "sub", "mul", "div") and sb is not None:
        info = explain_broadcast(sa, sb)
        bad = next((c for c in info.columns if c.note == "MISMATCH"), None)
        if bad is not None:
            return OpError(
                "These shapes don't broadcast",
                f"Aligned from the right, dimension {bad.dim} (counting from the right) has size {bad.a} in a "
                f"and {bad.b} in b. Broadcasting can only stretch a dimension of size 1 (or a missing one), "
                f"so {bad.a} and {bad.b} can't be matched. Make one of them 1 (e.g. with unsqueeze or a slice), "
                f"or make them equal.", msg, sa, sb, bad.dim)
    if o == "matmul" and sb is not None:
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
                f"They must be equal: a is {list(sa)}, b is {list(sb)}. Try b.T, or a with {k_b} columns.",
                msg, sa, sb, -1)
        if len(sa) > 2 and len(sb) > 2:
            info = explain_broadcast(sa[:-2], sb[:-2])
            bad = next((c for c in info.columns if c.note == "MISMATCH"), None)
            if bad is not None:
                return OpError(
                    "The batch dimensions of a @ b don't broadcast",
                    f"Besides the two matrix dimensions, the leading (batch) dimensions must broadcast: "
                    f"batch dimension {bad.dim - 2} has size {bad.a} in a and {bad.b} in b.",
                    msg, sa, sb, bad.dim - 2)
    if o in ("cat", "stack") and sb is not None:
        if o == "stack" and sa != sb:
            diff = [i for i in range(max(len(sa), len(sb)))
                    if i >= len(sa) or i >= len(sb) or sa[i] != sb[i]]
            return OpError("torch.stack needs tensors of the same shape",
                           f"stack puts a and b side by side along a NEW dimension, so they must have the same "
                           f"shape; a is {list(sa)} and b is {list(sb)} (they differ at dimension {diff[0]}). "
                           f"torch.cat joins along an EXISTING dimension and only needs the other sizes equal.",
                           msg, sa, sb, diff[0])
        if o == "cat":
            if len(sa) != len(sb):
                return OpError("torch.cat needs tensors with the same number of dimensions",
                               f"a has {len(sa)} dimensions and b has {len(sb)}. Use unsqueeze to add one.",
                               msg, sa, sb)
            d = (op.dim or 0) % max(len(sa), 1)
            diff = [i for i in range(len(sa)) if i != d and sa[i] != sb[i]]
            if diff:
                return OpError("torch.cat: sizes differ outside the joining dimension",
                               f"cat joins along dimension {d}, so every other dimension must match; "
                               f"dimension {diff[0]} is {sa[diff[0]]} in a and {sb[diff[0]]} in b.",
                               msg, sa, sb, diff[0])
    if o in ("reshape", "view"):
        n = a.numel()
        target = op.shape
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
    if o in ("mean",) and not a.dtype.is_floating_point:
        return OpError("mean needs a floating-point tensor",
                       f"a is {str(a.dtype).replace('torch.', '')}; an average of integers is usually not an "
                       f"integer. Choose float32, or write a.float().mean().", msg, sa)
    return OpError("PyTorch refused this operation", "PyTorch's own message is below.", msg, sa, sb)


def apply_op(a: torch.Tensor, b: torch.Tensor | None, op: OpSpec) -> OpResult:
    """Run `op` on a (and b). Never raises for bad combinations: the error comes back explained."""
    if op.op not in OPS:
        raise TensorInputError(f"unknown operation {op.op!r}")
    if OPS[op.op][1] and b is None:
        raise TensorInputError(f"{op.op} needs two tensors")
    notes: list[str] = []
    try:
        expr = op_expr(op)
        if op.op in ("unsqueeze",):
            _norm_dim(op.dim or 0, a.dim() + 1)
        elif op.op in ("squeeze", "sum", "mean", "max", "argmax") and op.dim is not None:
            if a.dim() == 0:
                raise TensorInputError("a is a single number (0-d): it has no dimension to pick")
            _norm_dim(op.dim, a.dim())
        elif op.op in ("transpose", "transpose_copy"):
            if a.dim() < 1:
                raise TensorInputError("transpose needs a tensor with at least one dimension")
            for d in op.dims[:2]:
                _norm_dim(d, a.dim())
        elif op.op == "permute":
            if sorted(d % max(a.dim(), 1) for d in op.dims) != list(range(a.dim())) or len(op.dims) != a.dim():
                raise TensorInputError(f"permute needs each of the {a.dim()} dimensions exactly once, e.g. "
                                       f"{', '.join(map(str, reversed(range(a.dim()))))}; got {op.dims}")
        elif op.op in ("reshape", "view"):
            _check_shape(op.shape, allow_minus_one=True)
        elif op.op == "stack":
            _norm_dim(op.dim or 0, a.dim() + 1)
        elif op.op == "cat":
            if a.dim() == 0:
                raise TensorInputError("torch.cat can't join 0-d tensors (single numbers); use torch.stack")
            _norm_dim(op.dim or 0, a.dim())
    except TensorInputError as e:
        return OpResult(op.op, error=OpError("Check the operation's arguments", str(e).capitalize() + ".", "",
                                             tuple(a.shape), None if b is None else tuple(b.shape)))
    env = {"torch": torch, "a": a, "b": b}
    try:
        if op.op == "index":
            out = a[parse_index(op.index)]
        else:
            out = eval(expr, {"__builtins__": {}}, env)  # noqa: S307 - expr is built by op_expr, not typed
    except TensorInputError as e:
        return OpResult(expr, error=OpError("Check the index", str(e).capitalize() + ".", "", tuple(a.shape)))
    except (RuntimeError, IndexError, ValueError, TypeError) as e:
        return OpResult(expr, error=_explain_failure(op, a, b, str(e).split("\n")[0]))
    bc = None
    if op.op in ("add", "sub", "mul", "div"):
        bc = explain_broadcast(tuple(a.shape), tuple(b.shape))  # type: ignore[union-attr]
        if op.op == "div" and not a.dtype.is_floating_point and not b.dtype.is_floating_point:  # type: ignore
            notes.append("`/` is true division: two integer tensors give a float result "
                         "(use `//` or torch.div(..., rounding_mode='floor') for integer division).")
    if op.op in ("add", "sub", "mul", "div", "matmul") and a.dtype != b.dtype:  # type: ignore[union-attr]
        notes.append(f"a is {_dt(a)} and b is {_dt(b)}: PyTorch promotes both to {_dt(out)}.")  # type: ignore
    if op.op == "cat":
        notes.append("cat joins along an existing dimension: that dimension grows, the rank stays "
                     f"{a.dim()}. stack would add a new dimension instead.")
    if op.op == "stack":
        notes.append(f"stack adds a new dimension {op.dim or 0} of size 2 (one slot per tensor): rank "
                     f"{a.dim()} → {out.dim()}. cat would join along an existing dimension.")
    if op.op == "contiguous" and a.is_contiguous():
        notes.append("a is already contiguous, so .contiguous() hands back a itself (no copy). Try "
                     "“a.transpose(dim0, dim1).contiguous()” to see a real copy.")
    vi = view_info(a, out) if op.op in VIEW_OPS else None
    return OpResult(expr, out=out, broadcast=bc, view=vi, notes=tuple(notes))


def _dt(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def describe(t: torch.Tensor) -> str:
    """'shape (2, 3) · int64 · strides (3, 1) · cpu'"""
    return (f"shape {tuple(t.shape)} · {_dt(t)} · strides {tuple(t.stride())} · "
            f"{'contiguous' if t.is_contiguous() else 'not contiguous'} · {t.device}")


def time_on_devices(a: torch.Tensor, b: torch.Tensor | None, op: OpSpec, repeats: int = 20
                    ) -> dict[str, tuple[float, bool]]:
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
