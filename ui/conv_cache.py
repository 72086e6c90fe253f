"""Caches for the Convolutions and Draw-a-digit pages (the only st.cache_* calls those pages use).

Same rules as ui/cache.py: keys are frozen configs, cached models are read-only (eval mode,
requires_grad off) and shared by every session.
"""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from core.config import ModelConfig, TrainConfig
from core.conv import Stage, initial_model as _initial_model, shape_stages as _shape_stages
from core.inspect import predict_proba
from ui import cache


@st.cache_resource(show_spinner=False, max_entries=8)
def initial_model(model: ModelConfig, seed: int) -> torch.nn.Sequential:
    """The weights a run with this seed starts from: build_model(cfg, Generator().manual_seed(seed))."""
    return _initial_model(model, seed).to(cache.device())


@st.cache_data(show_spinner=False, max_entries=16)
def shape_stages(model: ModelConfig) -> list[Stage]:
    return _shape_stages(_initial_model(model, 0))


@st.cache_data(show_spinner="Classifying the test set…", max_entries=16)
def test_probabilities(cfg: TrainConfig) -> np.ndarray | None:
    """(N, 10) float32 softmax probabilities of the stored run for `cfg` on the test split, or None."""
    stored = cache.stored_run(cfg)
    if stored is None:
        return None
    x, _ = cache.test_inputs(cfg.data_source)
    return predict_proba(stored[1], x).numpy().astype(np.float32)
