"""One split of an image dataset: uint8 images and int64 labels, kept on the CPU and moved to the device once."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, 28, 28) uint8, CPU
    labels: torch.Tensor  # (N,) int64, CPU

    def __len__(self) -> int:
        return int(self.labels.shape[0])
