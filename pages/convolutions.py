"""Convolutions: CNNDemo's shapes, filters, feature maps, one output value by hand, the size formula, mistakes."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st
from torch import nn

from core.training.config import TrainConfig
from ui import address, conv
from ui.code import training_code_panel
from ui.path import next_step
from ui.predictions import predictions_panel
from ui.training import config_controls, run_overlay, training_panel

K = "conv"  # widget-key prefix of this page

ensure_navigation()
st.title(":material/grid_on: Convolutions")
st.markdown(
    "A convolution slides a small grid of weights (a **kernel**) over the image; at every position it multiplies "
    "the pixels under it by the weights and adds them up. `CNNDemo` stacks two such layers, each followed by "
    "ReLU and a 2×2 max-pool, then two Linear layers. Train it below, then look inside.")

cfg = config_controls("cnn", K)
result = training_panel(cfg, K)
run_overlay(cfg, K)
training_code_panel(cfg)

init = conv.initial_model(cfg.model, cfg.seed)
trained = result[1] if result else None
shown = init if trained is None else trained  # the model the feature maps go through

# Only the open tab runs (its .open is tracked), and the URL remembers it (?conv_tab=Filters).
tab_shape, tab_filters, tab_maps, tab_sandbox, tab_mistakes = address.tabs(
    K, ["Shape flow", "Filters", "Feature maps & arithmetic", "Conv sandbox", "Mistakes"])


def mistakes_tab(cfg: TrainConfig, trained: nn.Module | None) -> None:
    if trained is None:
        st.info("Train the model (or load a stored run) to see where it goes wrong on the test set.")
        return
    predictions_panel(cfg, K, ("mistakes",), model_name="CNN")


for tab, render in ((tab_shape, lambda: conv.shape_flow_tab(cfg.model, K)),
                    (tab_filters, lambda: conv.filters_tab(init, trained, K)),
                    (tab_maps, lambda: conv.feature_maps_tab(shown, trained is not None, K)),
                    (tab_sandbox, lambda: conv.sandbox_tab(K)),
                    (tab_mistakes, lambda: mistakes_tab(cfg, trained))):
    if tab.open is not False:  # None when tabs are not tracked: then every tab runs
        with tab:
            render()

next_step(__file__)
