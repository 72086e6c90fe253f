"""The seed's training loop, kept as the baseline: a torchvision-style dataset that
turns each uint8 image into a PIL image, then `ToTensor` and `Normalize`, batched by
a `DataLoader` (what `torchvision.datasets.MNIST` + `transforms.Compose` does)."""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from core.data.normalization import MNIST_MEAN, MNIST_STD


class PILDigits(Dataset):
    """Same __getitem__ as torchvision.datasets.MNIST: tensor -> PIL -> transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels  # (N, 28, 28) uint8, (N,)
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = Image.fromarray(self.images[i].numpy(), mode="L")
        return self.transform(img), int(self.labels[i])


def seed_epoch_seconds(model: nn.Module, opt: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
                       batch_size: int = 64, max_steps: int | None = None) -> tuple[float, int]:
    """Train like the seed for up to `max_steps` batches; returns (seconds, samples seen)."""
    loader = DataLoader(PILDigits(images, labels), batch_size=batch_size, shuffle=True)
    model.train()
    seen = 0
    t0 = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        seen += len(y)
    return time.perf_counter() - t0, seen
