"""Export the learner's classes as a zip, and import such a zip back, validated as the hostile file it is (as
core.runs.archive does for runs).

An archive holds `dataset.json` (the classes: names and photo names) and `photos/<sha256>.png` for each photo.
Import refuses, changing nothing: anything that is not a zip; more entries than a dataset can hold; names other than
those (path traversal, absolute paths, folders, duplicates); encrypted entries or unknown compression; declared
sizes over the bounds or compression ratios of a zip bomb, before anything is decompressed, and entries whose
actual size differs from the declared one; a dataset that fails its schema; a photo that is missing, unreferenced,
not a 256×256 RGB PNG, or whose pixels do not hash to its name.
"""
from __future__ import annotations

import io
import json
import re
import zipfile

from core.data.uploads import UploadError
from core.transfer.own.dataset import MAX_PHOTOS, Dataset, OwnDataError
from core.transfer.own.photos import from_png
from core.transfer.own.store import MAX_PHOTO_BYTES, OwnStore
from core.zips import MAX_ARCHIVE_BYTES, check_entry, open_zip, read_entry

META = "dataset.json"
MAX_META_BYTES = 1 << 20
MAX_ARCHIVE_MB = MAX_ARCHIVE_BYTES >> 20  # the upload widget's cap
_PHOTO = re.compile(r"photos/([0-9a-f]{64})\.png")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # every entry's date: the same classes give the same bytes


class DatasetArchiveError(ValueError):
    """An archive that cannot be imported; the message says why in plain words."""


def export_dataset(store: OwnStore, ds: Dataset) -> bytes:
    """The zip of a dataset: dataset.json and every photo it names (PNGs are stored, not compressed again)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo(META, ZIP_EPOCH), json.dumps(ds.to_dict(), indent=1, ensure_ascii=False),
                    compress_type=zipfile.ZIP_DEFLATED)
        for name, _ in ds.rows():
            zf.writestr(zipfile.ZipInfo(f"photos/{name}.png", ZIP_EPOCH), store.photo_bytes(name),
                        compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def read_dataset(data: bytes) -> tuple[Dataset, dict[str, bytes]]:
    """(dataset, {photo name: PNG bytes}) of an exported dataset, fully validated; DatasetArchiveError says why not."""
    zf = open_zip(data, DatasetArchiveError)
    infos = zf.infolist()
    with zf:
        if len(infos) > MAX_PHOTOS + 1:
            raise DatasetArchiveError(f"refused: the archive holds {len(infos):,} entries; a dataset holds at most "
                                      f"{MAX_PHOTOS} photos and its dataset.json")
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if name != META and not _PHOTO.fullmatch(name) or info.is_dir():
                raise DatasetArchiveError(f"refused: unexpected entry {name[:80]!r} (an exported dataset holds only "
                                          f"{META} and photos/<sha256>.png)")
            if name in by_name:
                raise DatasetArchiveError(f"refused: {name} appears twice")
            check_entry(info, MAX_META_BYTES if name == META else MAX_PHOTO_BYTES, DatasetArchiveError)
            by_name[name] = info
        if META not in by_name:
            raise DatasetArchiveError(f"this is not a dataset exported by the app ({META} missing)")
        try:
            ds = Dataset.from_dict(json.loads(read_entry(zf, by_name.pop(META), MAX_META_BYTES, DatasetArchiveError)))
        except (OwnDataError, ValueError, RecursionError) as e:
            raise DatasetArchiveError(f"{META} is not a valid dataset ({str(e)[:200]})") from e
        named = {f"photos/{p}.png" for p, _ in ds.rows()}
        if set(by_name) != named:
            missing, extra = sorted(named - set(by_name)), sorted(set(by_name) - named)
            raise DatasetArchiveError(f"refused: the photos do not match {META} ({len(missing)} missing, "
                                      f"{len(extra)} not in any class)")
        photos = {}
        for name, info in by_name.items():
            blob = read_entry(zf, info, MAX_PHOTO_BYTES, DatasetArchiveError)
            sha = _PHOTO.fullmatch(name).group(1)  # type: ignore[union-attr]
            try:
                from_png(blob, sha)
            except UploadError as e:
                raise DatasetArchiveError(f"refused: {name} is not a photo kept by this app ({e})") from e
            photos[sha] = blob
    return ds, photos


def import_dataset(store: OwnStore, data: bytes) -> Dataset:
    """Validate an exported dataset, keep its photos and make it the working dataset (the one it replaces is kept
    as a saved set); DatasetArchiveError (and no change) when the file is bad."""
    ds, photos = read_dataset(data)
    for sha, blob in photos.items():
        if not store.has_photo(sha):
            store.put_photo(from_png(blob, sha))
    return store.replace(ds)
