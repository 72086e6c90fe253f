"""Layer shapes: build a stack of layers and watch the shapes flow, or look inside the app's models."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from core import layers as L
from core.figures.layers import shape_flow
from ui import layers as ui

ensure_navigation()
st.title(":material/stacks: Layer shapes")
st.markdown("Stack layers on an input and watch the shape of one sample change after each of them, with "
            "PyTorch's own arithmetic (floor division for convs and pools). Every number below comes from "
            "a real forward pass.")
st.markdown(":material/grid_on: One layer at a time, with where the kernel lands: the [Convolutions page's "
            "sandbox](convolutions) uses the same size formula.")

builder, models = st.tabs(["Layer builder", "ResNet-18"])
with builder:
    stack = ui.stack_editor("ls")
    prop = L.propagate(stack)
    if prop.error is not None:
        err = prop.error
        st.error(f"**Layer {err.index} `{err.layer.code()}` does not fit** its input {err.in_shape}: {err.reason}.\n\n"
                 f"**Fix:** {err.suggestion}.", icon=":material/error:")
        if err.fix is not None and st.button(f"Apply the fix: `{err.fix.code()}`", key="ls_fix"):
            ui.apply_fix("ls", stack, err)
            st.rerun()
        st.caption(f"The table and diagram stop before layer {err.index}.")
    else:
        task = L.fits_task(stack)
        st.success(f"Output per sample: {list(prop.output_shape)}"
                   + (" — fits MNIST: 1×28×28 digits in, 10 class scores out." if not task else ""),
                   icon=":material/check_circle:")
        if task:
            st.caption(f"To train it on MNIST: {task}.")
    labels = [f"{r.index} {r.layer.kind}" for r in prop.rows]
    failed = f"{prop.error.index} {prop.error.layer.kind}" if prop.error else ""
    st.plotly_chart(shape_flow(["input"] + labels, [tuple(stack.input_shape)] + [r.out_shape for r in prop.rows],
                               failed), key="ls_flow")

    text = L.encode(stack)
    batch = int(st.number_input("Batch size for the measurements", 1, 256, 1, key="ls_batch"))
    ui.summary_table(ui.stack_summary(text, batch), max_depth=1)
    if prop.rows:
        pick = st.selectbox("Explain a layer", range(len(prop.rows)), format_func=lambda i: labels[i], key="ls_pick")
        row = prop.rows[pick]
        st.markdown(f"`{row.layer.code()}`: {row.in_shape} → {row.out_shape}")
        st.markdown(f"**Parameters:** {row.param_formula} = **{row.params:,}**" if row.param_formula
                    else "**Parameters:** none — this layer has no weights.")
        if row.size_formula:
            st.markdown(f"**Output size:** `{row.size_formula}`")

    with st.expander("The PyTorch code", icon=":material/code:", expanded=True):
        st.code(L.code(stack), language="python")
        st.caption(f"This page's address holds the stack (`?stack={text}`): a link reproduces it.")
    with st.expander("Module graph", icon=":material/account_tree:"):
        st.graphviz_chart(ui.stack_dot(text))

with models:
    st.markdown("torchvision's ResNet-18 (untrained: the shapes and counts do not depend on the weights). "
                "Its BasicBlocks add the block's input back to its output: the skip connections in the graph.")
    c1, c2, c3, c4 = st.columns(4)
    classes = c1.radio("Classes", [10, 1000], horizontal=True, key="ls_rn_classes")
    side = c2.select_slider("Input side (px)", [32, 64, 128, 224], 64, key="ls_rn_side")
    rn_batch = int(c3.number_input("Batch", 1, 64, 1, key="ls_rn_batch"))
    depth = c4.slider("Unfold containers to depth", 1, 3, 2, key="ls_rn_depth")
    ui.summary_table(ui.resnet_summary(classes, rn_batch, side), max_depth=depth)
    with st.expander("Module graph", icon=":material/account_tree:"):
        st.graphviz_chart(ui.resnet_dot(classes, side))
