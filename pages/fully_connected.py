"""Fully connected network (Net2): train it, watch it learn, look at what it learned."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from core.figures.images import mosaic
from core.fmt import num
from core.models.inspection import top_level
from core.models.registry import architecture
from ui import address
from ui.code import training_code_panel
from ui.inspection import layer_table
from ui.path import next_step, stop_here
from ui.predictions import predictions_panel
from ui.training import config_controls, run_overlay, training_panel

K = "fc"  # widget-key prefix of this page

ensure_navigation()
st.title(":material/hub: Fully connected network")
st.markdown(
    "`Net2` flattens each 28×28 digit into 784 numbers, multiplies them by a weight matrix into "
    "**hidden units**, applies **ReLU**, and maps those to **10 scores (logits)**, one per digit. "
    "Training nudges every weight to lower the cross-entropy loss on batches of digits."
)

cfg = config_controls("net2", key=K)

st.subheader("1 · The shape story")
shape = architecture(cfg.model.arch).input_shape  # (1, 28, 28)
rows = layer_table(cfg.model, (cfg.batch_size, *shape))  # from the live module, B = the batch
flow = " → ".join([f"input (B, {', '.join(map(str, shape))})"] +
                  [f"{r.name} ({', '.join(['B', *map(str, r.output_shape[1:])])})" for r in rows])
st.markdown(f"For a batch of **B** digits: {flow}")
st.dataframe(
    [{"layer": r.name, "type": r.kind, f"output shape (B = {cfg.batch_size})": str(list(r.output_shape)),
      "parameter arithmetic": f"{r.formula} = {num(r.params)}" if r.formula else "no parameters",
      "trainable": r.trainable} for r in rows],
    hide_index=True, width="stretch")
st.caption(f"Total: **{num(sum(r.total_params for r in top_level(rows)))} parameters**, computed from the model's "
           "own tensors.")

st.subheader("2 · Train")
stored = training_panel(cfg, key=K)
training_code_panel(cfg)
if stored is None:
    stop_here(__file__)
run, model = stored
run_overlay(cfg, key=K)

st.subheader("3 · What the network learned")
st.markdown("Each hidden unit of `fc1` has one weight per input pixel: reshaped to 28×28 it shows which strokes "
            "push that unit up (red) or down (blue).")
top = min(64, cfg.model.hidden)
shown = address.Address(K, {"units": address.slider("units", "units", 8, 64, whole=True)})
units_key = shown.controls({"units": min(16, cfg.model.hidden)})["units"]
st.session_state[units_key] = min(st.session_state[units_key], top)  # a smaller network than the kept count
n_units = st.slider("Hidden units to show", 8, top, step=8, key=units_key)
shown.mirror({"units": n_units})
w = run.state["fc1.weight"][:n_units].reshape(-1, *shape[1:]).numpy()  # (n_units, 28, 28)
st.plotly_chart(mosaic(w, 8, titles=[f"unit {i}" for i in range(n_units)], tile_label="unit",
                       colorbar_title="weight"), key=f"{K}_weights")  # hover: tile = unit

predictions_panel(cfg, K, ("samples", "overview"), model_name="network")

next_step(__file__)
