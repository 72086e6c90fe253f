"""Cached looks inside the app's models (the layer table of a model config)."""
from __future__ import annotations

import streamlit as st
import torch

from core.models.inspection import LayerRow
from core.models.inspection import layer_table as _layer_table
from core.models.registry import ModelConfig, build_model


@st.cache_data(show_spinner=False, max_entries=32)
def layer_table(model: ModelConfig, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """The layer table of a freshly built model (built on the meta device: shapes and counts, no weights)."""
    with torch.device("meta"):
        fresh = build_model(model)
    return _layer_table(fresh, input_shape)
