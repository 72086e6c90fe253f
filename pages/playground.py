"""Playground: watch a real PyTorch network learn a 2-D decision boundary, neuron by neuron (TensorFlow
Playground's whole control table, in torch modules, autograd and torch.optim)."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from ui import playground, playground_board
from ui.path import next_step

ensure_navigation()
st.title(":material/scatter_plot: Playground")
st.markdown("TensorFlow Playground in real PyTorch: a small `nn.Sequential` learns to tell two kinds of points apart "
            "(or to predict a value) from their coordinates x₁, x₂. Press **Play** and watch the boundary bend while "
            "every neuron shows what it computes over the plane.")

top = st.container()
left, right = st.columns([1, 3.4], gap="medium")
cfg = playground.controls(top, left)
pg = playground.network(cfg)
with right:
    playground_board.board(pg)
st.caption("How it learns, as in TensorFlow Playground: weights start uniform in [−0.5, 0.5), biases at 0.1; each "
           "epoch visits every training point once, in batches, in a new order; the output goes through tanh, labels "
           "are ±1, and the loss is ½·mean((output − label)²) (regression: the value itself, no tanh). Choose "
           "cross-entropy under *Loss* for the usual PyTorch classifier. The losses shown are on all training and all "
           "test points, without the regularization penalty.")

st.subheader("What to try")
st.markdown("The classic lessons of TensorFlow Playground, one click each (the settings go into the controls; "
            "then press **Play**):")
playground.what_to_try()

next_step(__file__)
