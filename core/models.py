"""The app's models, as named `nn.Sequential`s so every layer is a module that
hooks, Captum and a plain walk (`for name, layer in model.named_children()`) see.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from core.config import ModelConfig


class Net2(nn.Sequential):
    """The seed's fully connected net: Linear 784->hidden, ReLU, Linear hidden->10."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__(OrderedDict(
            flatten=nn.Flatten(),           # (B, 1, 28, 28) -> (B, 784)
            fc1=nn.Linear(28 * 28, hidden),  # (B, hidden)
            relu=nn.ReLU(),
            fc2=nn.Linear(hidden, 10),       # (B, 10) logits
        ))


class CNNDemo(nn.Sequential):
    """Conv2d 1->16 3x3 pad 1, ReLU, MaxPool 2, Conv2d 16->32 3x3 pad 1, ReLU, MaxPool 2,
    Linear 32*7*7->hidden, ReLU, Linear hidden->10."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__(OrderedDict(
            conv1=nn.Conv2d(1, 16, kernel_size=3, padding=1),   # (B, 16, 28, 28)
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),                               # (B, 16, 14, 14)
            conv2=nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (B, 32, 14, 14)
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),                               # (B, 32, 7, 7)
            flatten=nn.Flatten(),                                # (B, 1568)
            fc1=nn.Linear(32 * 7 * 7, hidden),                   # (B, hidden)
            relu3=nn.ReLU(),
            fc2=nn.Linear(hidden, 10),                           # (B, 10) logits
        ))


def reset_parameters(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default Linear/Conv2d init, drawn from `generator` instead of the global RNG
    (Streamlit sessions share one process, so the global RNG is shared too)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    fan_in = m.weight[0].numel()
                    bound = 1 / math.sqrt(fan_in)
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return model


def build_model(cfg: ModelConfig, generator: torch.Generator | None = None) -> nn.Sequential:
    model = Net2(cfg.hidden) if cfg.arch == "net2" else CNNDemo(cfg.hidden)
    if generator is not None:
        reset_parameters(model, generator)
    return model
