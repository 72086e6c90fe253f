"""Widgets shared by the concept pages (Tensors & autograd, Loss functions, Optimizers).

Each returns a frozen spec from core (or None after showing a plain-words error), so
pages stay a few lines: controls -> core call -> figures. No caching here.
"""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st
import torch

from core.errors import InputError
from core.figures.tensors import tensor_heatmap
from core.lessons.tensor_errors import OpError
from core.lessons.tensor_op_spec import OpSpec
from core.lessons.tensor_ops import OPS, Args, OpResult
from core.lessons.tensor_specs import (
    DTYPES,
    MAX_DIMS,
    SOURCES,
    TensorSpec,
    build_tensor,
    describe,
    parse_index,
    parse_shape,
)
from ui import address
from ui.errors import show_input_error

BCAST = "bcast"  # widget-key prefix of the broadcasting widget


def tensor_controls(name: str, key: str, default_values: str, default_dtype: str = "int64"
                    ) -> tuple[TensorSpec, torch.Tensor] | None:
    """Source / values / shape / dtype / seed for one tensor -> (spec, tensor), or None after an error message.
    Kept in the page address as ?a=..&a_src=.. (ui.address)."""
    f = address.Form(address.Address(key, {
        "source": address.choice(f"{name}_src", "source", list(SOURCES)),
        "dtype": address.choice(f"{name}_dtype", "dtype", list(DTYPES)),
        "values": address.text(name, "values", 400), "shape": address.text(f"{name}_shape", "shape", 40),
        "seed": address.slider(f"{name}_seed", "seed", 0, 9999, whole=True)}))
    with st.container(border=True):
        st.markdown(f"**Tensor `{name}`**")
        source = f.keep("source", st.radio("Build it from", list(SOURCES), format_func=lambda s: SOURCES[s].label,
                                           horizontal=True, key=f.key("source", list(SOURCES)[0])))
        c1, c2 = st.columns(2)
        dtype = f.keep("dtype", c2.selectbox("dtype", list(DTYPES), key=f.key("dtype", default_dtype)))
        values, shape, seed = default_values, "2, 3", 0
        if source == "typed":
            values = f.keep("values", c1.text_input("Values (nested lists)", key=f.key("values", default_values),
                                                    help="Like [[1, 2], [3, 4]]: the nesting gives the shape."))
        else:
            shape = f.keep("shape", c1.text_input("Shape", key=f.key("shape", "2, 3"),
                                                  help="Sizes separated by commas, e.g. 2, 3"))
            if source == "random":
                seed = int(f.keep("seed", c2.number_input("Seed", 0, 9999, key=f.key("seed", 0))))
        f.mirror()
        try:
            spec = TensorSpec(source=source, values=values,
                              shape=parse_shape(shape) if source != "typed" else (), dtype=dtype, seed=seed)
            return spec, build_tensor(spec)
        except InputError as e:
            show_input_error(e, f"Can't build `{name}`")
            return None


def _dims(ndim: int) -> list[int | None]:
    return [None] + list(range(-ndim, ndim))


def _dim_text(d: int | None) -> str:
    return "all" if d is None else str(d)


def _dim_choice(f: address.Form, where, label: str, ndim: int, name: str, default: int | None = 0) -> int | None:
    """A dim selector over the valid dims of an ndim tensor, plus "all" (None)."""
    options = _dims(ndim)
    key = f.key(name, default if default in options else None)
    if st.session_state[key] not in options:  # a tensor with fewer dims than the kept choice
        st.session_state[key] = default if default in options else None
    return f.keep(name, where.selectbox(label, options, key=key, format_func=_dim_text))


def _int_dim(f: address.Form, c1, c2, op: str, a: torch.Tensor, extra: int) -> OpSpec:
    top = a.dim() + extra  # cat picks an existing dim (extra 0); stack / unsqueeze one of the result's (extra 1)
    lo, hi = -max(top, 1), max(top - 1, 0)
    key = f.key("dim", 0)
    st.session_state[key] = min(max(int(st.session_state[key]), lo), hi)  # within this tensor's dims
    return OpSpec(op=op, dim=int(f.keep("dim", c1.number_input("dim", lo, hi, key=key))))


def _reduce_args(f: address.Form, c1, c2, op: str, a: torch.Tensor) -> OpSpec:
    dim = _dim_choice(f, c1, "Along dim (all = one number)", a.dim(), "rdim", default=0 if a.dim() else None)
    keep = f.keep("keepdim", c2.checkbox("keepdim", key=f.key("keepdim", False))) if dim is not None else False
    return OpSpec(op=op, dim=dim, keepdim=bool(keep))


def _text_arg(f: address.Form, name: str, where, label: str, default: str, **kw) -> str:
    return str(f.keep(name, where.text_input(label, key=f.key(name, default), **kw)))


def _shape_args(f: address.Form, c1, c2, op: str, a: torch.Tensor) -> OpSpec:
    return OpSpec(op=op, shape=parse_shape(_text_arg(f, "newshape", c1, "New shape", f"{a.numel()}", help=(
        "Sizes separated by commas; one of them may be -1 (worked out by PyTorch)"))))


def _pair_args(f: address.Form, c1, c2, op: str, a: torch.Tensor) -> OpSpec:
    dims = parse_shape(_text_arg(f, "transpose_dims", c1, "dim0, dim1", "0, 1"))
    if len(dims) != 2:
        raise InputError("transpose swaps exactly two dimensions: type two numbers like 0, 1")
    return OpSpec(op=op, dims=dims)


def _order_args(f: address.Form, c1, c2, op: str, a: torch.Tensor) -> OpSpec:
    default = ", ".join(str(d) for d in reversed(range(a.dim())))
    return OpSpec(op=op, dims=parse_shape(_text_arg(f, "permute_dims", c1, "New order of dims", default)))


def _index_args(f: address.Form, c1, c2, op: str, a: torch.Tensor) -> OpSpec:
    text = _text_arg(f, "index", c1, "Index inside a[ … ]", "0", help="Examples: 0 · -1 · 1:, ::2 · :, 0 · ..., 1 · "
                                                                        "None, :")
    parse_index(text)  # refuse malformed text here, in words, like every other argument
    return OpSpec(op=op, index=text)


# one control set per kind of argument (core/lessons/tensor_ops.Op.args); a new op reuses one of these
ARG_CONTROLS: dict[Args, Callable[..., OpSpec]] = {
    "none": lambda f, c1, c2, op, a: OpSpec(op=op),
    "reduce": _reduce_args,
    "dim": lambda f, c1, c2, op, a: _int_dim(f, c1, c2, op, a, 0),
    "new_dim": lambda f, c1, c2, op, a: _int_dim(f, c1, c2, op, a, 1),
    "squeeze_dim": lambda f, c1, c2, op, a: OpSpec(op=op, dim=_dim_choice(
        f, c1, "dim (all = remove every size-1 dim)", a.dim(), "sdim", default=None)),
    "shape": _shape_args,
    "pair": _pair_args,
    "order": _order_args,
    "index": _index_args,
}


def _op_address(key: str) -> address.Address:
    """The operation and its arguments in the page address (?op=sum&dim=0&keepdim=1 ...)."""
    def dim(raw: str) -> int | None:
        return None if raw == "all" else int(raw)

    every_dim = _dims(MAX_DIMS + 1)
    return address.Address(key, {
        "op": address.choice("op", "op", list(OPS)),
        "rdim": address.Setting("rdim", "rdim", dim, choices=every_dim, text=_dim_text),
        "sdim": address.Setting("sdim", "sdim", dim, choices=every_dim, text=_dim_text),
        "keepdim": address.flag("keepdim", "keepdim"),
        "dim": address.slider("dim", "dim", -MAX_DIMS - 1, MAX_DIMS, whole=True),
        **{name: address.text(url, name, 60) for name, url in (("newshape", "shape"), ("transpose_dims", "pair"),
                                                                ("permute_dims", "order"), ("index", "index"))}})


def op_controls(a: torch.Tensor, key: str) -> OpSpec | None:
    """Operation selector and its arguments; None (after an error message) when an argument is malformed."""
    f = address.Form(_op_address(key))
    op = str(f.keep("op", st.selectbox("Operation", list(OPS), format_func=lambda o: OPS[o].label,
                                       key=f.key("op", list(OPS)[0]))))
    c1, c2 = st.columns(2)
    try:
        return ARG_CONTROLS[OPS[op].args](f, c1, c2, op, a)
    except InputError as e:
        show_input_error(e)
        return None
    finally:
        f.mirror()


def show_tensor(t: torch.Tensor, title: str, key: str) -> None:
    st.plotly_chart(tensor_heatmap(t.detach().cpu().numpy(), f"{title} · shape {tuple(t.shape)}"), key=key)
    st.caption(describe(t))


def show_op_error(err: OpError) -> None:
    shapes = f"a: {list(err.a_shape)}" + ("" if err.b_shape is None else f" · b: {list(err.b_shape)}")
    where = "" if err.bad_dim is None else f" · disagreeing dimension: {err.bad_dim}"
    st.error(f"**{err.title}** ({shapes}{where})\n\n{err.explanation}", icon=":material/extension:")
    if err.torch_message:
        st.caption(f"PyTorch's message: `{err.torch_message}`")


def show_op_result(res: OpResult, a: torch.Tensor, b: torch.Tensor | None) -> None:
    """Broadcasting table, view-vs-copy facts and notes for a successful operation."""
    if res.broadcast is not None:
        rows = {"dim (from the right)": [c.dim for c in res.broadcast.columns],
                "a": ["—" if c.a is None else c.a for c in res.broadcast.columns],
                "b": ["—" if c.b is None else c.b for c in res.broadcast.columns],
                "result": [c.out for c in res.broadcast.columns],
                "what happens": [c.note for c in res.broadcast.columns]}
        st.markdown("**Broadcasting** — shapes are lined up from the right; a missing or size-1 dimension is "
                    "stretched (without copying) to match:")
        st.dataframe({k: [str(v) for v in vals] for k, vals in rows.items()}, hide_index=True)
        views, srcs = dict(zip("ab", torch.broadcast_tensors(a, b))), {"a": a, "b": b}
        stretched = [n for n in "ab" if views[n].shape != srcs[n].shape]
        for col, name in zip(st.columns(2) if stretched else [], stretched):
            with col:
                v = views[name]
                st.plotly_chart(tensor_heatmap(v.numpy(), f"{name} as broadcast: {name}.expand{tuple(v.shape)}"),
                                key=f"{BCAST}_{name}")
                st.caption(f"strides {list(srcs[name].stride())} → {list(v.stride())}: a stride of 0 re-reads "
                           "the same memory, so nothing is copied.")
    if res.view is not None:
        v = res.view
        if v.shares_storage:
            st.info(f"**A view, not a copy**: the result shares `a`'s memory (same `untyped_storage().data_ptr()`), "
                    f"so writing into it changes `a`. Strides {list(v.in_strides)} → {list(v.out_strides)} "
                    f"(elements to skip per step along each dim), storage offset {v.out_offset}. "
                    f"Result {'is' if v.out_contiguous else 'is NOT'} contiguous.", icon=":material/link:")
        else:
            st.info(f"**A copy**: the result has its own memory (different storage). Strides "
                    f"{list(v.in_strides)} → {list(v.out_strides)}.", icon=":material/content_copy:")
    for note in res.notes:
        st.caption(":material/info: " + note)

