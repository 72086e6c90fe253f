"""CIFAR-10 as uint8 tensors (N, 3, 32, 32), decoded once.

Download: torchvision's own code (`download_and_extract_archive`, md5 of the archive checked) into a temp
folder beside the target, after a reachability check with a timeout; every batch file is then checked
against torchvision's md5 list and the folder moved into place in one `os.replace`, with a manifest of
sha256s. Any failure removes the temp folder: no partial files.

Reading: CIFAR's python batches are pickles, so they are read with a restricted unpickler that resolves
only numpy's array-reconstruction globals (anything else, e.g. `os.system`, is refused before it runs).
Every record is then validated (shapes, dtypes, label range, class names) before it becomes a tensor.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.atomic import atomic_write_json, remove, retry_busy, sha256_file
from core.data.download import OFFLINE_ENV, DownloadLimits, OnDownload, fetch
from core.data.split import Split

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE, META_FILE, MANIFEST = "test_batch", "batches.meta", "manifest.json"
CIFAR_CLASSES: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer",
                                  "dog", "frog", "horse", "ship", "truck")

_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's array-reconstruction function, whatever module it lives in
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
            ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): __import__("codecs").encode}  # protocol-2 pickles spell bytes this way


class CifarUnavailable(RuntimeError):
    """CIFAR-10 is missing, corrupt, or unsafe; the message says why in plain words."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays are allowed") from None


def safe_unpickle(data: bytes) -> object:
    """Unpickle CIFAR's python batches: numpy arrays, lists, dicts, strings, numbers; nothing that runs code."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


@dataclass(frozen=True)
class CifarData:
    description: str
    train: Split  # images (N, 3, 32, 32) uint8, labels (N,) int64
    test: Split
    classes: tuple[str, ...] = CIFAR_CLASSES


def cifar_dir(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER


def how_to_get(data_dir: Path) -> str:
    return (f"While online, run `python -m core.data.cifar --download`, or download "
            f"https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz yourself, extract it and run "
            f"`python -m core.data.cifar --adopt` so that {cifar_dir(data_dir)} holds data_batch_1..5, test_batch, "
            f"batches.meta and a manifest.")


def write_manifest(folder: Path) -> None:
    """Record the sha256 of every batch file (done after a verified download, or by --adopt)."""
    names = (*TRAIN_FILES, TEST_FILE, META_FILE)
    atomic_write_json(Path(folder) / MANIFEST, {n: sha256_file(Path(folder) / n) for n in names})


def _batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        record = safe_unpickle(path.read_bytes())
    except Exception as e:  # noqa: BLE001 - a refused or broken pickle is a corrupt file
        raise CifarUnavailable(f"{path.name} cannot be read safely ({e})") from e
    if not isinstance(record, dict) or "data" not in record or "labels" not in record:
        raise CifarUnavailable(f"{path.name} is not a CIFAR batch (no data/labels)")
    data, labels = record["data"], record["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise CifarUnavailable(f"{path.name}: data must be a uint8 array (N, 3072)")
    if not isinstance(labels, list) or len(labels) != len(data) or \
            not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10 for v in labels):
        raise CifarUnavailable(f"{path.name}: labels must be {len(data)} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)  # (N, 3, 32, 32), (N,)


def load_folder(folder: Path) -> CifarData:
    """Decode a verified cifar-10-batches-py folder; raises CifarUnavailable with the reason."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())  # bytes: UTF-8 whatever the platform
    except (OSError, ValueError) as e:
        raise CifarUnavailable(f"{folder / MANIFEST} is missing or unreadable ({e})") from e
    names = (*TRAIN_FILES, TEST_FILE, META_FILE)
    if not isinstance(manifest, dict):
        raise CifarUnavailable(f"{folder / MANIFEST} is not a manifest")
    bad = [n for n in names if not (folder / n).is_file() or sha256_file(folder / n) != manifest.get(n)]
    if bad:
        raise CifarUnavailable(f"checksum mismatch or missing file in {folder}: {', '.join(bad)}")
    try:
        meta = safe_unpickle((folder / META_FILE).read_bytes())
    except Exception as e:  # noqa: BLE001 - whatever the unpickler refuses or fails on is a corrupt file
        raise CifarUnavailable(f"{META_FILE} cannot be read safely ({e})") from e
    classes = meta.get("label_names") if isinstance(meta, dict) else None
    if not (isinstance(classes, list) and len(classes) == 10 and all(isinstance(c, str) for c in classes)):
        raise CifarUnavailable(f"{META_FILE} must name 10 classes")
    parts = [_batch(folder / n) for n in TRAIN_FILES]
    x_test, y_test = _batch(folder / TEST_FILE)
    x = torch.from_numpy(np.concatenate([p[0] for p in parts]))  # (N, 3, 32, 32) uint8
    y = torch.from_numpy(np.concatenate([p[1] for p in parts]))  # (N,)
    return CifarData(f"CIFAR-10: {len(y):,} train / {len(y_test):,} test, from {folder}",
                     Split(x.contiguous(), y), Split(torch.from_numpy(x_test).contiguous(), torch.from_numpy(y_test)),
                     tuple(classes))


CIFAR_LIMITS = DownloadLimits(connect_s=10.0, read_s=30.0, total_s=1800.0)  # 163 MB


def download_cifar(data_dir: Path, on_progress: OnDownload | None = None,
                   limits: DownloadLimits = CIFAR_LIMITS) -> Path:
    """A bounded download (core.data.fetch: connect/read timeouts, a total deadline) of torchvision's archive,
    torchvision's md5 checks and extraction into a temp folder, then one move into place."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity, extract_archive

    report = on_progress or (lambda f, m: None)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-cifar-", dir=data_dir))
    try:
        report(0.0, "Downloading CIFAR-10 (163 MB)")
        archive = tmp / CIFAR10.filename
        fetch(CIFAR10.url, archive, limits, time.monotonic() + limits.total_s)
        if not check_integrity(str(archive), CIFAR10.tgz_md5):
            raise CifarUnavailable(f"{CIFAR10.filename} failed its md5 check")
        extract_archive(str(archive), str(tmp))
        extracted = tmp / FOLDER
        for name, md5 in (*CIFAR10.train_list, *CIFAR10.test_list, (CIFAR10.meta["filename"], CIFAR10.meta["md5"])):
            if not check_integrity(str(extracted / name), md5):
                raise CifarUnavailable(f"{name} failed its md5 check")
        write_manifest(extracted)
        target = cifar_dir(data_dir)
        if os.path.lexists(target):
            remove(target)
        retry_busy(os.replace, extracted, target)  # Windows: retried while a scanner looks at the new files
        report(1.0, "CIFAR-10 downloaded and verified")
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_cifar10(data_dir: Path, allow_download: bool = False,
                 on_progress: OnDownload | None = None) -> tuple[CifarData | None, str]:
    """(data, '') when CIFAR-10 is here (or downloadable), else (None, what is missing and how to get it)."""
    folder = cifar_dir(data_dir)
    if not folder.is_dir() and allow_download and os.environ.get(OFFLINE_ENV) != "1":
        try:
            download_cifar(data_dir, on_progress)
        except Exception as e:  # noqa: BLE001 - any download failure is explained, not raised
            return None, f"CIFAR-10 could not be downloaded ({e}). {how_to_get(data_dir)}"
    if not folder.is_dir():
        return None, f"CIFAR-10 is not on this machine ({folder} does not exist). {how_to_get(data_dir)}"
    try:
        return load_folder(folder), ""
    except CifarUnavailable as e:
        return None, f"CIFAR-10 on disk cannot be used: {e}. Delete {folder} and get it again. {how_to_get(data_dir)}"


def _main() -> None:
    import argparse

    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    from core.config import Paths

    parser = argparse.ArgumentParser(description="Fetch or check CIFAR-10 for the transfer-learning page.")
    parser.add_argument("--download", action="store_true", help="download CIFAR-10 now")
    parser.add_argument("--adopt", action="store_true", help="verify an extracted folder (md5) and write its manifest")
    args = parser.parse_args()
    data_dir = Paths.from_env().data
    if args.adopt:
        folder = cifar_dir(data_dir)
        files = (*CIFAR10.train_list, *CIFAR10.test_list, (CIFAR10.meta["filename"], CIFAR10.meta["md5"]))
        bad = [n for n, md5 in files if not check_integrity(str(folder / n), md5)]
        if bad:
            raise SystemExit(f"md5 mismatch or missing in {folder}: {', '.join(bad)}")
        write_manifest(folder)
    data, note = load_cifar10(data_dir, allow_download=args.download,
                              on_progress=lambda f, m: print(f"[{f:4.0%}] {m}"))
    print(data.description if data else note)


if __name__ == "__main__":
    _main()
