"""Run export/import (core/runs/archive.py) and run names (core/runs/names.py): round trips and hostile files."""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import time
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_bytes

from core.models.registry import ModelConfig, build_model
from core.runs.archive import ArchiveError, export_run, import_run, read_archive
from core.runs.names import MAX_NAME, RunNames
from core.runs.store import META, WEIGHTS, RunStore
from core.training.config import TrainConfig
from core.training.record import History, Run
from support import state_equal


def make_run(hidden: int = 16, seed: int = 3, epochs: int = 2) -> Run:
    cfg = TrainConfig(model=ModelConfig("net2", hidden), epochs=epochs, seed=seed, batch_size=512)
    model = build_model(cfg.model, torch.Generator().manual_seed(seed))
    spe = 3
    history = History([2.3 - 0.1 * i for i in range(spe * epochs)], spe, [1.0 - 0.1 * e for e in range(epochs)],
                      [0.5 + 0.1 * e for e in range(epochs)])
    metrics = {"test_acc": 0.6, "test_loss": 0.9, "train_s": 1.5, "wall_s": 2.0, "samples_per_s": 100.0,
               "device": "CPU · 2 threads", "n_train": 4000, "n_test": 1000, "concurrent_runs": 2}
    return Run(cfg, model.state_dict(), history, metrics)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def zip_of(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def entries_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def test_export_import_round_trip_keeps_every_tensor_and_field(store, monkeypatch):
    run = make_run()
    store.save(run)
    created = store.summaries()[0].created
    data = export_run(store.load(run.config), created)
    store.delete(run.config)
    assert store.summaries() == []
    imported = import_run(store, data)
    back = store.load(run.config)
    for r in (imported, back):
        assert r.config == run.config and r.history == run.history and r.metrics == run.metrics
        assert r.status == run.status and state_equal(r.state, run.state)
        assert all(r.state[k].dtype == run.state[k].dtype for k in run.state)
    (summary,) = store.summaries()
    assert summary.created == created and summary.metrics["concurrent_runs"] == 2
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)  # an export an hour later: the zip's dates are the run's own
    assert export_run(back, created) == data  # the same run exports to the same bytes


def test_import_of_a_run_already_stored_changes_nothing(store):
    run = make_run()
    store.save(run)
    before = snapshot(store.root)
    with pytest.raises(ArchiveError, match="stored already"):
        import_run(store, export_run(run, 1.0))
    assert snapshot(store.root) == before


def _refused(store: RunStore, data: bytes, match: str) -> None:
    before = snapshot(store.root)
    with pytest.raises(ArchiveError, match=match):
        import_run(store, data)
    assert snapshot(store.root) == before and store.summaries() == []


@pytest.mark.parametrize("name", ["../run.json", "/etc/run.json", "sub/../../weights.safetensors", "..\\run.json",
                                  "C:/run.json"])
def test_path_traversal_names_are_refused(store, name):
    good = entries_of(export_run(make_run(), 1.0))
    _refused(store, zip_of({name: good[META], WEIGHTS: good[WEIGHTS]}), "outside itself")
    assert not (store.root.parent / "run.json").exists()


def test_extra_or_missing_entries_are_refused(store):
    good = entries_of(export_run(make_run(), 1.0))
    _refused(store, zip_of({**good, "evil.py": b"print(1)"}), "holds 3 entries")
    _refused(store, zip_of({META: good[META]}), "missing")
    _refused(store, zip_of({META: good[META], "notes.txt": b"x"}), "unexpected entry")


def test_a_zip_bomb_is_refused_before_decompressing(store):
    bomb = zip_of({META: b" " * (15 << 20), WEIGHTS: b"x"})
    _refused(store, bomb, "zip bomb")
    big = zip_of({META: os.urandom(17 << 20), WEIGHTS: b"x"}, zipfile.ZIP_STORED)
    _refused(store, big, "declares")


def test_an_entry_larger_than_its_declared_size_is_refused(store):
    good = entries_of(export_run(make_run(), 1.0))
    data = bytearray(zip_of({META: good[META], WEIGHTS: good[WEIGHTS]}))
    # declare a smaller uncompressed size for run.json in both its local header and the central directory
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    true_size = struct.unpack_from("<I", data, local + 22)[0]
    struct.pack_into("<I", data, local + 22, true_size // 2)
    struct.pack_into("<I", data, central + 24, true_size // 2)
    _refused(store, bytes(data), "damaged|header says")


class Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ptce-archive-pwned",))


def test_a_pickle_instead_of_safetensors_never_runs(store, tmp_path):
    run = make_run()
    good = entries_of(export_run(run, 1.0))
    blob = pickle.dumps({"fc1.weight": Payload()})
    record = json.loads(good[META])
    record["weights_sha256"] = __import__("hashlib").sha256(blob).hexdigest()
    _refused(store, zip_of({META: json.dumps(record).encode(), WEIGHTS: blob}), "not a safetensors file")
    assert not Path("/tmp/ptce-archive-pwned").exists()


def _with_weights(run: Run, state: dict[str, torch.Tensor]) -> bytes:
    good = entries_of(export_run(run, 1.0))
    blob = save_bytes(state)
    record = json.loads(good[META])
    record["weights_sha256"] = __import__("hashlib").sha256(blob).hexdigest()
    return zip_of({META: json.dumps(record).encode(), WEIGHTS: blob})


def test_weights_with_wrong_shapes_or_names_are_incompatible(store):
    run = make_run(hidden=16)
    other = make_run(hidden=32).state
    _refused(store, _with_weights(run, other), "incompatible.*shape")
    renamed = {("x." + k): v for k, v in run.state.items()}
    _refused(store, _with_weights(run, renamed), "incompatible.*names")
    nan = {k: v.clone() for k, v in run.state.items()}
    next(iter(nan.values())).fill_(float("nan"))
    _refused(store, _with_weights(run, nan), "NaN")


def test_bad_json_bad_records_and_wrong_checksums_are_refused(store):
    run = make_run()
    good = entries_of(export_run(run, 1.0))
    _refused(store, zip_of({META: b"{not json", WEIGHTS: good[WEIGHTS]}), "not a valid run record")
    _refused(store, zip_of({META: b"[]", WEIGHTS: good[WEIGHTS]}), "not a valid run record")
    record = json.loads(good[META])
    record["config"]["model"]["hidden"] = 10**9
    _refused(store, zip_of({META: json.dumps(record).encode(), WEIGHTS: good[WEIGHTS]}), "not a valid run record")
    record = json.loads(good[META])
    record["metrics"]["concurrent_runs"] = 0
    _refused(store, zip_of({META: json.dumps(record).encode(), WEIGHTS: good[WEIGHTS]}), "concurrent_runs")
    tampered = bytearray(good[WEIGHTS])
    tampered[-1] ^= 1
    _refused(store, zip_of({META: good[META], WEIGHTS: bytes(tampered)}), "checksum")
    _refused(store, b"PK\x03\x04 not really a zip", "not a zip")
    _refused(store, b"", "not a zip")


def test_read_archive_is_pure():
    run = make_run()
    back, created = read_archive(export_run(run, 12.5))
    assert created == 12.5 and state_equal(back.state, run.state) and back.config == run.config


def test_names_are_stored_atomically_and_validated_on_read(tmp_path):
    names = RunNames(tmp_path)
    assert names.all() == {}
    key = make_run().config.key()
    assert names.set(key, "  my\nfirst   run\x00 ") == "my first run"
    assert RunNames(tmp_path).all() == {key: "my first run"}
    assert len(names.set(key, "x" * 500)) == MAX_NAME
    names.set(key, "")
    assert names.all() == {}
    with pytest.raises(ValueError):
        names.set("../evil", "x")
    for hostile in (b"[]", b"null", b"{bad", b'{"zz": "x", "' + key.encode() + b'": 5}', b"\xff\xfe"):
        (tmp_path / "names.json").write_bytes(hostile)
        assert names.all() == {}
    (tmp_path / "names.json").write_text(json.dumps({key: "ok", "0" * 16: "y" * 200}))
    assert names.all() == {key: "ok"}
    names.forget(key)
    assert names.all() == {}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
