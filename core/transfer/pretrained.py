"""ImageNet weights for torchvision's ResNet-18, through torchvision's own loading code.

Where the weights can come from, in order:
- a file the user names (`.pth` loaded with `torch.load(weights_only=True)`, or `.safetensors`);
- torch hub's cache, `$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth`, read by
  `ResNet18_Weights.IMAGENET1K_V1.get_state_dict(weights_only=True)` (torchvision's path);
- a download (`download_weights`: the app's button and `python -m core.transfer.pretrained --download` alike):
  the one bounded transfer (core.data.download.fetch: mirror setting, connect/stall/total bounds) into a temp
  file beside the cache entry, its sha256 checked against the prefix in torchvision's file name, then moved into
  place; a failure removes the temp file and a killed download's is swept by the next one.

Nothing here raises for a missing or broken file: `load_imagenet_weights` returns a `WeightsResult`
with the state dict, or with a plain-words reason and how to get the weights. Every state dict is checked
key by key and shape by shape against ResNet-18 before anyone uses it.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.atomic import TMP_PREFIX, sha256_file
from core.data.download import DownloadError, DownloadLimits, OnDownload, _download_lock, fetch, offline

WEIGHTS_LIMITS = DownloadLimits(connect_s=10.0, read_s=30.0, total_s=900.0)
WEIGHTS_MB = 44.7  # resnet18-f37072fd.pth, in MiB (46,830,571 bytes)
COMMAND = "python -m core.transfer.pretrained --download"


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


def sha256_prefix() -> str:
    """The start of the file's sha256 that torchvision writes in its name (resnet18-f37072fd.pth -> f37072fd)."""
    return hub_cache_file().stem.split("-")[-1]


def present() -> bool:
    return hub_cache_file().is_file()


def how_to_get() -> str:
    w = _imagenet_weights()
    return (f"While online, press the download button on the Transfer learning or Saliency page, or run `{COMMAND}`; "
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


def download_weights(on_progress: OnDownload | None = None, limits: DownloadLimits = WEIGHTS_LIMITS) -> Path:
    """Download the weights into torch hub's cache: a temp file beside it, its sha256 checked against the prefix in
    the file name, then one move into place. Raises DownloadError with a plain sentence; leaves no partial file."""
    url, dest = _imagenet_weights().url, hub_cache_file()
    want = sha256_prefix()
    report = on_progress or (lambda f, m: None)
    folder = dest.parent
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + limits.total_s
    with _download_lock(folder, blocking=False) as held:
        if not held:
            raise DownloadError("Another download of these weights is running (another session or program); try "
                                "again when it has finished.")
        for stale in folder.glob(f"{TMP_PREFIX}{dest.stem}-*"):  # temp files of downloads that were killed
            stale.unlink(missing_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{dest.stem}-", suffix=".part", dir=folder)
        os.close(fd)
        tmp = Path(name)
        try:
            report(0.0, f"Downloading the ResNet-18 weights ({WEIGHTS_MB} MB)")
            fetch(url, tmp, limits, deadline, on_bytes=lambda done, total: report(
                0.98 * done / total if total else 0.0,
                f"Downloading the ResNet-18 weights: {done / 2**20:.1f} of {total / 2**20:.1f} MB"))
            report(0.98, "Checking the weights' sha256")
            got = sha256_file(tmp)
            if not got.startswith(want):
                raise DownloadError(f"The downloaded weights failed their checksum (sha256 {got[:8]}…, the file name "
                                    f"says {want}…), so they were deleted; try again, or check the mirror "
                                    f"(PTCE_DOWNLOAD_BASE).")
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except OSError as e:
            if isinstance(e, DownloadError):
                raise
            raise DownloadError(f"The weights could not be written to {folder}: {e.strerror or e}.") from e
        finally:
            tmp.unlink(missing_ok=True)
    report(1.0, "ResNet-18 weights downloaded and verified")
    return dest


def load_imagenet_weights(file: Path | None = None, allow_download: bool = False,
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
        if not allow_download or offline():
            return WeightsResult(None, str(cached), f"The ImageNet weights are not in torch hub's cache ({cached}).",
                                 how_to_get())
        try:
            download_weights(on_progress)
        except DownloadError as e:
            return WeightsResult(None, str(cached), f"The ImageNet weights could not be downloaded: {e}",
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
    parser.add_argument("--download", action="store_true",
                        help="download them into torch hub's cache now (as the app's button does)")
    args = parser.parse_args()
    if args.download and not present():
        try:
            download_weights(lambda f, m: print(f"[{f:4.0%}] {m}", end="\r", flush=True))
            print()
        except DownloadError as e:
            raise SystemExit(f"\n{e}") from None
    res = load_imagenet_weights()
    print(f"ResNet-18 ImageNet weights: {'ready' if res.ok else 'missing'} ({res.origin})")
    if not res.ok:
        print(res.reason)
        print(res.how_to)


if __name__ == "__main__":
    _main()
