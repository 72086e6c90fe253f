"""core.codegen: the generated training program builds the same model and runs."""
from __future__ import annotations

from dataclasses import replace

from conftest import TINY
from core.codegen import training_code
from core.config import ModelConfig
from core.inspection import count_params
from core.models import build_model


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
