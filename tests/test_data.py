"""The data layer: the one MNIST normalization (checked against torchvision's Normalize), and the layer against
hostile files and unlucky networks: manifests that are not manifests, legacy
tensors planted where torchvision looks first, mirrors that stall or trickle, and temp folders of killed downloads.

Every server here is local (127.0.0.1) and every file is written by the test itself."""
from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import transforms

from core.config import Paths
from core.data import download, mnist
from core.data.digits import preprocess_ink
from core.data.download import DownloadLimits, sweep_data
from core.data.mnist import DatasetCorrupt, download_mnist, load_full, load_mnist, load_sample, normalize, to_input
from core.data.normalization import MNIST_MEAN, MNIST_STD
from core.locks import hold
from tools.file_server import file_server, stalled_server


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
    (data_dir / "MNIST" / "manifest.json").write_text(json.dumps(mnist._manifest(raw)))


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


FAST = DownloadLimits(connect_s=1.0, read_s=1.0, total_s=3.0)


def idx(t: torch.Tensor, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in t.shape)
    return header + t.to(torch.uint8).numpy().tobytes()


def raw_files(n_train: int = 6, n_test: int = 4) -> dict[str, bytes]:
    g = torch.Generator().manual_seed(0)
    return {
        "train-images-idx3-ubyte": idx(torch.randint(0, 256, (n_train, 28, 28), generator=g), 2051),
        "train-labels-idx1-ubyte": idx(torch.arange(n_train) % 10, 2049),
        "t10k-images-idx3-ubyte": idx(torch.randint(0, 256, (n_test, 28, 28), generator=g), 2051),
        "t10k-labels-idx1-ubyte": idx(torch.arange(n_test) % 10, 2049),
    }


def write_full(data_dir: Path) -> Path:
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, blob in raw_files().items():
        (raw / name).write_bytes(blob)
    (data_dir / "MNIST" / "manifest.json").write_text(json.dumps(mnist._manifest(raw)))
    return data_dir / "MNIST"


def test_verified_raw_files_load(tmp_path):
    write_full(tmp_path / "data")
    d = load_mnist(Paths(tmp_path), allow_download=False)
    assert d.source == "mnist-full" and (len(d.train), len(d.test)) == (6, 4) and d.note == ""
    assert torch.equal(d.train.labels, torch.arange(6) % 10) and d.train.images.dtype == torch.uint8


@pytest.mark.parametrize("manifest", ["[]", "null", '"x"', "{}", '{"train-images-idx3-ubyte": 3}', "not json"])
def test_a_manifest_that_is_not_a_manifest_falls_back_with_the_reason(tmp_path, manifest):
    root = write_full(tmp_path / "data")
    (root / "manifest.json").write_text(manifest)
    d = load_mnist(Paths(tmp_path), allow_download=False)  # never raises: the sidebar calls this
    assert d.source == "mnist-sample" and "corrupted" in d.note and "manifest.json" in d.note
    with pytest.raises(DatasetCorrupt):
        load_full(tmp_path / "data")


def test_a_manifest_that_is_a_directory_is_named_as_such(tmp_path):
    root = write_full(tmp_path / "data")
    (root / "manifest.json").unlink()
    (root / "manifest.json").mkdir()
    d = load_mnist(Paths(tmp_path), allow_download=False)
    assert d.source == "mnist-sample" and "is a directory, not a manifest file" in d.note


def test_legacy_processed_tensors_are_never_read(tmp_path):
    """torchvision prefers processed/training.pt and test.pt when they exist; no checksum covers them."""
    root = write_full(tmp_path / "data")
    (root / "processed").mkdir()
    foreign = (torch.zeros(3, 28, 28, dtype=torch.uint8), torch.full((3,), 7))
    for name in ("training.pt", "test.pt"):
        torch.save(foreign, root / "processed" / name)
    d = load_mnist(Paths(tmp_path), allow_download=False)
    assert d.source == "mnist-full" and (len(d.train), len(d.test)) == (6, 4)
    assert not torch.equal(d.train.labels[:3], foreign[1])


def test_a_mirror_that_never_answers_fails_within_the_bound(tmp_path):
    with stalled_server() as url:
        t0 = time.monotonic()
        with pytest.raises(ConnectionError, match="failed"):
            download_mnist(tmp_path, limits=FAST, mirrors=[url])
        took = time.monotonic() - t0
    assert took < FAST.total_s + FAST.read_s + 1.0  # generous bound on a busy machine; unbounded hangs forever
    assert [p.name for p in tmp_path.iterdir()] == [".download.lock"]  # no partial files, no temp folder


def archives() -> tuple[dict[str, bytes], list[tuple[str, str]]]:
    files = {name + ".gz": gzip.compress(blob) for name, blob in raw_files().items()}
    return files, [(name, hashlib.md5(blob).hexdigest()) for name, blob in files.items()]


def test_download_from_a_mirror_verifies_extracts_and_loads(tmp_path):
    files, resources = archives()
    bad = {name: b"not the archive" for name in files}
    with file_server(bad) as wrong, file_server(files) as good:
        download_mnist(tmp_path / "data", limits=FAST, mirrors=[wrong.url, good.url], resources=resources)
    d = load_mnist(Paths(tmp_path), allow_download=False)
    assert d.source == "mnist-full" and (len(d.train), len(d.test)) == (6, 4)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [".download.lock", "MNIST"]


def test_a_download_failing_half_way_leaves_no_partial_files(tmp_path, monkeypatch):
    files, resources = archives()
    del files["t10k-images-idx3-ubyte.gz"]
    with file_server(files) as served:
        monkeypatch.setattr(mnist, "download_mnist",
                            lambda d, p=None: download_mnist(d, p, FAST, [served.url], resources))
        monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
        d = load_mnist(Paths(tmp_path), allow_download=True)
    assert d.source == "mnist-sample" and "could not be downloaded" in d.note and "404" in d.note
    assert [p.name for p in (tmp_path / "data").iterdir()] == [".download.lock"]


def test_a_trickling_mirror_hits_the_total_deadline(tmp_path):
    files, resources = archives()
    with file_server(files, trickle_s=0.05) as served:
        t0 = time.monotonic()
        with pytest.raises(ConnectionError, match="longer than"):
            download_mnist(tmp_path, limits=DownloadLimits(1.0, 1.0, 1.5), mirrors=[served.url], resources=resources)
        assert time.monotonic() - t0 < 4.0


def test_temp_folders_of_killed_downloads_are_swept_unless_a_download_runs(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / ".tmp-mnist-abc" / "MNIST" / "raw").mkdir(parents=True)
    (data_dir / ".tmp-mnist-abc" / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"half")
    with hold(data_dir / ".download.lock"):  # a download in progress (another process)
        assert sweep_data(data_dir) == 0 and (data_dir / ".tmp-mnist-abc").exists()
    load_mnist(Paths(tmp_path), allow_download=False)
    assert not (data_dir / ".tmp-mnist-abc").exists()


def test_normalize_matches_torchvision():
    ink = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ref = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))(ink)
    out = normalize(ink)
    assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=1e-6)
    assert torch.equal(ink, torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0)))  # not in place


def test_to_input_is_normalize_of_ink():
    images = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    ref = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))(images.unsqueeze(1).float() / 255)
    assert torch.allclose(to_input(images), ref, atol=1e-6)


def test_drawn_digit_goes_through_the_same_normalization():
    ink = np.zeros((100, 100), dtype=np.float32)
    ink[20:80, 45:55] = 1.0  # a "1"
    steps = preprocess_ink(ink)
    assert steps is not None
    ref = transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))(torch.from_numpy(steps.centred)[None])
    assert steps.tensor.shape == (1, 1, 28, 28) and torch.allclose(steps.tensor[0], ref, atol=1e-6)
