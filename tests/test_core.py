"""Core library: data, models, training engine, run store, inspection."""
from __future__ import annotations

import json
import math
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core import data as data_mod
from core.atomic import TMP_PREFIX, atomic_write, atomic_write_bytes, sweep_temps
from core.codegen import training_code
from core.config import ConfigError, ModelConfig, Paths, TrainConfig, default_config
from core.data import MNIST_MEAN, MNIST_STD, load_mnist, load_sample, to_input
from core.inspection import (activations, confusion_matrix, count_params, layer_table, per_class_accuracy,
                          predict_proba)
from core.models import CNNDemo, Net2, build_model
from core.store import RunStore, state_equal
from core.train import fit, load_model

TINY = TrainConfig(model=ModelConfig("net2", hidden=16), optimizer="adam", lr=3e-3, batch_size=128, epochs=2, seed=1)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


# ------------------------------------------------------------------ data
def test_sample_is_real_stratified_and_deterministic(sample):
    assert (len(sample.train), len(sample.test)) == (4000, 1000)
    assert sample.train.images.dtype == torch.uint8 and sample.train.images.shape[1:] == (28, 28)
    assert torch.bincount(sample.train.labels).tolist() == [400] * 10
    assert torch.bincount(sample.test.labels).tolist() == [100] * 10
    again = load_sample()
    assert torch.equal(again.train.images, sample.train.images) and torch.equal(again.test.labels, sample.test.labels)
    # the two splits are disjoint: no test digit appears in the training set
    train_rows = {bytes(x.numpy()) for x in sample.train.images}
    assert not any(bytes(x.numpy()) in train_rows for x in sample.test.images)


def test_to_input_normalizes_in_one_step(sample):
    x = to_input(sample.train.images[:5])
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    ref = (sample.train.images[:5].float() / 255 - MNIST_MEAN) / MNIST_STD
    torch.testing.assert_close(x[:, 0], ref)


# downloads (bounded, local mirrors, partial failures): tests/test_data.py


def _fake_full_mnist(data_dir: Path, n_train: int = 64, n_test: int = 32) -> None:
    """Write real idx files (from the bundled sample) where torchvision's MNIST reads them."""
    s = load_sample()
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True)

    def idx(t: torch.Tensor, magic: int) -> bytes:
        header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in t.shape)
        return header + t.to(torch.uint8).numpy().tobytes()

    (raw / "train-images-idx3-ubyte").write_bytes(idx(s.train.images[:n_train], 2051))
    (raw / "train-labels-idx1-ubyte").write_bytes(idx(s.train.labels[:n_train], 2049))
    (raw / "t10k-images-idx3-ubyte").write_bytes(idx(s.test.images[:n_test], 2051))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx(s.test.labels[:n_test], 2049))
    (data_dir / "MNIST" / "manifest.json").write_text(json.dumps(data_mod._manifest(raw)))


def test_full_mnist_loads_through_torchvision_and_corruption_is_detected(tmp_path):
    _fake_full_mnist(tmp_path / "data")
    d = load_mnist(Paths(tmp_path), allow_download=False)
    assert d.source == "mnist-full" and len(d.train) == 64 and len(d.test) == 32
    raw = tmp_path / "data" / "MNIST" / "raw" / "train-images-idx3-ubyte"
    blob = bytearray(raw.read_bytes())
    blob[100] ^= 0xFF  # one flipped byte
    raw.write_bytes(bytes(blob))
    d = load_mnist(Paths(tmp_path), allow_download=False)
    assert d.source == "mnist-sample"
    assert "corrupted" in d.note and "checksum mismatch" in d.note and "--download" in d.note


# ------------------------------------------------------------------ models and inspection
@pytest.mark.parametrize("model, params", [(Net2(), 784 * 128 + 128 + 128 * 10 + 10),
                                           (CNNDemo(), 160 + 4640 + 200_832 + 1290)])
def test_param_counts_match_numel(model, params):
    rows = layer_table(model, (2, 1, 28, 28))
    assert sum(r.params for r in rows) == count_params(model) == sum(p.numel() for p in model.parameters()) == params


def test_layer_table_shapes_formulas_and_no_side_effects():
    model = CNNDemo().eval()
    rows = {r.name: r for r in layer_table(model, (3, 1, 28, 28))}
    assert rows["conv1"].output_shape == (3, 16, 28, 28) and rows["conv1"].formula == "16·1·3·3 + 16"
    assert rows["pool1"].output_shape == (3, 16, 14, 14)
    assert rows["pool2"].output_shape == (3, 32, 7, 7)
    assert rows["flatten"].output_shape == (3, 32 * 7 * 7)
    assert rows["fc1"].formula == "1568·128 + 128" and rows["fc1"].params == 200_832
    assert rows["relu1"].trainable == "—" and rows["conv1"].trainable == "True"
    assert all(not m._forward_hooks for m in model.modules())  # nothing left on the caller's model
    assert not model.training


def test_trainable_flag_reads_partial_and_false():
    model = Net2()
    model.fc1.bias.requires_grad_(False)
    model.fc2.requires_grad_(False)
    rows = {r.name: r.trainable for r in layer_table(model, (1, 1, 28, 28))}
    assert rows["fc1"] == "Partial" and rows["fc2"] == "False"


def test_activations_walk_matches_forward():
    model = CNNDemo().eval()
    x = torch.randn(2, 1, 28, 28)
    acts = activations(model, x)
    assert [n for n, _ in acts][:4] == ["input", "conv1", "relu1", "pool1"]
    torch.testing.assert_close(acts[-1][1], model(x))
    torch.testing.assert_close(acts[1][1], F.conv2d(x, model.conv1.weight, model.conv1.bias, padding=1))


def test_seeded_init_is_reproducible_and_independent_of_global_rng():
    a = build_model(ModelConfig("cnn"), torch.Generator().manual_seed(3))
    torch.manual_seed(123)
    b = build_model(ModelConfig("cnn"), torch.Generator().manual_seed(3))
    assert state_equal(a.state_dict(), b.state_dict())


def test_confusion_and_per_class():
    cm = confusion_matrix(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 1]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert per_class_accuracy(cm).tolist() == [0.5, 1.0, 0.0]


# ------------------------------------------------------------------ training
def test_short_run_lowers_loss_and_replays_exactly(sample):
    progress = []
    run = fit(TINY, sample, torch.device("cpu"), on_progress=progress.append, report_every=5)
    h = run.history
    assert run.status == "ok" and len(h.step_loss) == 2 * math.ceil(4000 / 128) and len(h.val_acc) == 2
    assert sum(h.step_loss[-5:]) / 5 < sum(h.step_loss[:5]) / 5 * 0.6
    assert h.val_acc[-1] > 0.8 and run.metrics["test_acc"] == h.val_acc[-1]
    assert progress[-1].step == progress[-1].total_steps and progress[-1].val_acc == h.val_acc[-1]
    again = fit(TINY, sample, torch.device("cpu"))
    assert state_equal(run.state, again.state) and again.history.step_loss == h.step_loss


def test_non_finite_loss_stops_cleanly_and_is_not_stored(sample, tmp_path, monkeypatch):
    """A NaN loss (forced: no setting within the controls' bounds reliably gives one) stops training."""
    import core.train

    cfg = replace(TINY, optimizer="sgd", lr=10.0, epochs=3)
    real_cross_entropy, calls = core.train.F.cross_entropy, []

    def cross_entropy(*a, **k):
        calls.append(1)
        return real_cross_entropy(*a, **k) * (math.nan if len(calls) > 40 else 1.0)

    monkeypatch.setattr(core.train.F, "cross_entropy", cross_entropy)
    run = fit(cfg, sample, torch.device("cpu"))
    assert run.status == "diverged" and "Lower the learning rate" in run.reason
    assert len(run.history.step_loss) < 3 * math.ceil(4000 / 128)
    store = RunStore(tmp_path)
    got, trained = store.get_or_train(cfg, lambda: run)
    assert trained and got.status == "diverged" and store.load(cfg) is None
    with pytest.raises(ValueError):
        store.save(run)


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=0.0), dict(lr=float("nan")), dict(batch_size=0)])
def test_untrainable_configs_are_refused_with_a_reason(sample, bad):
    with pytest.raises(ConfigError):
        fit(replace(TINY, **bad), sample)


def test_batch_larger_than_dataset_is_one_full_batch(sample):
    run = fit(replace(TINY, batch_size=8192, epochs=1), sample, torch.device("cpu"))
    # one step learns next to nothing: stored, but marked "did-not-learn"
    assert run.status in ("ok", "did-not-learn") and run.history.steps_per_epoch == 1


def test_generated_code_is_the_same_model_and_runs(sample, monkeypatch):
    """The code panel's program, run on a small dataset, trains the architecture the page shows."""
    code = training_code(replace(TINY, model=ModelConfig("cnn", 16), epochs=1))

    class FakeMNIST:  # stands in for torchvision's MNIST download, which tests must not do
        def __init__(self, root, train, download):
            split = sample.train if train else sample.test
            self.data, self.targets = split.images[:256], split.labels[:256]

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    scope: dict = {}
    exec(compile(code, "<training_code>", "exec"), scope)
    assert count_params(scope["model"]) == count_params(build_model(ModelConfig("cnn", 16)))
    assert 0.0 <= scope["accuracy"] <= 1.0


# ------------------------------------------------------------------ store
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


def test_atomic_write_survives_an_exception_mid_write(tmp_path):
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"good")

    def explode(tmp: Path) -> None:
        tmp.write_bytes(b"half-writ")
        raise KeyboardInterrupt  # like a kill arriving mid-write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, explode)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]  # no temp file left behind


def test_orphaned_temp_files_are_swept(tmp_path):
    orphan = tmp_path / "k" / f"{TMP_PREFIX}abc.safetensors"
    orphan.parent.mkdir()
    orphan.write_bytes(b"x")
    assert sweep_temps(tmp_path, older_than_s=-1) == 1 and not orphan.exists()


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


def test_default_configs_are_trainable_and_keys_stable():
    for arch in ("net2", "cnn"):
        for source in ("mnist-sample", "mnist-full"):
            cfg = default_config(arch, source)  # type: ignore[arg-type]
            assert cfg.key() == TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))).key()
    assert default_config("net2", "mnist-sample").key() != default_config("net2", "mnist-full").key()
