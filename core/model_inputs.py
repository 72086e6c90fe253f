"""An image (uint8, any size) -> exactly what an RGB classifier sees: resized, centre-cropped, pixels in [0, 1].

torchvision's ImageNet recipe: the shorter side resized to 256/224 of the input side, then the
centre side×side crop. Grayscale pictures are repeated over 3 channels for an RGB model (the
figure still shows them gray). Normalization is not applied here: core.attribution does it inside
the model wrapper, so attributions and figures stay on un-normalized pixels.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

RESIZE_RATIO = 256 / 224


def model_view(pixels: np.ndarray, side: int) -> np.ndarray:
    """(H, W[, 3]) uint8 -> (side, side[, 3]) uint8: shorter side to side·256/224, centre crop side×side."""
    im = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    w, h = im.size
    short = round(side * RESIZE_RATIO) if side >= 64 else side  # tiny inputs (CIFAR 32 px): no margin
    scale = short / min(w, h)
    nw, nh = max(side, round(w * scale)), max(side, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=2.0)
    left, top = (nw - side) // 2, (nh - side) // 2
    return np.asarray(im.crop((left, top, left + side, top + side)), dtype=np.uint8)


def to_pixels(view: np.ndarray, channels: int) -> torch.Tensor:
    """(H, W[, 3]) uint8 -> (1, channels, H, W) float32 in [0, 1] (gray repeated, or RGB averaged to gray)."""
    a = torch.from_numpy(np.asarray(view, dtype=np.float32) / 255.0)
    a = a[None] if a.dim() == 2 else a.permute(2, 0, 1)  # (c, H, W)
    if a.shape[0] != channels:
        a = a.mean(0, keepdim=True).expand(channels, -1, -1) if channels in (1, 3) else a
    return a.contiguous()[None]  # (1, channels, H, W)
