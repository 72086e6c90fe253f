"""A picture (uint8, any size) -> exactly what a classifier sees, described by its InputSpec.

RGB models: torchvision's ImageNet recipe, the shorter side resized to 256/224 of the input side, then
the centre side×side crop. Digit models: the MNIST-style 28×28 digit (core.data.digit_photos: inverted,
cropped, centred). Models trained on stored images resized on the device (the transfer runs: 32 px
images, F.interpolate to the run's resolution, core.transfer.prepare) get the same two steps: the
picture becomes a stored-size image first (a digit padded by 2 px to 32, as core.transfer pads its
digits; a photo framed to 32 px like a CIFAR-10 image), then it is resized exactly as in training.
Grayscale pictures are repeated over 3 channels for an RGB model (the figure still shows them gray).
Normalization is not applied here: core.attribution does it inside the model wrapper, so
attributions and figures stay on un-normalized pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.data.digit_photos import preprocess_photo

RESIZE_RATIO = 256 / 224
DIGIT_SIDE = 28  # an MNIST digit


@dataclass(frozen=True)
class InputSpec:
    """How one model sees a picture."""

    side: int  # the model's input side in pixels
    channels: int  # 1 (the MNIST models) or 3
    digits: bool  # MNIST-style digit (invert, crop, centre into 28×28) instead of a framed photo
    stored: int = 0  # side of the stored images it trained on, resized on the device to `side`; 0: side itself

    @property
    def stored_side(self) -> int:
        return self.stored or self.side


@dataclass(frozen=True)
class ModelInput:
    stored: np.ndarray  # (s, s) or (s, s, 3) uint8: the picture as one of the model's stored training images
    view: np.ndarray  # (side, side) or (side, side, 3) uint8: the model's input, un-normalized (for figures)
    pixels: torch.Tensor  # (1, channels, side, side) float32 in [0, 1]: exactly what the model gets


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


def digit_view(pixels: np.ndarray) -> np.ndarray | None:
    """A picture -> the MNIST-style (28, 28) uint8 digit; an (28, 28) gray image is taken as one already (a
    test digit, a drawing). None when no digit stands out from the paper."""
    if pixels.shape[:2] == (DIGIT_SIDE, DIGIT_SIDE) and pixels.ndim == 2:
        return np.asarray(pixels, dtype=np.uint8)
    steps = preprocess_photo(pixels)
    return None if steps is None else np.round(steps.centred * 255).astype(np.uint8)


def resize_like_training(stored: np.ndarray, side: int, channels: int) -> torch.Tensor:
    """(s, s[, 3]) uint8 -> (1, channels, side, side) in [0, 1], resized as core.transfer.prepare resizes a
    batch on the device (F.interpolate, bilinear, align_corners=False), before its normalization."""
    x = to_pixels(stored, channels)  # (1, channels, s, s)
    if x.shape[-1] == side:
        return x
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)  # (1, channels, side, side)


def stored_pictures(images: torch.Tensor, digits: bool) -> np.ndarray:
    """A transfer task's stored images (N, 3, 32, 32) uint8 -> pictures that model_input() turns back into
    exactly them: the 28×28 digit inside the zero border core.transfer adds (N, 28, 28), or RGB (N, 32, 32, 3)."""
    if digits:
        pad = (images.shape[-1] - DIGIT_SIDE) // 2
        return images[:, 0, pad:pad + DIGIT_SIDE, pad:pad + DIGIT_SIDE].numpy()  # (N, 28, 28)
    return images.permute(0, 2, 3, 1).numpy()  # (N, 32, 32, 3)


def model_input(pixels: np.ndarray, spec: InputSpec) -> ModelInput | None:
    """(H, W[, 3]) uint8 picture -> what the model described by `spec` sees; None when a digit model finds no
    digit in the picture."""
    s = spec.stored_side
    if spec.digits:
        digit = digit_view(pixels)
        if digit is None:
            return None
        pad = (s - DIGIT_SIDE) // 2
        stored = np.pad(digit, pad) if pad > 0 else digit  # (s, s): zero border, as core.transfer pads digits
    else:
        stored = model_view(pixels, s)
    x = resize_like_training(stored, spec.side, spec.channels)  # (1, C, side, side)
    if x.shape[-1] == s:
        view = stored
    else:
        img = x[0, 0] if stored.ndim == 2 else x[0].permute(1, 2, 0)  # (side, side[, 3])
        view = np.round(img.clamp(0, 1).numpy() * 255).astype(np.uint8)
    return ModelInput(stored, view, x)
