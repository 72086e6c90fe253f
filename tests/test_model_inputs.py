"""core.data.model_inputs: resize + centre crop like torchvision's ImageNet transforms; gray and RGB channels; a
transfer run's inputs exactly as core.transfer trained them."""
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from core.data.model_inputs import InputSpec, model_input, model_view, stored_pictures, to_pixels
from core.data.normalization import CIFAR_NORM, DIGITS_NORM
from core.transfer.features import prepare
from core.transfer.tasks import digit_tasks


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


def _normalized(pixels: torch.Tensor, norm) -> torch.Tensor:
    mean, std = (torch.tensor(v).reshape(1, -1, 1, 1) for v in norm)
    return (pixels - mean) / std


@pytest.mark.parametrize("resolution", [32, 64])
def test_a_transfer_runs_test_digit_reaches_the_model_exactly_as_in_training(sample, resolution):
    """A stored test digit of the transfer task, through model_input, is the very tensor core.transfer.prepare
    feeds the model in training (padding, gray on 3 channels, on-device resize, normalization)."""
    _, target = digit_tasks(sample, 8)
    stored = target.test.images[:4]  # (4, 3, 32, 32) uint8, as the run trained and was tested on them
    want = prepare(stored, resolution, DIGITS_NORM)  # (4, 3, r, r)
    spec = InputSpec(resolution, 3, True, 32)
    for i, picture in enumerate(stored_pictures(stored, digits=True)):
        seen = model_input(picture, spec)
        assert np.array_equal(seen.stored, stored[i, 0].numpy())
        assert seen.view.shape == (resolution, resolution) and seen.pixels.shape == (1, 3, resolution, resolution)
        assert torch.allclose(_normalized(seen.pixels, DIGITS_NORM)[0], want[i], atol=1e-5)


def test_a_cifar_image_reaches_the_model_exactly_as_in_training():
    images = torch.randint(0, 256, (3, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    want = prepare(images, 64, CIFAR_NORM)
    for i, picture in enumerate(stored_pictures(images, digits=False)):
        seen = model_input(picture, InputSpec(64, 3, False, 32))
        assert seen.view.shape == (64, 64, 3)
        assert torch.allclose(_normalized(seen.pixels, CIFAR_NORM)[0], want[i], atol=1e-5)


def test_a_digit_photo_for_a_transfer_model_is_centred_then_padded():
    page = np.full((120, 90), 230, np.uint8)
    page[30:90, 40:50] = 20  # a dark "1" on paper
    seen = model_input(page, InputSpec(64, 3, True, 32))
    assert seen.stored.shape == (32, 32) and not seen.stored[:2].any() and not seen.stored[:, -2:].any()
    inner = model_input(page, InputSpec(28, 1, True))  # the MNIST models' digit: the same 28×28 inside
    assert np.array_equal(seen.stored[2:30, 2:30], inner.view)
    assert torch.equal(seen.pixels[0, 0], seen.pixels[0, 2])  # gray on 3 channels
    assert model_input(np.full((50, 50), 200, np.uint8), InputSpec(64, 3, True, 32)) is None  # blank paper
