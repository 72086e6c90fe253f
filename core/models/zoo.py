"""The app's fixed architectures: the seed's Net2 and CNNDemo, and torchvision's ResNet-18 with a new head."""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    pass


Shape = tuple[int, int, int]  # (C, H, W) of one input
MNIST_INPUT: Shape = (1, 28, 28)


class Net2(nn.Sequential):
    """The seed's fully connected net: Flatten, Linear C·H·W->hidden, ReLU, Linear hidden->classes."""

    def __init__(self, hidden: int = 128, input_shape: Shape = MNIST_INPUT, num_classes: int = 10) -> None:
        super().__init__(OrderedDict(
            flatten=nn.Flatten(),                          # (B, 1, 28, 28) -> (B, 784)
            fc1=nn.Linear(math.prod(input_shape), hidden),  # (B, hidden)
            relu=nn.ReLU(),
            fc2=nn.Linear(hidden, num_classes),            # (B, 10) logits
        ))


class CNNDemo(nn.Sequential):
    """Conv2d C->16 3x3 pad 1, ReLU, MaxPool 2, Conv2d 16->32 3x3 pad 1, ReLU, MaxPool 2,
    Linear 32·(H/4)·(W/4)->hidden, ReLU, Linear hidden->classes."""

    def __init__(self, hidden: int = 128, input_shape: Shape = MNIST_INPUT, num_classes: int = 10) -> None:
        c, h, w = input_shape
        super().__init__(OrderedDict(
            conv1=nn.Conv2d(c, 16, kernel_size=3, padding=1),   # (B, 16, 28, 28)
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),                               # (B, 16, 14, 14)
            conv2=nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (B, 32, 14, 14)
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),                               # (B, 32, 7, 7)
            flatten=nn.Flatten(),                                # (B, 1568)
            fc1=nn.Linear(32 * (h // 4) * (w // 4), hidden),     # (B, hidden)
            relu3=nn.ReLU(),
            fc2=nn.Linear(hidden, num_classes),                  # (B, 10) logits
        ))


def resnet18(input_shape: Shape = (3, 32, 32), num_classes: int = 10) -> nn.Module:
    """torchvision's ResNet-18, untrained, with a new head: fc = Linear(512, num_classes).
    Its adaptive average pool takes any input side of at least 32 pixels."""
    from torchvision.models import resnet18 as tv_resnet18  # imported on use: torchvision is slow to import

    if input_shape[0] != 3 or min(input_shape[1:]) < 32:
        raise ValueError(f"ResNet-18 takes 3-channel images of at least 32×32 pixels, not {input_shape}")
    model = tv_resnet18(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # (B, num_classes)
    return model


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
