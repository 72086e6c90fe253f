"""core.data.normalize: the one MNIST normalization, checked against torchvision's Normalize."""
from __future__ import annotations

import numpy as np
import torch
from torchvision import transforms

from core.data import MNIST_MEAN, MNIST_STD, normalize, to_input
from core.digits import preprocess_ink


def test_normalize_matches_torchvision():
    ink = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ref = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))(ink)
    out = normalize(ink)
    assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=1e-6)
    assert torch.equal(ink, torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)))  # not in place


def test_to_input_is_normalize_of_ink():
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    ref = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))(images.unsqueeze(1).float() / 255)
    assert torch.allclose(to_input(images), ref, atol=1e-6)


def test_drawn_digit_goes_through_the_same_normalization():
    ink = np.zeros((100, 100), dtype=np.float32)
    ink[20:80, 45:55] = 1.0  # a "1"
    steps = preprocess_ink(ink)
    assert steps is not None
    ref = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))(torch.from_numpy(steps.centred)[None])
    assert steps.tensor.shape == (1, 1, 28, 28) and torch.allclose(steps.tensor[0], ref, atol=1e-6)
