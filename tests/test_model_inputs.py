"""core.model_inputs: resize + centre crop like torchvision's ImageNet transforms; gray and RGB channels."""
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from core.model_inputs import model_view, to_pixels


def test_matches_torchvision_resize_and_centre_crop():
    yy, xx = np.mgrid[0:300, 0:451]
    img = np.stack([xx * 255 // 450, yy * 255 // 299, (xx + yy) % 256], -1).astype(np.uint8)  # (300, 451, 3)
    ours = model_view(img, 224)
    ref = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])(Image.fromarray(img))
    assert ours.shape == (224, 224, 3)
    assert np.abs(ours.astype(int) - np.asarray(ref).astype(int)).mean() < 3  # same framing, resampler aside


def test_channels_and_range():
    gray = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))  # (32, 32)
    x = to_pixels(gray, 3)
    assert x.shape == (1, 3, 32, 32) and torch.equal(x[0, 0], x[0, 2]) and x.max() <= 1.0
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 0] = 255
    y = to_pixels(rgb, 1)
    assert y.shape == (1, 1, 28, 28) and torch.allclose(y, torch.full_like(y, 1 / 3))
    assert model_view(np.zeros((10, 40), np.uint8), 28).shape == (28, 28)
