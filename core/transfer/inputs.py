"""What a transfer model sees: uint8 images resized on the device and normalized with the weights' own statistics."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.data.normalization import CIFAR_NORM, DIGITS_NORM, IMAGENET_NORM
from core.transfer.config import TransferConfig


# ---------------------------------------------------------------- inputs and features
def normalization(cfg: TransferConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The pretrained weights' own normalization (ImageNet's), else the dataset's."""
    if cfg.weights == "imagenet":
        return IMAGENET_NORM
    return DIGITS_NORM if cfg.source == "digits" else CIFAR_NORM


def prepare(images: torch.Tensor, resolution: int, norm: tuple[tuple[float, ...], tuple[float, ...]]) -> torch.Tensor:
    """uint8 (B, 3, H, W) on the device -> normalized float (B, 3, r, r), resized on the device (no PIL)."""
    x = images.float().div_(255.0)  # (B, 3, H, W)
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)  # (B, 3, r, r)
    mean = torch.tensor(norm[0], device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(norm[1], device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)
