"""Export a stored run as a zip, and import such a zip back, validated as the hostile file it is.

An archive holds exactly the two files of a store entry: `run.json` (the record, checked by `parse_record`) and
`weights.safetensors` (checked against the config's architecture by the store's `decode_weights`). Import refuses,
changing nothing: anything that is not a zip; names other than those two (path traversal, absolute paths,
folders, duplicates); encrypted entries or unknown compression; declared sizes over the bounds or compression
ratios of a zip bomb, before anything is decompressed, and entries whose actual size differs from the declared
one; a record that fails the schema; weights that are not safetensors (a pickle never runs), do not match the
record's checksum, or have names, shapes or dtypes the architecture does not have.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import PurePosixPath

from safetensors.torch import save as save_bytes

from core.runs.kinds import KINDS, kind_of
from core.runs.schema import Record, parse_record
from core.runs.store import META, WEIGHTS, CorruptRun, IncompatibleWeights, RunStore, decode_weights
from core.training.record import RecordError, Run
from core.zips import open_zip, read_entry

# core.zips.MAX_ARCHIVE_BYTES holds the largest export (a whole ResNet-18 transfer run, 44.8 MB of weights, plus its
# history) with room to spare; it is the import widget's cap and the server's maxUploadSize: tests/test_outside_uploads.
MAX_META_BYTES = 16 << 20  # run.json, uncompressed
HEADER_BYTES = 1 << 20  # safetensors header allowance over the tensors' own bytes
ZIP_EPOCH = 315_532_800.0  # 1980-01-01 UTC: the earliest date a zip entry can hold
ZIP_LAST = 4_354_819_199.0  # 2107-12-31 23:59:59 UTC: the latest (run.json keeps the run's own date either way)


class ArchiveError(ValueError):
    """An archive that cannot be imported; the message says why in plain words."""


def export_run(run: Run, created: float) -> bytes:
    """The zip of a run: `run.json` (config, history, metrics, status, date, weights checksum) and its weights."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in run.state.items()}
    blob = save_bytes(state, metadata={"key": run.config.key()})
    record = Record(kind_of(run.config).name, run.config, run.history, dict(run.metrics), created, run.status,
                    hashlib.sha256(blob).hexdigest())
    stamp = time.gmtime(min(max(created, ZIP_EPOCH), ZIP_LAST))[:6]  # the run's date: same run, same bytes
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo(META, stamp), json.dumps(record.to_dict(), indent=1, sort_keys=True),
                    compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo(WEIGHTS, stamp), blob, compress_type=zipfile.ZIP_STORED)  # floats barely compress
    return buf.getvalue()


def _check_names(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or ":" in name or "\\" in name:
            raise ArchiveError(f"refused: the archive names a file outside itself ({name!r})")
        if name not in (META, WEIGHTS) or info.is_dir():
            raise ArchiveError(f"refused: unexpected entry {name!r} (an exported run holds only {META} and {WEIGHTS})")
        if name in by_name:
            raise ArchiveError(f"refused: {name} appears twice")
        by_name[name] = info
    missing = [n for n in (META, WEIGHTS) if n not in by_name]
    if missing:
        raise ArchiveError(f"this is not a run exported by the app ({' and '.join(missing)} missing)")
    return by_name


def read_archive(data: bytes) -> tuple[Run, float]:
    """(run, created) of an exported run, fully validated; ArchiveError says what is wrong."""
    zf = open_zip(data, ArchiveError)
    infos = zf.infolist()
    with zf:
        if len(infos) > 2:
            raise ArchiveError(f"refused: the archive holds {len(infos)} entries; an exported run holds 2")
        entries = _check_names(infos)
        meta = read_entry(zf, entries[META], MAX_META_BYTES, ArchiveError)
        try:
            record = parse_record(json.loads(meta))
        except (RecordError, ValueError, RecursionError) as e:  # JSON and UTF-8 errors are ValueErrors
            raise ArchiveError(f"{META} is not a valid run record ({str(e)[:200]})") from e
        expected = KINDS[record.kind].expected_state(record.config)
        limit = sum(t.numel() * t.element_size() for t in expected.values()) + HEADER_BYTES
        blob = read_entry(zf, entries[WEIGHTS], limit, ArchiveError)
    try:
        state = decode_weights(blob, record.weights_sha256, expected)
    except IncompatibleWeights as e:
        raise ArchiveError(f"incompatible weights for {record.config.label()}: {e}") from e
    except CorruptRun as e:
        raise ArchiveError(f"unusable weights: {e}") from e
    return Run(record.config, state, record.history, record.metrics, record.status), record.created


def import_run(store: RunStore, data: bytes) -> Run:
    """Validate an exported run and add it to the store; ArchiveError (and no change) when it is bad or when a
    run with the same settings is stored already."""
    run, created = read_archive(data)
    if not store.add(run, created):
        raise ArchiveError(f"a run with these settings is stored already ({run.config.label()}); nothing changed")
    return run
