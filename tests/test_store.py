"""The run store against hostile files, a held lock, orphans of killed writers and SIGKILL in the middle of saves.

Every case builds its bad input itself. Runs here are made without training (a seeded model and a consistent
history), so the whole file takes seconds."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import core.atomic
import core.runs.kinds
import core.runs.store
from core.data.mnist import to_input
from core.models.inspection import predict_proba
from core.models.registry import ModelConfig
from core.runs.store import CORRUPT, CORRUPT_KEEP, OLD, RUN_TMP, RunStore
from core.training.loop import fit, load_model
from support import TINY, edit_meta, refuse, rewrite_weights, state_equal
from tools.fake_runs import STORE_CFG, kill_loop, make_run


def test_store_round_trip_is_exact_and_fast_to_find(sample, tmp_path):
    run = fit(TINY, sample, torch.device("cpu"))
    store = RunStore(tmp_path)
    store.save(run)
    back = store.load(TINY)
    assert back is not None and state_equal(back.state, run.state)
    assert back.history.step_loss == run.history.step_loss and back.metrics == run.metrics
    model = load_model(back, torch.device("cpu"))
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    x = to_input(sample.test.images[:8])
    torch.testing.assert_close(predict_proba(model, x).sum(1), torch.ones(8))
    [summary] = store.summaries()
    assert summary.config == TINY and summary.history.val_acc == run.history.val_acc


@pytest.mark.parametrize("damage", ["truncate_weights", "garbage_json", "truncate_json", "flip_weight_byte",
                                    "wrong_shapes"])
@pytest.mark.slow
def test_corrupt_store_entries_are_ignored_and_rebuilt(sample, tmp_path, damage):
    run = fit(TINY, sample, torch.device("cpu"))
    store = RunStore(tmp_path)
    store.save(run)
    folder = tmp_path / TINY.key()
    w, meta = folder / "weights.safetensors", folder / "run.json"
    if damage == "truncate_weights":
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    elif damage == "garbage_json":
        meta.write_bytes(b"\x00\xff not json")
    elif damage == "truncate_json":
        meta.write_text(meta.read_text()[:40])
    elif damage == "flip_weight_byte":
        blob = bytearray(w.read_bytes())
        blob[-3] ^= 0x01
        w.write_bytes(bytes(blob))
    elif damage == "wrong_shapes":  # a consistent entry whose weights belong to another architecture
        other = fit(replace(TINY, model=ModelConfig("net2", 32), epochs=1), sample, torch.device("cpu"))
        store.save(other)
        (tmp_path / other.config.key() / "weights.safetensors").replace(w)
        m = json.loads(meta.read_text())
        import hashlib
        m["weights_sha256"] = hashlib.sha256(w.read_bytes()).hexdigest()
        meta.write_text(json.dumps(m))
    assert store.load(TINY) is None and not folder.exists()
    calls = []
    rebuilt, trained = store.get_or_train(TINY, lambda: calls.append(1) or fit(TINY, sample, torch.device("cpu")))
    assert trained and calls == [1] and state_equal(rebuilt.state, run.state)
    assert store.load(TINY) is not None


@pytest.mark.slow
def test_same_config_requested_twice_at_once_trains_once(sample, tmp_path):
    store = RunStore(tmp_path)
    calls, results = [], []
    gate = threading.Event()

    def train():
        calls.append(1)
        gate.wait(5)
        return fit(TINY, sample, torch.device("cpu"))

    threads = [threading.Thread(target=lambda: results.append(store.get_or_train(TINY, train))) for _ in range(2)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(60)
    assert calls == [1]
    assert sorted(trained for _, trained in results) == [False, True]
    assert state_equal(results[0][0].state, results[1][0].state)


CFG = STORE_CFG


@pytest.fixture
def stored(tmp_path) -> tuple[RunStore, Path]:
    store = RunStore(tmp_path)
    store.save(make_run())
    return store, tmp_path / CFG.key()


def set_aside(root: Path) -> list[Path]:
    return sorted((root / CORRUPT).iterdir()) if (root / CORRUPT).is_dir() else []


def test_round_trip(stored):
    store, _ = stored
    back = store.load(CFG)
    assert back is not None and state_equal(back.state, make_run().state) and back.status == "ok"
    assert back.metrics == make_run().metrics and back.history == make_run().history
    [s] = store.summaries()
    assert s.config == CFG and s.status == "ok" and s.key == CFG.key()


@pytest.mark.parametrize("content", ["[]", "null", '"x"', "3", "true"])
def test_run_json_that_is_not_an_object_is_a_corrupt_run(stored, content):
    store, folder = stored
    (folder / "run.json").write_text(content)
    assert store.summaries() == [] and not folder.exists()  # listing alone sets it aside: no crash at restart
    assert store.load(CFG) is None
    [aside] = set_aside(folder.parent)
    assert "must hold an object" in (aside / "why.txt").read_text()
    assert "damaged" in store.last_problem(CFG)


@pytest.mark.parametrize("change", [
    lambda m: {**m, "metrics": {}},
    lambda m: {**m, "metrics": {**m["metrics"], "test_acc": "abc"}},
    lambda m: {**m, "metrics": {**m["metrics"], "test_acc": None}},
    lambda m: {**m, "metrics": {**m["metrics"], "test_acc": 1.5}},
    lambda m: {**m, "metrics": {**m["metrics"], "train_s": -1}},
    lambda m: {**m, "metrics": {**m["metrics"], "device": "x" * 10_000}},
    lambda m: {**m, "metrics": {**m["metrics"], "n_train": 1.5}},
    lambda m: {**m, "metrics": {**m["metrics"], "evil": 1}},
    lambda m: {**m, "created": "yesterday"},
    lambda m: {k: v for k, v in m.items() if k != "created"},
    lambda m: {**m, "config": {**m["config"], "optimizer": "evil"}},
    lambda m: {**m, "config": {**m["config"], "lr": "abc"}},
    lambda m: {**m, "config": []},
    lambda m: {**m, "history": {**m["history"], "val_acc": [0.5]}},  # one accuracy for two epochs
    lambda m: {**m, "history": {**m["history"], "steps_per_epoch": 0}},
    lambda m: {**m, "history": None},
    lambda m: {**m, "status": "diverged"},
    lambda m: {**m, "status": ["ok"]},
    lambda m: {**m, "kind": "pickle"},
    lambda m: {**m, "format": 99},
], ids=["metrics-empty", "acc-text", "acc-null", "acc-1.5", "negative-time", "long-device", "float-count",
        "unknown-metric", "created-text", "created-missing", "optimizer-evil", "lr-text", "config-list",
        "history-lengths", "spe-zero", "history-null", "status-diverged", "status-list", "kind-unknown", "format"])
def test_missing_or_mistyped_fields_are_a_corrupt_run(stored, change):
    store, folder = stored
    edit_meta(folder, change)
    assert store.summaries() == []
    assert store.load(CFG) is None and not folder.exists() and len(set_aside(folder.parent)) == 1


def test_planted_huge_config_is_never_listed_or_allocated(tmp_path, monkeypatch):
    huge = replace(CFG, model=ModelConfig("net2", hidden=10**9))
    folder = tmp_path / huge.key()
    folder.mkdir()
    save_file({"w": torch.zeros(2)}, str(folder / "weights.safetensors"))
    run = make_run()
    (folder / "run.json").write_text(json.dumps({
        "format": 1, "config": huge.to_dict(), "history": run.history.to_dict(), "metrics": run.metrics,
        "created": time.time(), "weights_sha256": hashlib.sha256((folder / "weights.safetensors").read_bytes())
        .hexdigest()}))
    built = []
    monkeypatch.setattr(core.runs.kinds, "build_model", lambda *a, **k: built.append(a) or pytest.fail("allocated"))
    store = RunStore(tmp_path)
    assert store.summaries() == []
    assert store.load(huge) is None and built == [] and not folder.exists()
    assert "hidden size must be between 1 and 512" in store.last_problem(huge)


@pytest.mark.parametrize("damage", ["int8", "nan", "inf"])
def test_weights_of_the_wrong_dtype_or_not_finite_are_refused(stored, damage):
    store, folder = stored
    state = make_run().state
    if damage == "int8":
        state = {k: v.to(torch.int8) for k, v in state.items()}
    else:
        state = {k: torch.full_like(v, float(damage)) for k, v in state.items()}
    rewrite_weights(folder, state)
    assert store.load(CFG) is None and not folder.exists()
    assert "damaged" in store.last_problem(CFG)


@pytest.mark.parametrize("damage", ["wrong-keys", "wrong-shapes"])
def test_incompatible_weights_are_set_aside_with_a_message(stored, damage):
    store, folder = stored
    state = make_run().state
    if damage == "wrong-keys":
        state = {f"layer.{k}": v for k, v in state.items()}
    else:
        state = make_run(replace(CFG, model=ModelConfig("net2", hidden=32))).state
    rewrite_weights(folder, state)
    assert store.load(CFG) is None and not folder.exists()
    assert store.last_problem(CFG).startswith("Incompatible weights were found for these settings and set aside")
    [aside] = set_aside(folder.parent)
    assert (aside / "weights.safetensors").is_file()  # kept for inspection, not deleted
    store.save(make_run())
    assert store.last_problem(CFG) == "" and store.load(CFG) is not None


def test_a_defective_entry_is_never_touched_while_its_lock_is_held(stored):
    """A page rerun must not remove an entry a writer is working on (it holds the per-key lock)."""
    store, folder = stored
    (folder / "run.json").write_text("[]")
    with store.lock(CFG):
        assert store.load(CFG) is None
        assert folder.exists() and set_aside(folder.parent) == []
    assert store.load(CFG) is None and not folder.exists()


def test_the_corrupt_folder_is_bounded(tmp_path):
    store = RunStore(tmp_path)
    for i in range(CORRUPT_KEEP + 5):
        cfg = replace(CFG, seed=i)
        store.save(make_run(cfg))
        (tmp_path / cfg.key() / "run.json").write_text("null")
        assert store.load(cfg) is None
    kept = set_aside(tmp_path)
    assert len(kept) == CORRUPT_KEEP and kept[-1].name.split("-")[1] == replace(CFG, seed=CORRUPT_KEEP + 4).key()


def test_did_not_learn_runs_are_stored_marked_and_diverged_ones_refused(tmp_path):
    store = RunStore(tmp_path)
    store.save(make_run(acc=0.1, status="did-not-learn"))
    assert store.load(CFG).status == "did-not-learn"
    assert [s.status for s in store.summaries()] == ["did-not-learn"]
    with pytest.raises(ValueError):
        store.save(make_run(seed=2, status="diverged"))
    assert store.load(CFG).status == "did-not-learn"


def test_overwrite_replaces_the_whole_run(stored):
    store, folder = stored
    store.save(make_run(seed=5, acc=0.5))
    back = store.load(CFG)
    assert state_equal(back.state, make_run(seed=5).state) and back.metrics["test_acc"] == 0.5
    assert sorted(p.name for p in folder.parent.iterdir() if not p.name.startswith(".locks")) == [CFG.key()]


def test_a_failure_mid_write_leaves_the_previous_run(stored, monkeypatch):
    store, folder = stored

    def explode(*a, **k):
        raise KeyboardInterrupt  # like a kill arriving while the weights are written

    monkeypatch.setattr(core.runs.store, "save_bytes", explode)
    with pytest.raises(KeyboardInterrupt):
        store.save(make_run(seed=5))
    assert state_equal(store.load(CFG).state, make_run().state)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith((RUN_TMP, OLD))]


def test_orphans_of_dead_writers_are_swept_at_start_and_live_ones_kept(tmp_path):
    store = RunStore(tmp_path)
    a, b, live = replace(CFG, seed=1), replace(CFG, seed=2), replace(CFG, seed=3)
    for cfg in (a, b, live):
        store.save(make_run(cfg))
    # a: killed between the two renames of an overwrite -> the previous run is aside, the new one in a temp folder
    os.rename(tmp_path / a.key(), tmp_path / f"{OLD}{a.key()}-0123abcd")
    (tmp_path / f"{RUN_TMP}{a.key()}-4567abcd").mkdir()
    # b: a weights-only folder (killed between the two files of the old layout) and an old-layout temp file
    (tmp_path / b.key() / "run.json").unlink()
    (tmp_path / b.key() / ".tmp-x.json").write_text("{")
    # live: a writer that still holds the lock is working on a temp folder
    (tmp_path / f"{RUN_TMP}{live.key()}-89abcdef").mkdir()
    with store.lock(live):
        again = RunStore(tmp_path)
        assert (tmp_path / f"{RUN_TMP}{live.key()}-89abcdef").exists()
    assert state_equal(again.load(a).state, make_run(a).state)
    assert again.load(b) is None and not (tmp_path / b.key()).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith((RUN_TMP, OLD))] == \
        [f"{RUN_TMP}{live.key()}-89abcdef"]
    RunStore(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((RUN_TMP, OLD))]


@pytest.mark.slow
def test_sigkill_during_save_and_overwrite_never_loses_the_run(tmp_path):
    figures = kill_loop(tmp_path, kills=30)
    assert figures["intact"] == figures["kills"] == 30 and figures["temps_left"] == 0
    assert figures["mid_write"] >= 5, figures  # most kills must land inside a write, or this proves nothing


def test_concurrent_readers_never_see_a_mixed_run(stored):
    """A reader polling while a writer overwrites: every run it gets is one whole version, never weights of one
    with the record of the other, and nothing is set aside."""
    store, _ = stored
    versions = [make_run(seed=s, acc=a) for s, a in ((0, 0.9), (1, 0.8))]
    stop, bad = threading.Event(), []

    def read():
        while not stop.is_set():
            run = store.load(CFG)
            if run is not None and not any(state_equal(run.state, v.state) and run.metrics == v.metrics
                                           for v in versions):
                bad.append(run)

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(40):
        store.save(versions[i % 2])
    stop.set()
    reader.join()
    assert bad == [] and store.load(CFG) is not None and set_aside(store.root) == []


def orphans(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith((RUN_TMP, OLD))]


def test_moves_windows_refuses_for_a_moment_are_tried_again(stored, monkeypatch):
    """Every first try of every move fails, as on Windows while a reader has a file of the folder open."""
    store, folder = stored
    calls = refuse(monkeypatch, "rename", lambda n, *a: n % 2 == 1)
    store.save(make_run(seed=5, acc=0.5))
    assert store.load(CFG).metrics["test_acc"] == 0.5 and orphans(folder.parent) == []
    store.delete(CFG)
    assert store.load(CFG) is None and orphans(folder.parent) == [] and len(calls) == 8  # 3 moves to save, 1 delete


@pytest.mark.parametrize("held", ["old", "new"])
def test_a_move_refused_past_the_bound_fails_and_keeps_the_previous_run(stored, monkeypatch, held):
    """old: the stored run's folder cannot be moved aside; new: the written one cannot be moved into place (the
    stored one is moved back). Either way the save fails, the previous run stays and nothing is left behind."""
    store, folder = stored
    monkeypatch.setattr(core.atomic, "BUSY_RETRY_S", 0.05)
    source = (lambda src: Path(src) == folder) if held == "old" else (lambda src: Path(src).name.startswith(RUN_TMP))
    refuse(monkeypatch, "rename", lambda n, src, dst: source(src))
    with pytest.raises(PermissionError):
        store.save(make_run(seed=5, acc=0.5))
    monkeypatch.undo()
    assert store.load(CFG).metrics == make_run().metrics and orphans(folder.parent) == []
