"""A learner's photo as the own-classes route keeps it, and the fixed views the model trains on.

A photo is validated by content (core.data.uploads.decode_image) and reduced at once to a 256×256 RGB square:
the shorter side resized to 256, the centre square kept. Its centre 224×224 is exactly what the model sees,
and exactly what the Saliency page's ImageNet recipe (core.data.model_inputs.model_view: shorter side to 256,
centre crop 224) makes of it; the 16 px margin gives the crop augmentation real pixels (torchvision's FiveCrop
of 224 on a 256 square). A photo is named by the sha256 of those pixels, so the same photo is kept once.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from core.data.uploads import UploadError, decode_image

STORED = 256  # side of a kept photo
SIDE = 224  # side the model sees (ImageNet's)
MARGIN = STORED - SIDE
SHA = 64  # hex digits of a photo's name


@dataclass(frozen=True)
class View:
    """One fixed view of a kept photo: a SIDE×SIDE window at (top, left), mirrored or not."""

    top: int
    left: int
    flip: bool = False


C, E = MARGIN // 2, MARGIN  # centre and far-edge offsets
VIEWS: dict[str, View] = {
    "centre": View(C, C),  # what the model is asked about: every prediction and every held-out score uses it
    "flip": View(C, C, True),
    "top-left": View(0, 0), "top-right": View(0, E), "bottom-left": View(E, 0), "bottom-right": View(E, E),
}
AUGMENTATIONS: dict[str, tuple[str, ...]] = {  # name -> the views each photo trains with
    "none": ("centre",),
    "flips": ("centre", "flip"),
    "flips-crops": ("centre", "flip", "top-left", "top-right", "bottom-left", "bottom-right"),
}
AUGMENTATION_LABELS: dict[str, str] = {
    "none": "None: the centre 224×224 of each photo",
    "flips": "Mirror: + each photo flipped left-right (2 views)",
    "flips-crops": "Mirror + corner crops: + the four corner 224×224 windows (6 views)",
}


def framed(pixels: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 -> (256, 256, 3) uint8: shorter side to 256 (bilinear, as model_view resizes),
    the centre square; gray becomes RGB."""
    a = np.asarray(pixels, dtype=np.uint8)
    rgb = np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a
    im = Image.fromarray(rgb)
    w, h = im.size
    scale = STORED / min(w, h)
    nw, nh = max(STORED, round(w * scale)), max(STORED, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=2.0)
    left, top = (nw - STORED) // 2, (nh - STORED) // 2
    return np.asarray(im.crop((left, top, left + STORED, top + STORED)), dtype=np.uint8).copy()


def photo_name(photo: np.ndarray) -> str:
    """The sha256 of a kept photo's pixels: its name in the store and in every dataset."""
    return hashlib.sha256(np.ascontiguousarray(photo, dtype=np.uint8).tobytes()).hexdigest()


def from_upload(data: bytes) -> tuple[np.ndarray, tuple[str, ...]]:
    """An uploaded file or camera frame -> (kept photo (256, 256, 3), notes on what was done to it). UploadError says
    in plain words why a file can't be used (not an image, damaged, a bomb, a strip, ...)."""
    image = decode_image(data)
    return framed(image.pixels), image.notes


def png(photo: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def from_png(data: bytes, name: str) -> np.ndarray:
    """A kept photo's file -> its pixels, checked: a 256×256 RGB image whose pixels hash to `name`
    (UploadError otherwise: a damaged, replaced or foreign file)."""
    image = decode_image(data)
    if image.format != "PNG" or image.pixels.shape != (STORED, STORED, 3):
        raise UploadError(f"not a kept photo: a {image.format} of shape {image.pixels.shape}")
    if photo_name(image.pixels) != name:
        raise UploadError("its pixels do not match its name (the file was changed)")
    return image.pixels


def as_tensor(photos: np.ndarray) -> torch.Tensor:
    """(N, 256, 256, 3) uint8 -> (N, 3, 256, 256) uint8."""
    return torch.from_numpy(np.ascontiguousarray(photos)).permute(0, 3, 1, 2).contiguous()


def view(images: torch.Tensor, name: str) -> torch.Tensor:
    """(N, 3, 256, 256) -> (N, 3, 224, 224): the named window, mirrored if it is a flip."""
    v = VIEWS[name]
    out = images[..., v.top:v.top + SIDE, v.left:v.left + SIDE]  # (N, 3, 224, 224)
    return out.flip(-1) if v.flip else out
