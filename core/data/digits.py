"""Turn a drawing into an MNIST-style input, one visible step at a time.

MNIST's digits were made like this (LeCun et al.): the ink's bounding box was scaled to fit a
20×20 box keeping the aspect ratio (with anti-aliasing, so edges become gray), then placed in a
28×28 field so that the ink's centre of mass sits in the middle. A drawing from a canvas goes
through the same steps here, and every intermediate image is returned so a page can show them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from core.data.mnist import normalize

FIELD = 28  # MNIST image side
BOX = 20  # the longer side of the ink after scaling
CENTRE = 14.0  # where MNIST digits' centre of mass lies (row and column, measured on the dataset)
INK_THRESHOLD = 0.05  # a pixel with less ink than this counts as background
MIN_INK_PIXELS = 3  # fewer inked pixels than this: treat the canvas as empty
SMALL_FRACTION = 0.25  # ink whose longer side is under this share of the canvas side counts as tiny
OFF_CENTRE_FRACTION = 0.25  # ink whose middle is further than this share of the side from the centre: off-centre


@dataclass(frozen=True)
class Steps:
    """Every stage of the preprocessing; images are float32 with 0 = no ink, 1 = full ink."""

    gray: np.ndarray  # (H, W) the drawing as ink amount
    bbox: tuple[int, int, int, int]  # (top, bottom, left, right) of the ink in `gray`, bottom/right exclusive
    cropped: np.ndarray  # (h, w) the ink's bounding box
    scaled: np.ndarray  # (h', w') longer side = 20, aspect ratio kept
    centred: np.ndarray  # (28, 28) scaled ink placed so its centre of mass is at (14, 14)
    shift: tuple[int, int]  # (top, left) where `scaled` was placed in the 28×28 field
    tensor: torch.Tensor  # (1, 1, 28, 28) normalized model input: (ink − mean) / std

    def normalized(self) -> np.ndarray:
        return self.tensor[0, 0].numpy()  # (28, 28)


def ink_from_rgba(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 canvas pixels -> (H, W) float32 ink in [0, 1].

    The canvas is composited onto white first, so dark strokes on a transparent or white
    background both become ink 1 and the background 0 (MNIST stores ink as bright values).
    """
    a = np.asarray(rgba, dtype=np.float32)
    if a.ndim == 2:  # already grayscale: dark = ink
        return 1.0 - a / 255.0
    rgb, alpha = a[..., :3] / 255.0, (a[..., 3] / 255.0 if a.shape[-1] == 4 else np.ones(a.shape[:2], np.float32))
    lum = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W)
    on_white = lum * alpha + (1.0 - alpha)
    return (1.0 - on_white).astype(np.float32)


def is_empty(ink: np.ndarray) -> bool:
    return int((ink > INK_THRESHOLD).sum()) < MIN_INK_PIXELS


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Anti-aliased resize of a float image (area-weighted when shrinking, like MNIST's scaling)."""
    if img.shape == (h, w):
        return img.astype(np.float32)
    out = Image.fromarray(img.astype(np.float32), mode="F").resize((w, h), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    """(row, col) of the ink's centre of mass."""
    total = float(img.sum())
    rows, cols = np.arange(img.shape[0]), np.arange(img.shape[1])
    return float(img.sum(1) @ rows) / total, float(img.sum(0) @ cols) / total


def preprocess_ink(ink: np.ndarray) -> Steps | None:
    """(H, W) ink in [0, 1] -> every MNIST-style step, or None when there is (almost) no ink."""
    gray = np.clip(np.asarray(ink, dtype=np.float32), 0.0, 1.0)
    if gray.ndim != 2 or is_empty(gray):
        return None
    rows = np.nonzero((gray > INK_THRESHOLD).any(1))[0]
    cols = np.nonzero((gray > INK_THRESHOLD).any(0))[0]
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    cropped = gray[top:bottom, left:right]  # (h, w)
    h, w = cropped.shape
    scale = BOX / max(h, w)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    scaled = _resize(cropped, sh, sw)  # (sh, sw), longer side 20
    if scaled.sum() <= 0:  # a hairline that vanished when shrunk
        return None
    cy, cx = centre_of_mass(scaled)
    r0 = int(np.clip(round(CENTRE - cy), 0, FIELD - sh))
    c0 = int(np.clip(round(CENTRE - cx), 0, FIELD - sw))
    centred = np.zeros((FIELD, FIELD), dtype=np.float32)
    centred[r0:r0 + sh, c0:c0 + sw] = scaled
    return Steps(gray, (top, bottom, left, right), cropped, scaled, centred, (r0, c0), ink_input(centred))


def drawing_notes(steps: Steps) -> list[str]:
    """Plain-words warnings about a drawing the models will still classify: tiny or off-centre ink is scaled
    and centred here, but it was drawn unlike the digits the models learned from, and a softmax probability
    can be high for anything (it is not a calibrated confidence)."""
    side = max(steps.gray.shape)
    top, bottom, left, right = steps.bbox
    notes = []
    if max(bottom - top, right - left) < SMALL_FRACTION * side:
        notes.append(f"The drawing is tiny ({bottom - top}×{right - left} px on a {steps.gray.shape[0]}×"
                     f"{steps.gray.shape[1]} canvas): it is enlarged to MNIST's 20-pixel box, strokes and all, "
                     "so it looks thicker and blurrier to the models than a digit drawn big.")
    cy, cx = (top + bottom) / 2, (left + right) / 2
    h, w = steps.gray.shape
    if max(abs(cy - h / 2) / h, abs(cx - w / 2) / w) > OFF_CENTRE_FRACTION:
        notes.append("The drawing is far from the middle of the canvas. It is centred before the models see it, "
                     "but draw in the middle to be sure nothing was cut off by the canvas edge.")
    return notes


def ink_input(centred: np.ndarray) -> torch.Tensor:
    """A centred 28×28 ink image (0 = paper, 1 = ink) -> the normalized model input (1, 1, 28, 28)."""
    ink = torch.as_tensor(np.asarray(centred, dtype=np.float32))  # (28, 28)
    return normalize(ink).reshape(1, 1, FIELD, FIELD)  # (1, 1, 28, 28)


def preprocess_canvas(rgba: np.ndarray | None) -> Steps | None:
    """Canvas RGBA pixels -> Steps, or None for no image / an empty canvas."""
    if rgba is None:
        return None
    a = np.asarray(rgba)
    if a.ndim not in (2, 3) or a.shape[0] < 1 or a.shape[1] < 1:
        return None
    return preprocess_ink(ink_from_rgba(a))


def downsample_for_display(img: np.ndarray, side: int = 56) -> np.ndarray:
    """A big canvas image shrunk for a thumbnail (display only; keeps plotly payloads small)."""
    h, w = img.shape
    f = max(1, int(np.ceil(max(h, w) / side)))
    h2, w2 = h // f * f, w // f * f
    return img[:h2, :w2].reshape(h2 // f, f, w2 // f, f).mean((1, 3))
