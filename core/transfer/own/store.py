"""The learner's classes on disk: photos by content, the working dataset, saved sets and the features cache.
Every file in it is treated as hostile; every write is atomic (core.atomic).

Layout under the root (`own_root(paths)`):
    photos/<sha256>.png                       a kept photo (256×256 RGB), named by its pixels: stored once
    dataset.json                              the working dataset (core.transfer.own.dataset)
    sets/<digest>.json                        saved sets: every trained run's dataset, every set that was replaced
    features/<backbone>/<sha256>.safetensors  {view: (512,)} of one photo under one backbone
    .lock                                     held while the working dataset is read, edited and written

A damaged dataset file is set aside (renamed .corrupt-<time>.json) and the route starts again from two empty
classes, saying so; a photo whose file is missing or damaged leaves its class, saying so. Features are a cache:
a damaged file is computed again.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from core.atomic import atomic_write_bytes, atomic_write_json
from core.config import Paths
from core.data.uploads import UploadError
from core.locks import hold
from core.transfer.own.dataset import Dataset, OwnClass, OwnDataError, starting
from core.transfer.own.photos import VIEWS, from_png, photo_name, png

FEATURES = 512
MAX_JSON_BYTES = 1 << 20
MAX_PHOTO_BYTES = 1 << 20  # a 256×256 RGB PNG is at most ~200 KB
MAX_SETS = 50  # saved sets listed (newest first); older ones stay on disk
_HEX16 = re.compile(r"[0-9a-f]{16}")


def own_root(paths: Paths) -> Path:
    return paths.root / "own-classes"


@dataclass(frozen=True)
class SavedSet:
    digest: str
    dataset: Dataset
    saved: float  # unix time


class OwnStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------ photos
    def _photo_path(self, name: str) -> Path:
        return self.root / "photos" / f"{name}.png"

    def put_photo(self, photo: np.ndarray) -> str:
        """Keep a (256, 256, 3) photo; its name. Writing an existing photo again is a no-op."""
        name = photo_name(photo)
        path = self._photo_path(name)
        if not path.is_file():
            atomic_write_bytes(path, png(photo))
        return name

    def has_photo(self, name: str) -> bool:
        return self._photo_path(name).is_file()

    def photo(self, name: str) -> np.ndarray | None:
        """A kept photo's pixels, verified (its pixels hash to its name), or None when missing or damaged."""
        path = self._photo_path(name)
        try:
            if path.stat().st_size > MAX_PHOTO_BYTES:
                return None
            return from_png(path.read_bytes(), name)
        except (OSError, UploadError):
            return None

    def photo_bytes(self, name: str) -> bytes:
        return self._photo_path(name).read_bytes()

    # ------------------------------------------------------------ the working dataset
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The working dataset's lock (threads and processes, core.locks). A store that can't be written has no lock
        file to open: it is read unlocked (nothing can change it from here), and every write says why it failed."""
        with ExitStack() as stack:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                stack.enter_context(hold(self.root / ".lock"))
            except OSError:
                pass
            yield

    def _read_json(self, path: Path) -> object:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise OwnDataError(f"{path.name} is larger than {MAX_JSON_BYTES >> 10} KB")
        try:
            return json.loads(path.read_bytes())
        except (ValueError, RecursionError) as e:
            raise OwnDataError(f"{path.name} is not valid JSON") from e

    def _read_working(self) -> tuple[Dataset, list[str]]:
        path = self.root / "dataset.json"
        if not path.is_file():
            return self._fresh(), []
        try:
            ds = Dataset.from_dict(self._read_json(path))
        except (OwnDataError, OSError) as e:
            aside = path.with_name(f"dataset.corrupt-{int(time.time())}.json")
            try:
                path.rename(aside)
            except OSError:
                pass
            return self._fresh(), [f"Your saved classes could not be read ({e}); the file was set aside as "
                                   f"{aside.name} and the route starts again from two empty classes."]
        return self._present(ds)

    def _fresh(self) -> Dataset:
        """Two empty classes, written at once so their ids stay (the caller holds the lock)."""
        ds = starting()
        try:
            atomic_write_json(self.root / "dataset.json", ds.to_dict())
        except OSError:
            pass  # a store that can't be written: every edit says so
        return ds

    def _present(self, ds: Dataset) -> tuple[Dataset, list[str]]:
        """`ds` without the photos whose files are missing, and a sentence per class that lost some."""
        notes, classes = [], []
        for c in ds.classes:
            here = tuple(p for p in c.photos if self.has_photo(p))
            if len(here) < len(c.photos):
                n = len(c.photos) - len(here)
                notes.append(f"{n} photo{'s' if n > 1 else ''} of “{c.name}” {'are' if n > 1 else 'is'} no longer on "
                             "disk and left the class.")
            classes.append(OwnClass(c.id, c.name, here))
        return Dataset(tuple(classes)), notes

    def dataset(self) -> tuple[Dataset, list[str]]:
        """(the working dataset, plain sentences about anything that had to be repaired)."""
        with self._locked():
            return self._read_working()

    def edit(self, change: Callable[[Dataset], Dataset]) -> Dataset:
        """Read the working dataset, apply `change` and write the result, under the lock (two tabs never lose each
        other's edits). `change` raising (OwnDataError) writes nothing."""
        with self._locked():
            ds, _ = self._read_working()
            new = change(ds)
            if new != ds or not (self.root / "dataset.json").is_file():
                atomic_write_json(self.root / "dataset.json", new.to_dict())
            return new

    def replace(self, ds: Dataset) -> Dataset:
        """Make `ds` the working dataset; the one it replaces is kept as a saved set first (nothing is lost)."""
        with self._locked():
            old, _ = self._read_working()
            if old.n_photos:
                self.save_set(old)
            atomic_write_json(self.root / "dataset.json", ds.to_dict())
            return ds

    # ------------------------------------------------------------ saved sets
    def save_set(self, ds: Dataset) -> str:
        key = ds.digest()
        path = self.root / "sets" / f"{key}.json"
        if not path.is_file():
            atomic_write_json(path, {"saved": time.time(), "dataset": ds.to_dict()})
        return key

    def _read_set(self, path: Path) -> SavedSet:
        d = self._read_json(path)
        if not isinstance(d, dict) or set(d) != {"saved", "dataset"} or isinstance(d["saved"], bool) \
                or not isinstance(d["saved"], (int, float)) or not 0 <= d["saved"] < 253_402_300_800:  # < year 10000
            raise OwnDataError("not a saved set")
        ds = Dataset.from_dict(d["dataset"])
        if ds.digest() != path.stem:
            raise OwnDataError("its name does not match its classes")
        return SavedSet(path.stem, ds, float(d["saved"]))

    def saved_set(self, key: str) -> SavedSet | None:
        if not _HEX16.fullmatch(key):
            return None
        try:
            return self._read_set(self.root / "sets" / f"{key}.json")
        except (OSError, OwnDataError):
            return None

    def saved_sets(self) -> list[SavedSet]:
        """The valid saved sets, newest first (at most MAX_SETS; a damaged one is skipped)."""
        folder = self.root / "sets"
        out = []
        for path in folder.glob("*.json") if folder.is_dir() else []:
            if _HEX16.fullmatch(path.stem):
                try:
                    out.append(self._read_set(path))
                except (OSError, OwnDataError):
                    continue
        return sorted(out, key=lambda s: s.saved, reverse=True)[:MAX_SETS]

    # ------------------------------------------------------------ features cache
    def _feature_path(self, backbone: str, photo: str) -> Path:
        return self.root / "features" / backbone / f"{photo}.safetensors"

    def cached_features(self, backbone: str, photo: str) -> dict[str, torch.Tensor]:
        """{view: (512,)} computed earlier for this photo under this backbone; {} when none (or a damaged file)."""
        path = self._feature_path(backbone, photo)
        try:
            if path.stat().st_size > 64 * FEATURES * 4:
                return {}
            state = load_tensors(path.read_bytes())
        except Exception:  # noqa: BLE001 - missing, unreadable or not safetensors: a cache miss
            return {}
        ok = all(k in VIEWS and v.shape == (FEATURES,) and v.dtype == torch.float32 and bool(torch.isfinite(v).all())
                 for k, v in state.items())
        return state if ok else {}

    def keep_features(self, backbone: str, photo: str, features: dict[str, torch.Tensor]) -> None:
        """Add views' features to a photo's cache file (rewritten whole, atomically)."""
        merged = {**self.cached_features(backbone, photo),
                  **{k: v.detach().to("cpu", torch.float32).contiguous() for k, v in features.items()}}
        atomic_write_bytes(self._feature_path(backbone, photo), save_tensors(merged))
