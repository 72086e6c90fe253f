"""core.codegen: the generated training program builds the same model, runs, and trains on the digits the app
uses (the bundled sample's own split when it is active)."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from core.data.mnist import to_input
from core.models.inspection import count_params
from core.models.registry import ModelConfig, build_model
from core.training.code import training_code
from core.training.validation import carve
from support import TINY


@pytest.mark.slow
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


def run_program(code: str) -> dict:
    scope: dict = {}
    exec(compile(code, "<training_code>", "exec"), scope)
    return scope


@pytest.mark.slow
def test_sample_program_trains_on_the_apps_own_sample_split(sample):
    code = training_code(replace(TINY, batch_size=512, epochs=1))  # data_source "mnist-sample"
    assert "mnist_data()" in code and "datasets.MNIST" not in code
    scope = run_program(code)
    train, val = carve(sample.train)  # the app's validation split, written out in the program
    assert torch.equal(scope["x_train"].cpu(), to_input(train.images))
    assert torch.equal(scope["x_val"].cpu(), to_input(val.images))
    assert torch.equal(scope["x_test"].cpu(), to_input(sample.test.images))
    assert torch.equal(scope["y_train"].cpu(), train.labels)
    assert torch.equal(scope["y_test"].cpu(), sample.test.labels)
    assert 0.0 <= scope["accuracy"] <= 1.0


def test_full_mnist_program_downloads_full_mnist(sample, monkeypatch):
    code = training_code(replace(TINY, batch_size=512, epochs=1, data_source="mnist-full"))
    assert "datasets.MNIST" in code and "mnist_data" not in code

    class FakeMNIST:  # stands in for torchvision's MNIST download, which tests must not do
        def __init__(self, root, train, download):
            split = sample.train if train else sample.test
            self.data, self.targets = split.images[:128], split.labels[:128]

    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    scope = run_program(code)
    assert torch.equal(scope["y_train"].cpu(), carve(replace(sample.train, images=sample.train.images[:128],
                                                             labels=sample.train.labels[:128]))[0].labels)
    assert 0.0 <= scope["accuracy"] <= 1.0
