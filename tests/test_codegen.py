"""The Fully connected / Convolutions code panel: the program trains on the same digits as the app."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from core.codegen import training_code
from core.config import ModelConfig, TrainConfig
from core.data import load_sample, to_input

TINY = TrainConfig(model=ModelConfig("net2", hidden=16), optimizer="adam", lr=3e-3, batch_size=512, epochs=1, seed=1)


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def run_program(code: str) -> dict:
    scope: dict = {}
    exec(compile(code, "<training_code>", "exec"), scope)
    return scope


def test_sample_program_trains_on_the_apps_own_sample_split(sample):
    code = training_code(TINY)  # data_source "mnist-sample"
    assert "mnist_data()" in code and "datasets.MNIST" not in code
    scope = run_program(code)
    torch.testing.assert_close(scope["x_train"].cpu(), to_input(sample.train.images), rtol=0, atol=0)
    torch.testing.assert_close(scope["x_test"].cpu(), to_input(sample.test.images), rtol=0, atol=0)
    assert torch.equal(scope["y_train"].cpu(), sample.train.labels)
    assert torch.equal(scope["y_test"].cpu(), sample.test.labels)
    assert 0.0 <= scope["accuracy"] <= 1.0


def test_full_mnist_program_downloads_full_mnist(sample, monkeypatch):
    code = training_code(replace(TINY, data_source="mnist"))
    assert "datasets.MNIST" in code and "mnist_data" not in code

    class FakeMNIST:  # stands in for torchvision's MNIST download, which tests must not do
        def __init__(self, root, train, download):
            split = sample.train if train else sample.test
            self.data, self.targets = split.images[:128], split.labels[:128]

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    scope = run_program(code)
    assert torch.equal(scope["y_train"].cpu(), sample.train.labels[:128])
    assert 0.0 <= scope["accuracy"] <= 1.0
