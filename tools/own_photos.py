"""Photos and weights for the own-classes route that the tests and the bench share: several different shots made
from each of scikit-image's sample photos (the photo, its mirror image, crops), and an ImageNet-shaped ResNet-18
(torchvision's own random initialization, seeded: the real keys, sane feature sizes) in a torch hub cache."""
from __future__ import annotations

import io
from pathlib import Path

import torch

OWN_SAMPLES = {"cat": "chelsea", "cup": "coffee", "rocket": "rocket"}  # class -> scikit-image sample photo


def fake_imagenet_state() -> dict[str, torch.Tensor]:
    """An ImageNet-shaped ResNet-18 state dict: torchvision's random initialization (seeded), the real keys."""
    from torchvision.models import resnet18

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return resnet18(weights=None).state_dict()


def write_fake_imagenet(torch_home: Path) -> dict[str, torch.Tensor]:
    """Put fake_imagenet_state() where torch hub (and so torchvision) looks under `torch_home` (set TORCH_HOME)."""
    from torchvision.models import ResNet18_Weights

    state = fake_imagenet_state()
    path = Path(torch_home) / "hub" / "checkpoints" / Path(ResNet18_Weights.IMAGENET1K_V1.url).name
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
