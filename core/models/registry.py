"""The model registry: one table of architectures (`ARCHITECTURES`) and the spec its builders take (`ModelConfig`).

An entry gives the module, its input shape, its number of classes, its default training settings and the
PyTorch code that rebuilds it (written from the built module itself, so the code can never drift from the
model). A builder takes a `ModelConfig` plus the entry's input shape and number of classes, so an entry whose
spec describes the layers fits the same table: "built", the Layer shapes page's stack, whose `ModelConfig.spec`
is the stack's link text (core/models/builder.py's `encode`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import torch
from torch import nn

from core.config import digest
from core.models import stacks
from core.models.code import ModelCode, resnet18_code, sequential_code
from core.models.zoo import MNIST_INPUT, CNNDemo, Net2, Shape, reset_parameters, resnet18

Arch = str  # a key of ARCHITECTURES (validated by ModelConfig)


DEFAULT_HIDDEN = 128


@dataclass(frozen=True)
class ModelConfig:
    """The spec a registry entry's builder takes (core.models.ARCHITECTURES). A field added here for a new
    entry must be left out of to_dict()/key() while it has its default, or every stored run's key changes
    (tests/test_models.py pins them): `spec` is, while empty."""

    arch: Arch = "net2"
    hidden: int = DEFAULT_HIDDEN  # width of the hidden Linear layer (Net2: fc1, CNNDemo: fc1)
    spec: str = ""  # the layer stack's link text, for entries built from it ("built"), else ""

    def __post_init__(self) -> None:
        entry = architecture(self.arch)  # ValueError for a name outside the registry
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 1:
            raise ValueError(f"hidden must be a positive int, not {self.hidden!r}")
        if not isinstance(self.spec, str):
            raise ValueError(f"spec must be text, not {type(self.spec).__name__}")
        if entry.spec_error is None:
            if self.spec:
                raise ValueError(f"{self.arch} is not built from a layer spec (got {self.spec[:40]!r})")
            return
        if self.hidden != DEFAULT_HIDDEN:
            raise ValueError(f"{self.arch} models are all in their spec: hidden must stay {DEFAULT_HIDDEN}")
        problem = entry.spec_error(self.spec)
        if problem:
            raise ValueError(f"the layer stack can't be trained on digits: {problem}")

    def to_dict(self) -> dict:
        """The fields that make the model: `spec` only when set (stored keys stay as they were before it
        existed), `hidden` only without one (a built model's layers are all in its spec)."""
        d = asdict(self)
        del d["hidden" if self.spec else "spec"]
        return d

    def key(self) -> str:
        return digest(self.to_dict())


# ---------------------------------------------------------------- the registry
@dataclass(frozen=True)
class TrainingDefaults:
    """Settings that reach the accuracy targets quickly (measured in `python -m bench`)."""

    optimizer: str
    lr: float
    batch_size: int
    epochs: Mapping[str, int]  # per data source


@dataclass(frozen=True)
class Architecture:
    key: str
    label: str  # "Fully connected (Net2)"
    name: str  # "Net2": the short name in run labels
    builder: Callable[[ModelConfig, Shape, int], nn.Module]  # (spec, input shape, classes) -> untrained module
    input_shape: Shape
    num_classes: int
    code_template: Callable[[nn.Module, Shape], ModelCode]  # (built module, input shape) -> its source
    defaults: TrainingDefaults | None = None  # None: not trained on MNIST by the training pages
    uses_hidden: bool = True  # ModelConfig.hidden changes the model
    spec_error: Callable[[str], str] | None = None  # ModelConfig.spec text -> "" or why it can't be built;
    #                                                 None: the entry takes no spec text

    def build(self, spec: ModelConfig) -> nn.Module:
        return self.builder(spec, self.input_shape, self.num_classes)

    def short_label(self, spec: ModelConfig) -> str:
        if self.spec_error is not None:
            layers = spec.spec.partition("_")[2]  # the link text without its input shape
            return f"{self.name} {layers[:40]}{'…' if len(layers) > 40 else ''}"
        return f"{self.name} h{spec.hidden}" if self.uses_hidden else self.name


# ---------------------------------------------------------------- the layer builder's stacks
def stack_error(text: str, input_shape: Shape = MNIST_INPUT, num_classes: int = 10) -> str:
    """"" when the link text decodes to a stack that takes `input_shape` and gives `num_classes` scores."""
    got = stacks.decode(text)
    if got.stack is None:
        return got.error
    if stacks.encode(got.stack) != text:  # one text per stack, so one stored run per model
        return f"the text is not in its short form ({stacks.encode(got.stack)[:60]})"
    return stacks.fits_task(got.stack, input_shape, num_classes)


def built_model(spec: ModelConfig, input_shape: Shape, num_classes: int) -> nn.Sequential:
    """The layer stack of `spec.spec` as a named nn.Sequential (conv1, relu1, ..., fc2)."""
    problem = stack_error(spec.spec, input_shape, num_classes)
    if problem:
        raise ValueError(f"the layer stack can't be built for {input_shape} -> {num_classes}: {problem}")
    stack = stacks.decode(spec.spec).stack
    assert stack is not None
    return stacks.build(stack)


ARCHITECTURES: Mapping[str, Architecture] = {a.key: a for a in (
    # Net2 is cheap per sample, so a large batch (fewer, fuller steps) trains it fastest; the bundled
    # sample has 4,000 training digits, so it needs more passes than full MNIST.
    Architecture("net2", "Fully connected (Net2)", "Net2",
                 lambda spec, shape, classes: Net2(spec.hidden, shape, classes), MNIST_INPUT, 10, sequential_code,
                 TrainingDefaults("adam", 5e-3, 512, {"mnist-sample": 30, "mnist-full": 15})),
    Architecture("cnn", "Convolutional (CNNDemo)", "CNNDemo",
                 lambda spec, shape, classes: CNNDemo(spec.hidden, shape, classes), MNIST_INPUT, 10, sequential_code,
                 TrainingDefaults("adam", 3e-3, 256, {"mnist-sample": 15, "mnist-full": 5})),
    Architecture("resnet18", "ResNet-18 (torchvision)", "ResNet-18",
                 lambda spec, shape, classes: resnet18(shape, classes), (3, 32, 32), 10, resnet18_code,
                 uses_hidden=False),
    # A learner's stack from the Layer shapes page: any stack that takes digits and gives 10 scores.
    Architecture("built", "Your layer stack (Layer shapes)", "Stack", built_model, MNIST_INPUT, 10, sequential_code,
                 TrainingDefaults("adam", 1e-3, 128, {"mnist-sample": 10, "mnist-full": 3}), uses_hidden=False,
                 spec_error=stack_error),
)}

ARCH_LABELS: dict[str, str] = {key: a.label for key, a in ARCHITECTURES.items()}

def architecture(key: str) -> Architecture:
    try:
        return ARCHITECTURES[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {key!r}; known: {', '.join(ARCHITECTURES)}") from None


def build_model(cfg: ModelConfig, generator: torch.Generator | None = None) -> nn.Module:
    model = architecture(cfg.arch).build(cfg)
    if generator is not None:
        reset_parameters(model, generator)
    return model


def model_code(cfg: ModelConfig) -> ModelCode:
    """The source that builds `build_model(cfg)` (same parameter names and shapes)."""
    arch = architecture(cfg.arch)
    return arch.code_template(arch.build(cfg), arch.input_shape)
