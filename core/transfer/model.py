"""The ResNet-18 of a transfer run: built and initialized from a private generator, the weights a run holds, and the
frozen eval-mode model a stored run describes.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from core.models.zoo import resnet18
from core.training.record import Run
from core.transfer.config import TransferConfig
from core.transfer.inputs import normalization, prepare
from core.transfer.pretrained import load_backbone
from core.transfer.tasks import num_classes


# ---------------------------------------------------------------- model and freezing
def init_weights_(model: nn.Module, g: torch.Generator) -> nn.Module:
    """torchvision's ResNet initialization, driven by a private generator (replayable; no global RNG)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.reset_running_stats()
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            bound = 1 / math.sqrt(m.in_features)
            nn.init.uniform_(m.bias, -bound, bound, generator=g)
    return model


def build_resnet18(num_classes: int, g: torch.Generator, backbone: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The registry's ResNet-18 (torchvision's, `fc = Linear(512, num_classes)`), initialized from `g`;
    backbone weights copied from `backbone`. Built on the meta device first, so nothing is initialized twice."""
    with torch.device("meta"):
        model = resnet18((3, 32, 32), num_classes)  # (B, 3, r, r) -> (B, num_classes)
    model = init_weights_(model.to_empty(device="cpu"), g)
    if backbone is not None:
        load_backbone(model, backbone)
    return model


def expected_state(cfg: TransferConfig) -> dict[str, torch.Tensor]:
    """Names, shapes and dtypes (meta tensors) of the weights a stored run of `cfg` holds: the whole model,
    or only the head ("fc.weight", "fc.bias") for feature extraction, whose backbone is the starting one."""
    with torch.device("meta"):
        state = resnet18((3, 32, 32), num_classes(cfg)).state_dict()
    return {k: v for k, v in state.items() if k.startswith("fc.")} if cfg.strategy == "feature" else state


def model_of(run: Run, num_classes: int, backbone: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The eval-mode, frozen model a run describes (feature extraction: `backbone` + the run's head)."""
    model = build_resnet18(num_classes, torch.Generator().manual_seed(0), backbone)
    model.load_state_dict(run.state, strict=run.config.strategy != "feature")
    return model.requires_grad_(False).eval()


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, cfg: TransferConfig, batch: int = 256) -> torch.Tensor:
    """Predicted class (N,) of uint8 images (N, 3, H, W) through an eval-mode model at cfg's resolution."""
    device = next(model.parameters()).device
    norm = normalization(cfg)
    return torch.cat([model(prepare(images[i:i + batch].to(device), cfg.resolution, norm)).argmax(1).cpu()
                      for i in range(0, len(images), batch)])
