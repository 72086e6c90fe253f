"""Cached calls of the Transfer learning page. Keys are frozen configs and small values, never tensors.

Models built here are private to the cache and never trained in place: the frozen/trainable map works on
a copy with the strategy applied, and training builds its own model from the config.
"""
from __future__ import annotations

import copy

import streamlit as st
import torch

from core.cifar import load_cifar10
from core.config import TransferConfig
from core.data import load_sample
from core.pretrained import load_imagenet_weights
from core.record import Run
from core.transfer import (
    ImageTask,
    LayerState,
    ParamGroup,
    apply_strategy,
    build_resnet18,
    count_params,
    digit_tasks,
    fit_transfer,
    layer_states,
    param_groups,
    source_config,
)
from ui import resources


@st.cache_resource(max_entries=2)
def _fresh_resnet(num_classes: int) -> torch.nn.Module:
    return build_resnet18(num_classes, torch.Generator().manual_seed(0)).requires_grad_(False).eval()


@st.cache_data(max_entries=32)
def strategy_map(strategy: str, k: int, num_classes: int) -> tuple[list[LayerState], int, int]:
    """(layer rows, trainable, total) for a strategy, read from a live ResNet-18 copy."""
    model = apply_strategy(copy.deepcopy(_fresh_resnet(num_classes)), strategy, k)
    return layer_states(model), *count_params(model)


@st.cache_data(max_entries=32)
def groups(cfg: TransferConfig, num_classes: int) -> list[ParamGroup]:
    model = apply_strategy(copy.deepcopy(_fresh_resnet(num_classes)), cfg.strategy, cfg.k_stages)
    return param_groups(model, cfg)


@st.cache_resource(max_entries=4)
def digits(labels_per_class: int) -> tuple[ImageTask, ImageTask]:
    """(source digits 0-4, target digits 5-9 with few labels) from the bundled MNIST sample."""
    return digit_tasks(load_sample(), labels_per_class)


@st.cache_resource(max_entries=1)
def availability() -> tuple[str, str]:
    """Plain-words notes on what is missing: (ImageNet weights, CIFAR-10); '' when present."""
    weights = load_imagenet_weights(allow_download=False)
    _, cifar_note = load_cifar10(resources.paths().data, allow_download=False)
    return ("" if weights.ok else f"{weights.reason} {weights.how_to}"), cifar_note


@st.cache_resource(max_entries=2)
def source_run(cfg: TransferConfig) -> Run:
    """The app's own pretraining on digits 0-4 (kept for the life of the server process)."""
    source, _ = digits(20)  # the source task does not depend on the target's label count
    return fit_transfer(cfg, source, resources.device())


@st.cache_resource(max_entries=16)
def target_run(cfg: TransferConfig, _on_progress=None) -> Run:
    """One strategy trained on the few-label target task (offline path)."""
    _, target = digits(cfg.labels_per_class)
    backbone = None if cfg.weights == "random" else source_run(pretraining_of(cfg)).state
    return fit_transfer(cfg, target, resources.device(), _on_progress, backbone=backbone)


def pretraining_of(cfg: TransferConfig) -> TransferConfig:
    """The same pretraining for every target setting (2 epochs over digits 0-4, Adam 1e-3, batch 64)."""
    return source_config(TransferConfig(head_lr=1e-3, batch_size=64, resolution=cfg.resolution), epochs=2)


@st.cache_resource
def _finished() -> dict[str, Run]:
    """Process-wide: target runs finished in this server process, by config key (sessions share them)."""
    return {}


def trained_runs(like: TransferConfig) -> list[Run]:
    """Target runs already trained in this server process on the same task (labels per class, resolution)."""
    return [r for r in _finished().values()
            if (r.config.labels_per_class, r.config.resolution) == (like.labels_per_class, like.resolution)]


def train(cfg: TransferConfig, on_progress) -> Run:
    run = target_run(cfg, on_progress)
    if run.status == "ok":
        _finished()[cfg.key()] = run
    return run
