"""Attribution for one image: Captum's Saliency as a plain signed NumPy map.

Saliency is the gradient of the chosen class's score (its logit) with respect to the input
pixels: positive where a little more ink would raise the score, negative where it would lower it.
We keep the sign (Captum's default `abs=True` throws it away) and leave the colour choice to the
figure, which centres a diverging scale on zero.

Safe on shared, cached models: gradients are taken with respect to a private copy of the input
only (`torch.autograd.grad` inside Captum), so nothing is written to any parameter's `.grad`,
no hooks are registered and the model's train/eval mode is not touched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class SaliencyMap:
    grad: np.ndarray  # (H, W) d(score of target) / d(normalized input pixel), signed
    target: int  # the class whose score was differentiated
    score: float  # that class's logit for this input

    @property
    def limit(self) -> float:
        """Symmetric colour-scale limit: the largest magnitude (1 for an all-zero map)."""
        m = float(np.abs(self.grad).max())
        return m if m > 0 else 1.0


def saliency(model: nn.Module, x: torch.Tensor, target: int | None = None) -> SaliencyMap:
    """Signed gradient saliency of `target` (default: the predicted class) for one input x (1, C, H, W)."""
    from captum.attr import Saliency

    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"saliency expects one image shaped (1, C, H, W), got {tuple(x.shape)}")
    device = next(model.parameters()).device
    inp = x.detach().to(device).clone().requires_grad_(True)  # (1, C, H, W), private leaf
    with torch.enable_grad():
        if target is None:
            with torch.no_grad():
                logits = model(inp)  # (1, 10)
            target = int(logits.argmax(1))
        else:
            with torch.no_grad():
                logits = model(inp)
        attr = Saliency(model).attribute(inp, target=int(target), abs=False)  # (1, C, H, W)
    grad = attr.detach()[0].sum(0).cpu().numpy().astype(np.float32)  # (H, W): channels summed
    return SaliencyMap(grad, int(target), float(logits[0, target]))
