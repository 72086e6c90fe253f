"""Tensors & autograd: build tensors, apply one operation, see shapes/strides/broadcasting; then a tiny
autograd graph whose gradients are checked against the hand-derived formula. All numbers from PyTorch."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st
import torch

from core.errors import InputError
from core.figures.tensors import autograd_graph
from core.lessons.autograd import AutogradInputs, autograd_code, run_autograd
from core.lessons.tensor_ops import OPS, apply_op, tensor_code, time_on_devices
from ui import address
from ui.code import code_panel
from ui.concept_widgets import op_controls, show_op_error, show_op_result, show_tensor, tensor_controls
from ui.errors import show_input_error
from ui.path import next_step

AG = "ag"  # widget-key prefix of the autograd section

ensure_navigation()
st.title(":material/data_array: Tensors & autograd")
cuda = torch.cuda.is_available()
st.caption(f"Every value below is computed by PyTorch {torch.__version__} as you change the controls. "
           f"Tensors live on **{'CPU (CUDA is available: timings for both are shown)' if cuda else 'CPU'}**.")
tab_ops, tab_grad = address.tabs(AG, ["Tensors and operations", "Autograd: a computation graph"])


@st.fragment
def tensor_ops_view() -> None:
    left, right = st.columns([1, 2])
    with left:
        built_a = tensor_controls("a", "ta", "[[1, 2], [3, 4]]")
        built_b = tensor_controls("b", "tb", "[10, 20]")
        op = op_controls(built_a[1], "top") if built_a else None
    with right:
        if built_a is None or op is None:
            st.info("Fix the input on the left to see the result.")
            return
        spec_a, a = built_a
        two = OPS[op.op].arity == 2
        if two and built_b is None:
            st.info(f"`{op.op}` needs tensor b: fix it on the left.")
            return
        b = built_b[1] if two and built_b else None
        res = apply_op(a, b, op)
        cols = st.columns(3 if two else 2)
        with cols[0]:
            show_tensor(a, "a", "t_a")
        if two:
            with cols[1]:
                show_tensor(b, "b", "t_b")
        with cols[-1]:
            if res.out is not None:
                show_tensor(res.out, f"result = {res.expr}", "t_out")
            else:
                st.markdown(f"**result = `{res.expr}`**")
                st.markdown(":material/block: no result")
        if res.error is not None:
            show_op_error(res.error)
        else:
            show_op_result(res, a, b)
            if cuda:
                timings = time_on_devices(a, b, op)
                st.dataframe({"device": list(timings), "median time (µs)": [round(t, 1) for t, _ in timings.values()],
                              "same result as CPU": [s for _, s in timings.values()]}, hide_index=True)
        try:
            code_panel(tensor_code(spec_a, built_b[0] if two and built_b else None, op))
        except InputError as e:  # only reachable with arguments op_controls already refused
            show_input_error(e, "No code for these settings")


@st.fragment
def autograd_view() -> None:
    st.markdown(r"A one-input linear model and its squared error: $y = w\,x + b$, $\;\text{loss} = (y - t)^2$. "
                "`w` and `b` are leaf tensors with `requires_grad=True`; `x` and `t` are plain inputs.")
    c = st.columns(4)
    here = address.Address(AG, {n: address.slider(f"g{n}", n, -3.0, 3.0) for n in "wxbt"})  # ?gw=2: b is a tensor
    w = here.controls({"w": 2.0, "x": 1.5, "b": 0.5, "t": 1.0})
    inp = AutogradInputs(w=c[0].slider("w (weight)", -3.0, 3.0, step=0.1, key=w["w"]),
                         x=c[1].slider("x (input)", -3.0, 3.0, step=0.1, key=w["x"]),
                         b=c[2].slider("b (bias)", -3.0, 3.0, step=0.1, key=w["b"]),
                         t=c[3].slider("t (target)", -3.0, 3.0, step=0.1, key=w["t"]))
    here.mirror({"w": inp.w, "x": inp.x, "b": inp.b, "t": inp.t})
    try:
        r = run_autograd(inp)
    except InputError as e:
        show_input_error(e, "Can't build the graph")
        return
    st.plotly_chart(autograd_graph(r.nodes, r.edges), key=f"{AG}_graph")
    m = st.columns(4)
    m[0].metric("y = w·x + b", f"{r.y:.4g}")
    m[1].metric("loss = (y − t)²", f"{r.loss:.4g}")
    m[2].metric("w.grad (autograd)", f"{r.grad_w:.6g}", help="from loss.backward()")
    m[3].metric("b.grad (autograd)", f"{r.grad_b:.6g}", help="from loss.backward()")
    st.markdown(rf"By hand (chain rule): $\dfrac{{\partial\,\text{{loss}}}}{{\partial w}} = 2(y - t)\,x = "
                rf"2({r.y:.4g} - {inp.t:g})\cdot {inp.x:g} = {r.hand_grad_w:.6g}$ and "
                rf"$\dfrac{{\partial\,\text{{loss}}}}{{\partial b}} = 2(y - t) = {r.hand_grad_b:.6g}$.")
    if r.matches:
        st.success("autograd's gradients equal the hand-derived formulas.", icon=":material/check_circle:")
    else:
        st.error(f"Mismatch: autograd {r.grad_w}, {r.grad_b} vs formula {r.hand_grad_w}, {r.hand_grad_b}.")
    st.caption("Backward starts at the loss with gradient 1 and walks the graph right → left: each `…Backward0` "
               "node multiplies by its local derivative; `AccumulateGrad` stores the result in the leaf's `.grad`. "
               "The gradient shown on each node is ∂loss/∂(that value), kept with `retain_grad()`.")
    code_panel(autograd_code(inp))


with tab_ops:
    tensor_ops_view()
with tab_grad:
    autograd_view()

next_step(__file__)
