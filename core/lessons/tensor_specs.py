"""From a learner's choices to a small tensor: parse what was typed, build it, write it as code.

Nothing typed is ever executed: values go through `ast.literal_eval`, indices through `ast.parse`
and a whitelist of node types. Every refusal is an `InputError` in plain words. No Streamlit here.
"""
from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from core.errors import InputError

SourceName = Literal["typed", "random", "arange", "ones", "zeros"]
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "int32": torch.int32,
    "bool": torch.bool,
}
MAX_NUMEL = 4096  # the page builds small tensors to look at, not big ones
MAX_DIMS = 5


@dataclass(frozen=True)
class TensorSpec:
    """How to build one tensor. `values` is used for "typed"; `shape` for the other sources."""

    source: SourceName = "typed"
    values: str = "[[1, 2], [3, 4]]"
    shape: tuple[int, ...] = (2, 2)
    dtype: str = "int64"
    seed: int = 0


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
        raise InputError(f"the shape “{text}” must be whole numbers separated by commas, like 2, 3") from None
    return shape


def check_shape(shape: tuple[int, ...], allow_minus_one: bool = False) -> None:
    if len(shape) > MAX_DIMS:
        raise InputError(f"this page keeps tensors to at most {MAX_DIMS} dimensions (got {len(shape)})")
    if allow_minus_one:
        if sum(1 for s in shape if s == -1) > 1:
            raise InputError(f"only one dimension can be -1 (inferred) in {shape}")
        bad = [s for s in shape if s < -1]
    else:
        bad = [s for s in shape if s < 0]
    if bad:
        raise InputError(f"sizes can't be negative: {shape}")


def parse_values(text: str, dtype: str) -> torch.Tensor:
    """A Python literal of nested lists of numbers -> tensor, e.g. '[[1, 2], [3, 4]]'.

    Parsed with ast.literal_eval (no code runs). Ragged lists, text and empty
    input are refused with a message that says what is wrong.
    """
    if not text.strip():
        raise InputError("type some values, e.g. [[1, 2], [3, 4]]")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InputError(f"“{text.strip()[:60]}” is not a list of numbers; write it like [[1, 2], [3, 4]]") from None

    def check(v: object, depth: int) -> None:
        if depth > MAX_DIMS:
            raise InputError(f"values are nested more than {MAX_DIMS} levels deep")
        if isinstance(v, (list, tuple)):
            for item in v:
                check(item, depth + 1)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"{v!r} is not a number; values must be numbers like 1, -2.5, 3e-2")

    check(value, 0)
    try:
        t = torch.tensor(value, dtype=DTYPES[dtype])
    except (ValueError, TypeError, RuntimeError, OverflowError) as e:
        msg = str(e).split("\n")[0]
        if "sequence" in msg or "expected" in msg:
            raise InputError("every row must have the same length (the rows are ragged): "
                             f"PyTorch says “{msg}”") from None
        raise InputError(f"these values can't become a {dtype} tensor: {msg}") from None
    if t.numel() > MAX_NUMEL:
        raise InputError(f"keep it under {MAX_NUMEL} values (got {t.numel()})")
    return t


def parse_index(text: str) -> tuple:
    """Text inside a[...] -> an index tuple of ints, slices, None and Ellipsis. Nothing is executed."""
    src = text.strip()
    if not src:
        raise InputError("type an index, e.g. 0 or 1, : or :, ::2 or ..., -1")
    try:
        node = ast.parse(f"_[{src}]", mode="eval").body
    except SyntaxError:
        raise InputError(f"“{src}” is not a valid index; try 0, or 1:, or :, -1") from None
    if not isinstance(node, ast.Subscript):  # e.g. "0]+_[1": the text closed the brackets itself
        raise InputError(f"“{src}” is not a valid index; try 0, or 1:, or :, -1")

    def num(n: ast.expr | None) -> int | None:
        if n is None:
            return None
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            v = num(n.operand)
            return None if v is None else -v
        if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool):
            return n.value
        raise InputError(f"“{ast.unparse(n)}” in the index must be a whole number")

    def one(n: ast.expr) -> object:
        if isinstance(n, ast.Slice):
            step = num(n.step)
            if step is not None and step <= 0:
                raise InputError("PyTorch slices need a positive step (a[::-1] is not supported; use torch.flip)")
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


# ---------------------------------------------------------------- sources: how to build, how to write it
@dataclass(frozen=True)
class Source:
    label: str
    build: Callable[[TensorSpec], torch.Tensor]  # the real torch call(s); shape already checked
    code: Callable[[TensorSpec], str]  # Python source that builds exactly the same tensor
    refusal: str = ""  # plain words for a dtype PyTorch can't make this way (added to its own message)


def _dt(spec: TensorSpec) -> torch.dtype:
    return DTYPES[spec.dtype]


def _random(spec: TensorSpec) -> torch.Tensor:
    g = torch.Generator().manual_seed(spec.seed)
    dtype = _dt(spec)
    if dtype.is_floating_point:
        return torch.randn(spec.shape, generator=g, dtype=dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, spec.shape, generator=g).bool()
    return torch.randint(0, 10, spec.shape, generator=g, dtype=dtype)


def _random_code(spec: TensorSpec) -> str:
    g, shape, dt = f"torch.Generator().manual_seed({spec.seed})", repr(tuple(spec.shape)), f"torch.{spec.dtype}"
    if _dt(spec).is_floating_point:
        return f"torch.randn({shape}, generator={g}, dtype={dt})"
    if _dt(spec) == torch.bool:
        return f"torch.randint(0, 2, {shape}, generator={g}).bool()"
    return f"torch.randint(0, 10, {shape}, generator={g}, dtype={dt})"


SOURCES: dict[str, Source] = {
    "typed": Source("type values", lambda s: parse_values(s.values, s.dtype),
                    lambda s: f"torch.tensor({s.values.strip()}, dtype=torch.{s.dtype})"),
    "random": Source("random (seeded)", _random, _random_code),
    "arange": Source("arange",
                     lambda s: torch.arange(math.prod(s.shape), dtype=_dt(s)).reshape(s.shape),
                     lambda s: f"torch.arange({math.prod(s.shape)}, dtype=torch.{s.dtype}).reshape({tuple(s.shape)!r})",
                     refusal="arange counts 0, 1, 2, 3, … but a bool tensor holds only True and False, so there is "
                             "nothing to count with. Choose an int or float dtype for arange, or build a bool "
                             "tensor from ones, zeros, random or typed values"),
    "ones": Source("ones", lambda s: torch.ones(s.shape, dtype=_dt(s)),
                   lambda s: f"torch.ones({tuple(s.shape)!r}, dtype=torch.{s.dtype})"),
    "zeros": Source("zeros", lambda s: torch.zeros(s.shape, dtype=_dt(s)),
                    lambda s: f"torch.zeros({tuple(s.shape)!r}, dtype=torch.{s.dtype})"),
}


def _source(spec: TensorSpec) -> Source:
    if spec.source not in SOURCES:
        raise InputError(f"unknown source {spec.source!r}; choose one of {', '.join(SOURCES)}")
    if spec.dtype not in DTYPES:
        raise InputError(f"unknown dtype {spec.dtype!r}; choose one of {', '.join(DTYPES)}")
    return SOURCES[spec.source]


def build_tensor(spec: TensorSpec) -> torch.Tensor:
    """The tensor a spec describes (CPU). Random tensors use their own seeded Generator."""
    source = _source(spec)
    if spec.source != "typed":
        check_shape(spec.shape)
        n = math.prod(spec.shape)
        if n > MAX_NUMEL:
            raise InputError(f"shape {spec.shape} has {n:,} values; keep it under {MAX_NUMEL}")
    try:
        return source.build(spec)
    except (RuntimeError, TypeError) as e:  # NotImplementedError is a RuntimeError
        msg = str(e).split("\n")[0]
        why = source.refusal or f"{source.label} can't make a {spec.dtype} tensor"
        raise InputError(f"{why} (PyTorch says “{msg}”)") from None


def tensor_expr(spec: TensorSpec) -> str:
    """Python source that builds exactly `build_tensor(spec)`."""
    return _source(spec).code(spec)


def dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def describe(t: torch.Tensor) -> str:
    """'shape (2, 3) · int64 · strides (3, 1) · cpu'"""
    return (f"shape {tuple(t.shape)} · {dtype_name(t)} · strides {tuple(t.stride())} · "
            f"{'contiguous' if t.is_contiguous() else 'not contiguous'} · {t.device}")
