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
from core.lessons.tensor_ops import OPS, Args, OpError, OpResult, OpSpec
from core.lessons.tensor_specs import DTYPES, SOURCES, TensorSpec, build_tensor, describe, parse_index, parse_shape
from ui.errors import show_input_error

BCAST = "bcast"  # widget-key prefix of the broadcasting widget


def tensor_controls(name: str, key: str, default_values: str, default_dtype: str = "int64"
                    ) -> tuple[TensorSpec, torch.Tensor] | None:
    """Source / values / shape / dtype / seed for one tensor -> (spec, tensor), or None after an error message."""
    with st.container(border=True):
        st.markdown(f"**Tensor `{name}`**")
        source = st.radio("Build it from", list(SOURCES), format_func=lambda s: SOURCES[s].label, horizontal=True,
                          key=f"{key}_source")
        c1, c2 = st.columns(2)
        dtype = c2.selectbox("dtype", list(DTYPES), index=list(DTYPES).index(default_dtype), key=f"{key}_dtype")
        values, shape, seed = default_values, "2, 3", 0
        if source == "typed":
            values = c1.text_input("Values (nested lists)", default_values, key=f"{key}_values",
                                   help="Like [[1, 2], [3, 4]]: the nesting gives the shape.")
        else:
            shape = c1.text_input("Shape", "2, 3", key=f"{key}_shape", help="Sizes separated by commas, e.g. 2, 3")
            if source == "random":
                seed = int(c2.number_input("Seed", 0, 9999, 0, key=f"{key}_seed"))
        try:
            spec = TensorSpec(source=source, values=values,
                              shape=parse_shape(shape) if source != "typed" else (), dtype=dtype, seed=seed)
            return spec, build_tensor(spec)
        except InputError as e:
            show_input_error(e, f"Can't build `{name}`")
            return None


def _dim_choice(where, label: str, ndim: int, key: str, default: int | None = 0) -> int | None:
    """A dim selector over the valid dims of an ndim tensor, plus "all" (None)."""
    options: list[int | None] = [None] + list(range(-ndim, ndim))
    index = options.index(default) if default in options else 0
    return where.selectbox(label, options, index=index, key=key,
                           format_func=lambda d: "all" if d is None else str(d))


def _int_dim(c1, c2, op: str, a: torch.Tensor, key: str, extra: int) -> OpSpec:
    top = a.dim() + extra  # cat picks an existing dim (extra 0); stack / unsqueeze one of the result's (extra 1)
    return OpSpec(op=op, dim=int(c1.number_input("dim", -max(top, 1), max(top - 1, 0), 0, key=f"{key}_dim")))


def _reduce_args(c1, c2, op: str, a: torch.Tensor, key: str) -> OpSpec:
    dim = _dim_choice(c1, "Along dim (all = one number)", a.dim(), f"{key}_rdim", default=0 if a.dim() else None)
    keep = c2.checkbox("keepdim", False, key=f"{key}_keepdim") if dim is not None else False
    return OpSpec(op=op, dim=dim, keepdim=keep)


def _shape_args(c1, c2, op: str, a: torch.Tensor, key: str) -> OpSpec:
    text = c1.text_input("New shape", f"{a.numel()}", key=f"{key}_newshape",
                         help="Sizes separated by commas; one of them may be -1 (worked out by PyTorch)")
    return OpSpec(op=op, shape=parse_shape(text))


def _pair_args(c1, c2, op: str, a: torch.Tensor, key: str) -> OpSpec:
    dims = parse_shape(c1.text_input("dim0, dim1", "0, 1", key=f"{key}_transpose_dims"))
    if len(dims) != 2:
        raise InputError("transpose swaps exactly two dimensions: type two numbers like 0, 1")
    return OpSpec(op=op, dims=dims)


def _order_args(c1, c2, op: str, a: torch.Tensor, key: str) -> OpSpec:
    default = ", ".join(str(d) for d in reversed(range(a.dim())))
    return OpSpec(op=op, dims=parse_shape(c1.text_input("New order of dims", default, key=f"{key}_permute_dims")))


def _index_args(c1, c2, op: str, a: torch.Tensor, key: str) -> OpSpec:
    text = c1.text_input("Index inside a[ … ]", "0", key=f"{key}_index",
                         help="Examples: 0 · -1 · 1:, ::2 · :, 0 · ..., 1 · None, :")
    parse_index(text)  # refuse malformed text here, in words, like every other argument
    return OpSpec(op=op, index=text)


# one control set per kind of argument (core/lessons/tensor_ops.Op.args); a new op reuses one of these
ARG_CONTROLS: dict[Args, Callable[..., OpSpec]] = {
    "none": lambda c1, c2, op, a, key: OpSpec(op=op),
    "reduce": _reduce_args,
    "dim": lambda c1, c2, op, a, key: _int_dim(c1, c2, op, a, key, 0),
    "new_dim": lambda c1, c2, op, a, key: _int_dim(c1, c2, op, a, key, 1),
    "squeeze_dim": lambda c1, c2, op, a, key: OpSpec(op=op, dim=_dim_choice(
        c1, "dim (all = remove every size-1 dim)", a.dim(), f"{key}_sdim", default=None)),
    "shape": _shape_args,
    "pair": _pair_args,
    "order": _order_args,
    "index": _index_args,
}


def op_controls(a: torch.Tensor, key: str) -> OpSpec | None:
    """Operation selector and its arguments; None (after an error message) when an argument is malformed."""
    op = st.selectbox("Operation", list(OPS), format_func=lambda o: OPS[o].label, key=f"{key}_op")
    c1, c2 = st.columns(2)
    try:
        return ARG_CONTROLS[OPS[op].args](c1, c2, op, a, key)
    except InputError as e:
        show_input_error(e)
        return None


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

