"""core.data.digit_photos: a photo of a dark digit on white paper reaches the model like an MNIST digit."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data.digit_photos import ink_from_photo, preprocess_photo
from core.data.mnist import load_sample


@pytest.fixture(scope="module")
def test_digits():
    return load_sample().test.images[::50].numpy()  # (20, 28, 28) uint8, every class


def phone_photo(digit: np.ndarray, seed: int, size=(360, 480), box=(200, 200), at=(60, 150)) -> np.ndarray:
    """An MNIST digit (bright on black) drawn dark on white paper, larger, off-centre, with uneven light and noise."""
    rng = np.random.default_rng(seed)
    ink = np.asarray(Image.fromarray(digit).resize(box[::-1], Image.Resampling.BICUBIC), np.float32) / 255.0
    h, w = size
    light = np.linspace(235, 205, w)[None, :] * np.ones((h, 1))  # a shadow from left to right
    page = light.copy()
    page[at[0]:at[0] + box[0], at[1]:at[1] + box[1]] -= np.clip(ink, 0, 1) * 170  # dark pencil
    rgb = page[..., None] * np.array([1.0, 0.98, 0.93]) + rng.normal(0, 5, (h, w, 3))  # warm paper, sensor noise
    return np.clip(rgb, 0, 255).astype(np.uint8)  # (H, W, 3)


def test_photo_of_a_digit_correlates_with_the_original(test_digits):
    corr = []
    for i, digit in enumerate(test_digits):
        steps = preprocess_photo(phone_photo(digit, seed=i))
        assert steps is not None and steps.centred.shape == (28, 28) and steps.tensor.shape == (1, 1, 28, 28)
        corr.append(np.corrcoef(steps.centred.ravel(), digit.astype(np.float32).ravel())[0, 1])
    assert np.median(corr) > 0.8 and min(corr) > 0.5, corr
    # inverted: ink is bright like MNIST, and the paper (most of the field) is exactly zero
    assert steps.centred.max() == pytest.approx(1.0, abs=0.05) and (steps.centred == 0).mean() > 0.5


def test_bright_on_dark_is_not_inverted_and_blank_paper_has_no_digit(test_digits):
    digit = test_digits[0]
    big = np.asarray(Image.fromarray(digit).resize((112, 112)))  # an MNIST digit itself, upscaled
    steps = preprocess_photo(big)
    assert steps is not None and np.corrcoef(steps.centred.ravel(), digit.ravel().astype(float))[0, 1] > 0.8
    blank = np.clip(np.random.default_rng(0).normal(230, 3, (200, 200, 3)), 0, 255).astype(np.uint8)
    assert preprocess_photo(blank) is None and ink_from_photo(blank).max() == 0
