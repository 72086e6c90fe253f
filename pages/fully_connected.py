"""Fully connected network (Net2): train it, watch it learn, look at what it learned."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

import numpy as np
import streamlit as st
import torch

from core.codegen import training_code
from core.figures.images import image, mosaic, probability_bars
from core.figures.training import confusion, per_class_bars
from core.fmt import num
from core.inspection import confusion_matrix, per_class_accuracy, top_level
from core.models import architecture
from ui import cache
from ui.code import TRAINING_CAPTION, code_panel
from ui.training import config_controls, run_overlay, training_panel

ensure_navigation()
st.title(":material/hub: Fully connected network")
st.markdown(
    "`Net2` flattens each 28×28 digit into 784 numbers, multiplies them by a weight matrix into "
    "**hidden units**, applies **ReLU**, and maps those to **10 scores (logits)**, one per digit. "
    "Training nudges every weight to lower the cross-entropy loss on batches of digits."
)

cfg = config_controls("net2", key="fc")

st.subheader("1 · The shape story")
shape = architecture(cfg.model.arch).input_shape  # (1, 28, 28)
rows = cache.layer_table(cfg.model, (cfg.batch_size, *shape))  # from the live module, B = the batch
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
stored = training_panel(cfg, key="fc")
code_panel(training_code(cfg), caption=TRAINING_CAPTION)
if stored is None:
    st.stop()
run, model = stored
run_overlay(cfg, key="fc")

st.subheader("3 · What the network learned")
st.markdown("Each hidden unit of `fc1` has one weight per input pixel: reshaped to 28×28 it shows which strokes "
            "push that unit up (red) or down (blue).")
n_units = st.slider("Hidden units to show", 8, min(64, cfg.model.hidden), min(16, cfg.model.hidden), 8, key="fc_units")
w = run.state["fc1.weight"][:n_units].reshape(-1, *shape[1:]).numpy()  # (n_units, 28, 28)
st.plotly_chart(mosaic(w, 8, titles=[f"unit {i}" for i in range(n_units)], tile_label="unit",
                       colorbar_title="weight"), key="fc_weights")  # hover: tile = unit

probs = cache.test_probabilities(cfg)  # (N, 10)
labels = cache.mnist().test.labels.numpy()
images = cache.mnist().test.images.numpy()
pred = probs.argmax(1)
st.markdown(f"**Predictions on test digits** — {int((pred == labels).sum()):,} of {len(labels):,} correct.")
show = st.radio("Show", ["random digits", "mistakes only"], horizontal=True, key="fc_show")
pool = np.flatnonzero(pred != labels) if show == "mistakes only" else np.arange(len(labels))
pick_seed = st.number_input("Which digits (change to draw another four)", 0, 9999, 0, key="fc_pick")
chosen = np.random.default_rng(int(pick_seed)).choice(pool, size=min(4, len(pool)), replace=False) if len(pool) else []
for col, i in zip(st.columns(4), chosen):
    col.plotly_chart(image(images[i], f"true {labels[i]} · predicted {pred[i]}", 160), key=f"fc_digit_{i}")
    col.plotly_chart(probability_bars(probs[i], true_label=int(labels[i])), key=f"fc_probs_{i}")
st.caption("Bars: softmax of the 10 logits, as probabilities. Orange = the predicted class; green outline = the true "
           "class (the same colours on every page).")

cm = confusion_matrix(torch.from_numpy(labels), torch.from_numpy(pred))
left, right = st.columns(2)
left.plotly_chart(confusion(cm.numpy()), key="fc_cm")
right.plotly_chart(per_class_bars(per_class_accuracy(cm).numpy()), key="fc_pca")
