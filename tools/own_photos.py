"""Photos and weights for the own-classes route that the tests and the bench share: several different shots made
from each of scikit-image's sample photos (the photo, its mirror image, crops), and an ImageNet-shaped ResNet-18
(torchvision's own random initialization, seeded: the real keys, sane feature sizes) in a torch hub cache."""
from __future__ import annotations

import io
from pathlib import Path

import torch

OWN_SAMPLES = {"cat": "chelsea", "cup": "coffee", "rocket": "rocket"}  # class -> scikit-image sample photo


def fake_imagenet_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """An ImageNet-shaped ResNet-18 state dict: torchvision's real keys and shapes with its own random
    initialization (seeded), so activations and gradients stay finite as a trained network's do."""
    from torchvision.models import resnet18

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return resnet18(weights=None).state_dict()


def write_fake_imagenet(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """The fake weights saved as torchvision's file would be (torch.save of the state dict) at `path` (the hub's
    file: core.transfer.pretrained.hub_cache_file())."""
    state = fake_imagenet_state(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def sample_variants(key: str, n: int = 6) -> list[bytes]:
    """n different PNG photos made from one scikit-image sample: the photo, its mirror image and crops of each
    (shifted and zoomed), as a learner's several shots of one thing."""
    from PIL import Image, ImageOps

    from core.data.samples import load_sample_photo

    im = Image.fromarray(load_sample_photo(key).pixels).convert("RGB")
    w, h = im.size
    shots = [im, ImageOps.mirror(im)]
    for i in range(n):
        f = 0.6 + 0.05 * (i % 6)  # 60-85% of the photo
        left, top = int((w - f * w) * ((i * 37) % 10) / 9), int((h - f * h) * ((i * 53) % 10) / 9)
        crop = im.crop((left, top, left + int(f * w), top + int(f * h)))
        shots.append(ImageOps.mirror(crop) if i % 2 else crop)
    out = []
    for shot in shots[:n]:
        buf = io.BytesIO()
        shot.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out
