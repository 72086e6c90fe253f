"""ImageNet weights for torchvision's ResNet-18, through torchvision's own loading code.

Where the weights can come from, in order:
- a file the user names (`.pth` loaded with `torch.load(weights_only=True)`, or `.safetensors`);
- torch hub's cache, `$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth`, read by
  `ResNet18_Weights.IMAGENET1K_V1.get_state_dict(weights_only=True)` (torchvision's path);
- a download (only when allowed): streamed with a timeout and progress into a temp file beside the cache
  entry, its sha256 checked against the prefix in the file name, then moved into place.

Nothing here raises for a missing or broken file: `load_imagenet_weights` returns a `WeightsResult`
with the state dict, or with a plain-words reason and how to get the weights. Every state dict is checked
key by key and shape by shape against ResNet-18 before anyone uses it.
"""
from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.atomic import atomic_write
from core.data.download import OnDownload


@dataclass(frozen=True)
class WeightsResult:
    state: dict[str, torch.Tensor] | None  # ResNet-18 state dict (1000-class fc), CPU; None when unavailable
    origin: str  # where it came from, or was looked for
    reason: str = ""  # why there are no weights, in plain words
    how_to: str = ""  # what to do to get them

    @property
    def ok(self) -> bool:
        return self.state is not None


def _imagenet_weights():
    from torchvision.models import ResNet18_Weights

    return ResNet18_Weights.IMAGENET1K_V1


def hub_cache_file() -> Path:
    """Where torch hub (and so torchvision) keeps the ResNet-18 ImageNet weights."""
    url = _imagenet_weights().url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def how_to_get() -> str:
    w = _imagenet_weights()
    return (f"While online, run `python -m core.transfer.pretrained --download` (or open this page online once); "
            f"or download {w.url} yourself and put it at {hub_cache_file()}; "
            f"or name a weights file (.pth or .safetensors with ResNet-18's keys).")


def expected_shapes(num_classes: int = 1000) -> dict[str, torch.Size]:
    """Parameter and buffer shapes of torchvision's resnet18, built on the meta device (no memory, no init cost)."""
    from torchvision.models import resnet18

    with torch.device("meta"):
        model = resnet18(weights=None, num_classes=num_classes)
    return {k: v.shape for k, v in model.state_dict().items()}


def check_state(state: object, num_classes: int = 1000) -> str:
    """'' when `state` is a complete ResNet-18 state dict of finite tensors, else what is wrong."""
    if not isinstance(state, dict):
        return f"the file holds a {type(state).__name__}, not a state dict"
    want = expected_shapes(num_classes)
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        return (f"the keys are not ResNet-18's ({len(missing)} missing, e.g. {missing[:2]}; "
                f"{len(extra)} unexpected, e.g. {extra[:2]})")
    for k, shape in want.items():
        v = state[k]
        if not isinstance(v, torch.Tensor) or v.shape != shape:
            got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            return f"{k} has shape {got}, ResNet-18 needs {tuple(shape)}"
        if v.is_floating_point() and not torch.isfinite(v).all():
            return f"{k} holds non-finite values"
    return ""


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)  # never unrestricted pickle


def _result(state: object, origin: str) -> WeightsResult:
    problem = check_state(state)
    if problem:
        return WeightsResult(None, origin, f"The weights at {origin} cannot be used: {problem}.", how_to_get())
    return WeightsResult({k: v.detach().to("cpu") for k, v in state.items()}, origin)  # type: ignore[union-attr]


def download_weights(timeout_s: float = 30.0, on_progress: OnDownload | None = None) -> Path:
    """Stream the weights into the hub cache; the sha256 prefix in the file name is checked before the move."""
    url, dest = _imagenet_weights().url, hub_cache_file()
    want = dest.stem.split("-")[-1]  # "f37072fd"
    report = on_progress or (lambda f, m: None)

    def write(tmp: Path) -> None:
        h = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=timeout_s) as r, open(tmp, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0)
            done = 0
            while chunk := r.read(1 << 20):
                f.write(chunk)
                h.update(chunk)
                done += len(chunk)
                report(done / total if total else 0.0, f"Downloading ResNet-18 weights: {done / 2**20:.1f} MiB")
        if not h.hexdigest().startswith(want):
            raise ValueError(f"downloaded file's sha256 {h.hexdigest()[:8]} does not match {want}")

    atomic_write(dest, write)  # a failure leaves no partial file
    report(1.0, "ResNet-18 weights downloaded and verified")
    return dest


def load_imagenet_weights(file: Path | None = None, allow_download: bool = False, timeout_s: float = 30.0,
                          on_progress: OnDownload | None = None) -> WeightsResult:
    """ResNet-18 IMAGENET1K_V1 weights from `file`, the hub cache, or a download; never raises for bad files."""
    if file is not None:
        path = Path(file)
        if not path.is_file():
            return WeightsResult(None, str(path), f"There is no file at {path}.", how_to_get())
        try:
            return _result(_read_file(path), str(path))
        except Exception as e:  # noqa: BLE001 - any unreadable file is reported, not raised
            return WeightsResult(None, str(path), f"{path} is not a readable weights file ({e}).", how_to_get())
    cached = hub_cache_file()
    if not cached.is_file():
        if not allow_download or os.environ.get("PTCE_OFFLINE") == "1":
            return WeightsResult(None, str(cached), f"The ImageNet weights are not in torch hub's cache ({cached}) "
                                 f"and downloads are off.", how_to_get())
        try:
            download_weights(timeout_s, on_progress)
        except Exception as e:  # noqa: BLE001 - offline, timeout, bad hash: report it
            return WeightsResult(None, str(cached), f"The ImageNet weights could not be downloaded ({e}).",
                                 how_to_get())
    try:  # torchvision's own path: torch.hub.load_state_dict_from_url finds the cached file
        state = _imagenet_weights().get_state_dict(progress=False, weights_only=True, check_hash=True)
    except Exception as e:  # noqa: BLE001 - corrupt cache file
        return WeightsResult(None, str(cached), f"The cached weights file {cached} is unreadable ({e}); delete it "
                             f"and get it again.", how_to_get())
    return _result(state, str(cached))


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy every backbone tensor of `state` into `model` (the fc head is left as it is).

    All keys and shapes are checked first, so an incompatible state dict changes nothing and raises ValueError.
    """
    own = model.state_dict()
    backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
    want = {k for k in own if not k.startswith("fc.")}
    if set(backbone) != want:
        raise ValueError(f"incompatible weights: {len(want - set(backbone))} backbone tensors missing, "
                         f"{len(set(backbone) - want)} unexpected")
    bad = [k for k, v in backbone.items() if v.shape != own[k].shape]
    if bad:
        raise ValueError(f"incompatible weights: {bad[0]} is {tuple(backbone[bad[0]].shape)}, "
                         f"the model needs {tuple(own[bad[0]].shape)}")
    model.load_state_dict(backbone, strict=False)


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Get or check ResNet-18's ImageNet weights.")
    parser.add_argument("--download", action="store_true", help="download them into torch hub's cache now")
    args = parser.parse_args()
    res = load_imagenet_weights(allow_download=args.download,
                                on_progress=lambda f, m: print(f"[{f:4.0%}] {m}", end="\r"))
    print(f"\nResNet-18 ImageNet weights: {'ready' if res.ok else 'missing'} ({res.origin})")
    if not res.ok:
        print(res.reason)
        print(res.how_to)


if __name__ == "__main__":
    _main()
