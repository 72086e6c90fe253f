"""CIFAR-10 as uint8 tensors (N, 3, 32, 32), decoded once.

Download (`download_cifar`, the app's button and `python -m core.data.cifar --download` alike): the archive over
the one bounded transfer (core.data.download.fetch: mirror setting, connect/stall/total bounds) into a temp folder
beside the target, under the data folder's download lock; its md5 and every batch file's md5 checked against
torchvision's list; only the expected files extracted; then one `os.replace` into place, with a manifest of
sha256s. Any failure removes the temp folder, and a killed download's temp folder is swept by the next one.

Reading: CIFAR's python batches are pickles, so they are read with a restricted unpickler that resolves
only numpy's array-reconstruction globals (anything else, e.g. `os.system`, is refused before it runs).
Every record is then validated (shapes, dtypes, label range, class names) before it becomes a tensor.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from core.atomic import TMP_PREFIX, atomic_write_json, remove, retry_busy, sha256_file
from core.data.download import DownloadError, DownloadLimits, OnDownload, _download_lock, _sweep, fetch, offline
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


CIFAR_LIMITS = DownloadLimits(connect_s=10.0, read_s=30.0, total_s=1800.0)
CIFAR_MB = 162.6  # the archive, in MiB (170,498,071 bytes)
COMMAND = "python -m core.data.cifar --download"


@dataclass(frozen=True)
class CifarSource:
    """Where the archive comes from and what it must hash to (torchvision's own list)."""

    url: str
    archive_md5: str
    files: tuple[tuple[str, str], ...]  # (batch file name, md5) for data_batch_1..5, test_batch, batches.meta


def official_source() -> CifarSource:
    from torchvision.datasets import CIFAR10

    files = (*CIFAR10.train_list, *CIFAR10.test_list, (CIFAR10.meta["filename"], CIFAR10.meta["md5"]))
    return CifarSource(CIFAR10.url, CIFAR10.tgz_md5, tuple((n, m) for n, m in files))


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _extract(archive: Path, out: Path, names: set[str]) -> None:
    """Only the expected batch files, as plain files into `out` (no path in the archive is ever followed)."""
    out.mkdir()
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar:
            p = PurePosixPath(m.name)
            if m.isfile() and len(p.parts) == 2 and p.parts[0] == FOLDER and p.name in names and m.size < 1 << 28:
                with tar.extractfile(m) as src, open(out / p.name, "wb") as dst:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, dst)


def download_cifar(data_dir: Path, on_progress: OnDownload | None = None, limits: DownloadLimits = CIFAR_LIMITS,
                   source: CifarSource | None = None) -> Path:
    """Download, verify (md5 of the archive and of every batch file) and move CIFAR-10 into place; raises
    DownloadError with a plain sentence, leaving no partial files."""
    report = on_progress or (lambda f, m: None)
    source = source or official_source()
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + limits.total_s
    with _download_lock(data_dir, blocking=False) as held:
        if not held:
            raise DownloadError("Another download into this data folder is running (another session or program); "
                                "try again when it has finished.")
        _sweep(data_dir)  # temp folders of downloads that were killed
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "cifar-", dir=data_dir))
        try:
            archive = tmp / "cifar-10-python.tar.gz"
            report(0.0, f"Downloading CIFAR-10 ({CIFAR_MB:.0f} MB)")
            fetch(source.url, archive, limits, deadline, on_bytes=lambda done, total: report(
                0.95 * done / total if total else 0.0,
                f"Downloading CIFAR-10: {done / 2**20:.1f} of {total / 2**20:.1f} MB"))
            report(0.95, "Checking CIFAR-10's checksums")
            if _md5(archive) != source.archive_md5:
                raise DownloadError("The downloaded CIFAR-10 archive failed its md5 check (it is not the official "
                                    "file), so it was deleted; try again, or check the mirror (PTCE_DOWNLOAD_BASE).")
            extracted = tmp / FOLDER
            _extract(archive, extracted, {n for n, _ in source.files})
            archive.unlink()
            bad = [n for n, md5 in source.files if not (extracted / n).is_file() or _md5(extracted / n) != md5]
            if bad:
                raise DownloadError(f"CIFAR-10's {', '.join(bad)} failed the md5 check, so nothing was kept.")
            write_manifest(extracted)
            target = cifar_dir(data_dir)
            if os.path.lexists(target):
                remove(target)
            retry_busy(os.replace, extracted, target)  # Windows: retried while a scanner looks at the new files
            report(1.0, "CIFAR-10 downloaded and verified")
            return target
        except OSError as e:
            if isinstance(e, DownloadError):
                raise
            raise DownloadError(f"CIFAR-10 could not be written to {data_dir}: {e.strerror or e}.") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def present(data_dir: Path) -> bool:
    """Whether a downloaded (or adopted) CIFAR-10 folder is here; load_folder verifies it."""
    return (cifar_dir(data_dir) / MANIFEST).is_file()


def load_cifar10(data_dir: Path, allow_download: bool = False,
                 on_progress: OnDownload | None = None) -> tuple[CifarData | None, str]:
    """(data, '') when CIFAR-10 is here (or downloadable), else (None, what is missing and how to get it)."""
    folder = cifar_dir(data_dir)
    if not folder.is_dir() and allow_download and not offline():
        try:
            download_cifar(data_dir, on_progress)
        except DownloadError as e:
            return None, f"CIFAR-10 could not be downloaded: {e} {how_to_get(data_dir)}"
    if not folder.is_dir():
        return None, f"CIFAR-10 is not on this machine ({folder} does not exist). {how_to_get(data_dir)}"
    try:
        return load_folder(folder), ""
    except CifarUnavailable as e:
        return None, f"CIFAR-10 on disk cannot be used: {e}. Delete {folder} and get it again. {how_to_get(data_dir)}"


def _main() -> None:
    import argparse

    from core.config import Paths

    parser = argparse.ArgumentParser(description="Fetch or check CIFAR-10 for the transfer-learning page.")
    parser.add_argument("--download", action="store_true", help="download CIFAR-10 now (as the app's button does)")
    parser.add_argument("--adopt", action="store_true", help="verify an extracted folder (md5) and write its manifest")
    args = parser.parse_args()
    data_dir = Paths.from_env().data
    if args.adopt:
        folder = cifar_dir(data_dir)
        bad = [n for n, md5 in official_source().files if not (folder / n).is_file() or _md5(folder / n) != md5]
        if bad:
            raise SystemExit(f"md5 mismatch or missing in {folder}: {', '.join(bad)}")
        write_manifest(folder)
    if args.download and not present(data_dir):
        try:
            download_cifar(data_dir, lambda f, m: print(f"[{f:4.0%}] {m}", end="\r", flush=True))
            print()
        except DownloadError as e:
            raise SystemExit(f"\n{e}") from None
    data, note = load_cifar10(data_dir)
    print(data.description if data else note)


if __name__ == "__main__":
    _main()
