"""Layer shapes: build a stack of layers and watch the shapes flow, train it, or look inside the app's models."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from core.figures.layers import shape_flow
from core.models import stacks
from core.models.registry import architecture
from ui import address, layers
from ui.code import training_code_panel
from ui.path import next_step
from ui.training import run_overlay, training_panel

K = "ls"  # widget-key prefix of this page

ensure_navigation()
st.title(":material/stacks: Layer shapes")
st.markdown("Stack layers on an input and watch the shape of one sample change after each of them, with "
            "PyTorch's own arithmetic (floor division for convs and pools). Every number below comes from "
            "a real forward pass.")
st.markdown(":material/grid_on: One layer at a time, with where the kernel lands: the [Convolutions page's "
            "sandbox](convolutions) uses the same size formula.")

builder, models = address.tabs(K, ["Layer builder", "The app's models"])
measure = address.Form(address.Address(K, {
    "batch": address.slider("batch", "batch", 1, 256, whole=True),
    "pick": address.slider("layer", "pick", 0, stacks.MAX_LAYERS, whole=True),
    "model": address.choice("model", "model", layers.registry_models()),
    "rn_classes": address.choice("classes", "rn_classes", layers.HEADS, int),
    "rn_side": address.choice("side", "rn_side", sorted({s for v in layers.SIDES.values() for s in v}), int),
    "rn_batch": address.slider("mbatch", "rn_batch", 1, 64, whole=True),
    "rn_depth": address.slider("depth", "rn_depth", 1, 3, whole=True)}))
with builder:
    stack = layers.stack_editor("ls")
    prop = stacks.propagate(stack)
    task = stacks.fits_task(stack)
    if prop.error is not None:
        err = prop.error
        st.error(f"**Layer {err.index} `{err.layer.code()}` does not fit** its input {err.in_shape}: {err.reason}.\n\n"
                 f"**Fix:** {err.suggestion}.", icon=":material/error:")
        if err.fix is not None and st.button(f"Apply the fix: `{err.fix.code()}`", key=f"{K}_fix"):
            layers.apply_fix("ls", stack, err)
            st.rerun()
        st.caption(f"The table and diagram stop before layer {err.index}.")
    else:
        st.success(f"Output per sample: {list(prop.output_shape)}"
                   + (" — fits MNIST: 1×28×28 digits in, 10 class scores out." if not task else ""),
                   icon=":material/check_circle:")
        if task:
            st.caption(f"To train it on MNIST: {task}.")
    labels = [f"{r.index} {r.layer.kind}" for r in prop.rows]
    failed = f"{prop.error.index} {prop.error.layer.kind}" if prop.error else ""
    st.plotly_chart(shape_flow(["input"] + labels, [tuple(stack.input_shape)] + [r.out_shape for r in prop.rows],
                               failed), key=f"{K}_flow")

    text = stacks.encode(stack)
    batch = int(measure.keep("batch", st.number_input("Batch size for the measurements", 1, 256,
                                                      key=measure.key("batch", 1))))
    layers.summary_table(layers.stack_summary(text, batch), max_depth=1)
    if prop.rows:
        pick_key = measure.key("pick", 0)
        if st.session_state[pick_key] >= len(prop.rows):  # a shorter stack than the kept pick
            st.session_state[pick_key] = 0
        pick = measure.keep("pick", st.selectbox("Explain a layer", range(len(prop.rows)),
                                                 format_func=lambda i: labels[i], key=pick_key))
        row = prop.rows[pick]
        st.markdown(f"`{row.layer.code()}`: {row.in_shape} → {row.out_shape}")
        st.markdown(f"**Parameters:** {row.param_formula} = **{row.params:,}**" if row.param_formula
                    else "**Parameters:** none — this layer has no weights.")
        if row.size_formula:
            st.markdown(f"**Output size:** `{row.size_formula}`")

    with st.expander("The PyTorch code", icon=":material/code:", expanded=True):
        st.code(stacks.code(stack), language="python")
        st.caption(f"This page's address holds the stack (`?stack={text}`): a link reproduces it.")
    with st.expander("Module graph", icon=":material/account_tree:"):
        st.graphviz_chart(layers.stack_dot(text))

    built = layers.built_config(text)
    if built is not None:
        st.subheader(":material/model_training: Train this model")
        st.markdown("It fits the digits, so the app's training engine can train it like the Fully connected and "
                    "Convolutions pages' models; the run is stored and listed on the Training runs page.")
        cfg = layers.train_settings(built)
        if training_panel(cfg, key=f"{K}_train") is not None:
            run_overlay(cfg, key=f"{K}_train")  # with the other stacks' stored runs
        training_code_panel(cfg)

with models:
    st.markdown("Every model of the app, measured on a shape-only copy (the shapes and counts do not depend on "
                "the weights). ResNet-18's BasicBlocks add the block's input back to its output: the skip "
                "connections in the graph.")
    c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1.4])
    arch = measure.keep("model", c1.selectbox("Model", layers.registry_models(),
                                              format_func=lambda k: architecture(k).label,
                                              key=measure.key("model", layers.registry_models()[0])))
    entry = architecture(arch)
    spec = layers.registry_spec(arch, text)
    classes = entry.num_classes if entry.spec_error else measure.keep("rn_classes", c2.radio(
        "Classes", layers.HEADS, horizontal=True, key=measure.key("rn_classes", layers.HEADS[0])))
    sides = layers.SIDES.get(arch, ())
    side = measure.keep("rn_side", c3.select_slider("Input side (px)", sides, key=measure.key("rn_side", sides[1]))) \
        if len(sides) > 1 else \
        int(c3.number_input("Input side (px)", value=entry.input_shape[1], disabled=True, key=f"{K}_side_{arch}"))
    rn_batch = int(measure.keep("rn_batch", c4.number_input("Batch", 1, 64, key=measure.key("rn_batch", 1))))
    depth = measure.keep("rn_depth", c5.slider("Unfold containers to depth", 1, 3, key=measure.key("rn_depth", 2)))
    if spec is None:
        st.info(f"Your stack can't be measured as a digit model yet: {task or 'a layer does not fit'}. "
                "Fix it in the Layer builder tab.", icon=":material/info:")
    else:
        st.caption(f"Input: {rn_batch} × {entry.input_shape[0]} × {side} × {side}.")
        layers.summary_table(layers.model_summary(spec, classes, rn_batch, side), max_depth=depth)
        with st.expander("Module graph", icon=":material/account_tree:"):
            st.graphviz_chart(layers.model_dot(spec, classes, side))

measure.mirror()
next_step(__file__)
