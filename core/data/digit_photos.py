"""A photo of a handwritten digit -> the MNIST-style 28×28 input, through core.digits' own steps.

A phone photo has dark ink on bright paper, uneven light and sensor noise; MNIST has bright ink
on black. So the paper's brightness is measured (a high percentile, robust to the ink), the image
is inverted relative to it, faint paper texture below INK_FLOOR is dropped (otherwise the ink's
bounding box would be the whole sheet), and the rest is core.digits.preprocess_ink: crop to the
ink, scale the longer side to 20, centre the centre of mass in 28×28, normalize.
An image that is already bright-on-dark (an MNIST digit itself, a chalk board) is not inverted.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from core.data.digits import Steps, preprocess_ink

WORK_SIDE = 280  # the photo is reduced to this longer side first (the canvas size of the Draw page)
INK_FLOOR = 0.25  # ink below this fraction of the darkest stroke is paper texture or shadow
MIN_CONTRAST = 0.1  # paper and ink closer than this (on a 0..1 scale): no digit to find


def _luminance(pixels: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 -> (H, W) float32 in [0, 1], reduced to WORK_SIDE."""
    im = Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("L")
    if max(im.size) > WORK_SIDE:
        im = im.copy()
        im.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    return np.asarray(im, dtype=np.float32) / 255.0


def ink_from_photo(pixels: np.ndarray) -> np.ndarray:
    """(H, W[, 3]) uint8 photo -> (h, w) float32 ink in [0, 1] (0 = paper, 1 = the darkest stroke)."""
    gray = _luminance(pixels)
    if np.median(gray) < 0.5:  # bright strokes on a dark background: already MNIST's polarity
        gray = 1.0 - gray
    paper, darkest = float(np.percentile(gray, 90)), float(np.percentile(gray, 0.5))
    if paper - darkest < MIN_CONTRAST:
        return np.zeros_like(gray)
    ink = np.clip((paper - gray) / (paper - darkest), 0.0, 1.0)
    ink = np.clip((ink - INK_FLOOR) / (1.0 - INK_FLOOR), 0.0, 1.0)  # paper texture -> 0, strokes keep their shading
    return ink.astype(np.float32)


def preprocess_photo(pixels: np.ndarray) -> Steps | None:
    """Every MNIST-style step for a digit photo, or None when no digit stands out from the paper."""
    return preprocess_ink(ink_from_photo(pixels))
