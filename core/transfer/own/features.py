"""The frozen ImageNet backbone over the learner's photos: each view of each photo passes through it once, and its
(512,) feature is kept in the store under the photo's name and the backbone's fingerprint, so adding a photo costs
one forward pass and every later training reads the features back.
"""
from __future__ import annotations

import hashlib

import torch
from torch import nn

from core.config import default_device
from core.data.normalization import IMAGENET_NORM
from core.transfer.features import extract_features, feature_pass
from core.transfer.model import build_resnet18
from core.transfer.own.photos import SIDE, view
from core.transfer.own.store import OwnStore


def fingerprint(state: dict[str, torch.Tensor]) -> str:
    """16 hex digits naming a set of backbone weights by their values (features and runs made with other weights
    are never mixed in). The fc layer is left out: it is not part of the backbone."""
    h = hashlib.sha256()
    for k in sorted(state):
        if k.startswith("fc."):
            continue
        t = state[k].detach().to("cpu").contiguous()
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def frozen_model(backbone: dict[str, torch.Tensor], device: torch.device | None = None) -> nn.Module:
    """An eval-mode, frozen ResNet-18 holding `backbone`, in the layout the feature pass runs fastest in on `device`
    (its fc is unused: the features are what fc would see)."""
    device = device or default_device()
    model = build_resnet18(2, torch.Generator().manual_seed(0), backbone).requires_grad_(False).eval().to(device)
    return model.to(memory_format=feature_pass(SIDE, device)[0])


def view_features(model: nn.Module, images: torch.Tensor, views: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """{view: (N, 512)} on the CPU: the frozen backbone once over each view of uint8 photos (N, 3, 256, 256)."""
    device = next(model.parameters()).device
    return {v: extract_features(model, view(images, v), SIDE, IMAGENET_NORM, device).cpu() for v in views}


def stored_features(store: OwnStore, backbone: str, model: nn.Module, images: torch.Tensor, photos: tuple[str, ...],
                    views: tuple[str, ...]) -> tuple[dict[str, torch.Tensor], int]:
    """({view: (N, 512)}, forward passes made): every (photo, view) feature read from the store's cache, the missing
    ones computed in one batched pass per view and kept. `images` (N, 3, 256, 256) are the `photos`, row by row."""
    cached = [store.cached_features(backbone, p) for p in photos]
    out, changed, computed = {}, set(), 0
    for v in views:
        missing = [i for i, c in enumerate(cached) if v not in c]
        if missing:
            new = view_features(model, images[missing], (v,))[v]  # (m, 512)
            for i, f in zip(missing, new):
                cached[i][v] = f
            changed |= set(missing)
            computed += len(missing)
        out[v] = torch.stack([c[v] for c in cached]) if cached else torch.empty(0, 512)
    for i in sorted(changed):  # one atomic rewrite per photo that gained a view
        store.keep_features(backbone, photos[i], cached[i])
    return out, computed
