"""core.cifar: a tiny test-written CIFAR-10 folder loads as uint8 tensors; missing, tampered and
pickled-payload files refused."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from core.data import cifar
from support import write_cifar as _write_cifar


class _Payload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_tiny_cifar_folder_loads_as_uint8_tensors(tmp_path):
    written = _write_cifar(cifar.cifar_dir(tmp_path))
    data, note = cifar.load_cifar10(tmp_path)
    assert note == "" and data.classes == cifar.CIFAR_CLASSES
    assert data.train.images.shape == (30, 3, 32, 32) and data.train.images.dtype == torch.uint8
    assert data.test.images.shape == (6, 3, 32, 32)
    d1, l1 = written["data_batch_1"]
    assert torch.equal(data.train.images[:6], torch.from_numpy(d1.reshape(6, 3, 32, 32)))
    assert data.train.labels[:6].tolist() == l1
    d5 = written["data_batch_5"][0]
    assert torch.equal(data.train.images[24:], torch.from_numpy(d5.reshape(6, 3, 32, 32)))


def test_missing_cifar_explained(tmp_path):
    data, note = cifar.load_cifar10(tmp_path, allow_download=False)
    assert data is None and "python -m core.data.cifar --download" in note and "cifar-10-batches-py" in note


def test_cifar_pickle_with_payload_refused_and_never_runs(tmp_path):
    folder = cifar.cifar_dir(tmp_path)
    _write_cifar(folder)
    marker = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": _Payload(marker), "labels": []}))
    cifar.write_manifest(folder)  # even with a matching manifest, the payload is refused
    data, note = cifar.load_cifar10(tmp_path)
    assert data is None and "refused global" in note and not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        cifar.safe_unpickle(pickle.dumps(_Payload(marker)))
    assert not marker.exists()


def test_cifar_tampered_file_detected(tmp_path):
    folder = cifar.cifar_dir(tmp_path)
    _write_cifar(folder)
    (folder / "test_batch").write_bytes(b"\x00" * 10)
    data, note = cifar.load_cifar10(tmp_path)
    assert data is None and "checksum mismatch" in note and "test_batch" in note
