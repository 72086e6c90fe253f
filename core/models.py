"""The model registry: one table of architectures, each entry one definition that gives the module,
its input shape, its number of classes, its default training settings and the PyTorch code that
rebuilds it (written from the built module itself, so the code can never drift from the model).

A builder takes the model's spec (a `core.config.ModelConfig`) plus the entry's input shape and
number of classes, so an entry whose spec describes the layers fits the same table: "built", the Layer
shapes page's layer stack, whose `ModelConfig.spec` is the stack's link text (core/layers.py's `encode`).
"""
from __future__ import annotations

import keyword
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from core.config import ModelConfig

Shape = tuple[int, int, int]  # (C, H, W) of one input
MNIST_INPUT: Shape = (1, 28, 28)


class Net2(nn.Sequential):
    """The seed's fully connected net: Flatten, Linear C·H·W->hidden, ReLU, Linear hidden->classes."""

    def __init__(self, hidden: int = 128, input_shape: Shape = MNIST_INPUT, num_classes: int = 10) -> None:
        super().__init__(OrderedDict(
            flatten=nn.Flatten(),                          # (B, 1, 28, 28) -> (B, 784)
            fc1=nn.Linear(math.prod(input_shape), hidden),  # (B, hidden)
            relu=nn.ReLU(),
            fc2=nn.Linear(hidden, num_classes),            # (B, 10) logits
        ))


class CNNDemo(nn.Sequential):
    """Conv2d C->16 3x3 pad 1, ReLU, MaxPool 2, Conv2d 16->32 3x3 pad 1, ReLU, MaxPool 2,
    Linear 32·(H/4)·(W/4)->hidden, ReLU, Linear hidden->classes."""

    def __init__(self, hidden: int = 128, input_shape: Shape = MNIST_INPUT, num_classes: int = 10) -> None:
        c, h, w = input_shape
        super().__init__(OrderedDict(
            conv1=nn.Conv2d(c, 16, kernel_size=3, padding=1),   # (B, 16, 28, 28)
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),                               # (B, 16, 14, 14)
            conv2=nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (B, 32, 14, 14)
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),                               # (B, 32, 7, 7)
            flatten=nn.Flatten(),                                # (B, 1568)
            fc1=nn.Linear(32 * (h // 4) * (w // 4), hidden),     # (B, hidden)
            relu3=nn.ReLU(),
            fc2=nn.Linear(hidden, num_classes),                  # (B, 10) logits
        ))


def resnet18(input_shape: Shape = (3, 32, 32), num_classes: int = 10) -> nn.Module:
    """torchvision's ResNet-18, untrained, with a new head: fc = Linear(512, num_classes).
    Its adaptive average pool takes any input side of at least 32 pixels."""
    from torchvision.models import resnet18 as tv_resnet18  # imported on use: torchvision is slow to import

    if input_shape[0] != 3 or min(input_shape[1:]) < 32:
        raise ValueError(f"ResNet-18 takes 3-channel images of at least 32×32 pixels, not {input_shape}")
    model = tv_resnet18(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # (B, num_classes)
    return model


# ---------------------------------------------------------------- code written from a built module
@dataclass(frozen=True)
class ModelCode:
    """Python source that builds a model into the variable `model` (with the imports it needs)."""

    imports: tuple[str, ...]
    source: str

    def program(self) -> str:
        return "\n".join(self.imports) + "\n\n" + self.source + "\n"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["B", *map(str, shape[1:])]) + ")"


def _output_shapes(model: nn.Module, input_shape: Shape) -> dict[str, tuple[int, ...]]:
    from core.inspection import layer_table  # inspection builds on the models, not the other way round

    return {r.name: r.output_shape for r in layer_table(model, (1, *input_shape))}


def _constructor(module: nn.Module) -> str:
    """'nn.Linear(in_features=784, out_features=128, bias=True)': a torch.nn leaf's repr is its constructor."""
    cls = type(module)
    if getattr(nn, cls.__name__, None) is not cls or list(module.children()):
        raise ValueError(f"no code template for {cls.__name__}: only torch.nn layers in nn.Sequentials")
    return f"nn.{module!r}"


def _sequential_lines(seq: nn.Sequential, prefix: str, shapes: dict, previous: tuple, indent: str) -> list[str]:
    """The lines of `nn.Sequential(OrderedDict(...))`, one child per line, shape comments where shapes change."""
    named = all(n.isidentifier() and not keyword.iskeyword(n) for n, _ in seq.named_children())
    entries: list[tuple[str, str]] = []  # (code, comment)
    for name, child in seq.named_children():
        full = prefix + name
        key = f"{name}=" if named else f"({name!r}, "
        end = "," if named else "),"
        if isinstance(child, nn.Sequential):
            inner = _sequential_lines(child, full + ".", shapes, previous, indent + "    ")
            inner[-1] += end
            entries.append((indent + key + inner[0], ""))
            entries += [(line, "") for line in inner[1:]]
        else:
            entries.append((f"{indent}{key}{_constructor(child)}{end}", ""))
        shape = shapes.get(full, ())
        if shape and shape != previous:
            entries[-1] = (entries[-1][0], f"# {_shape_text(shape)}")
        previous = shape or previous
    width = max((len(code) for code, comment in entries if comment), default=0)
    body = [f"{code:<{width}}  {comment}" if comment else code for code, comment in entries]
    open_, close = ("nn.Sequential(OrderedDict(", "))") if named else ("nn.Sequential(OrderedDict([", "]))")
    return [open_, *body, indent[:-4] + close]


def sequential_code(model: nn.Module, input_shape: Shape) -> ModelCode:
    """Source for an nn.Sequential (nested ones too) from its children's reprs, with output shapes."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"sequential_code needs an nn.Sequential, not {type(model).__name__}")
    shapes = _output_shapes(model, input_shape)
    lines = _sequential_lines(model, "", shapes, (1, *input_shape), "    ")
    source = f"# input {_shape_text((1, *input_shape))}\nmodel = " + "\n".join(lines)
    return ModelCode(("from collections import OrderedDict", "import torch", "from torch import nn"), source)


def resnet18_code(model: nn.Module, input_shape: Shape) -> ModelCode:
    """torchvision's constructor plus the replaced head, read from the built module."""
    out = _output_shapes(model, input_shape).get("fc", ())
    source = (f"model = resnet18(weights=None)  # {_shape_text((1, *input_shape))} -> {_shape_text(out)}\n"
              f"model.fc = {_constructor(model.fc)}")
    return ModelCode(("import torch", "from torch import nn", "from torchvision.models import resnet18"), source)


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
    from core import layers  # the builder reads its presets from this registry: imported on use

    got = layers.decode(text)
    if got.stack is None:
        return got.error
    if layers.encode(got.stack) != text:  # one text per stack, so one stored run per model
        return f"the text is not in its short form ({layers.encode(got.stack)[:60]})"
    return layers.fits_task(got.stack, input_shape, num_classes)


def built_model(spec: ModelConfig, input_shape: Shape, num_classes: int) -> nn.Sequential:
    """The layer stack of `spec.spec` as a named nn.Sequential (conv1, relu1, ..., fc2)."""
    from core import layers

    problem = stack_error(spec.spec, input_shape, num_classes)
    if problem:
        raise ValueError(f"the layer stack can't be built for {input_shape} -> {num_classes}: {problem}")
    stack = layers.decode(spec.spec).stack
    assert stack is not None
    return layers.build(stack)


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


def architecture(key: str) -> Architecture:
    try:
        return ARCHITECTURES[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {key!r}; known: {', '.join(ARCHITECTURES)}") from None


def reset_parameters(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """PyTorch's default Linear/Conv2d init, drawn from `generator` instead of the global RNG
    (Streamlit sessions share one process, so the global RNG is shared too)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    fan_in = m.weight[0].numel()
                    bound = 1 / math.sqrt(fan_in)
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
    return model


def build_model(cfg: ModelConfig, generator: torch.Generator | None = None) -> nn.Module:
    model = architecture(cfg.arch).build(cfg)
    if generator is not None:
        reset_parameters(model, generator)
    return model


def model_code(cfg: ModelConfig) -> ModelCode:
    """The source that builds `build_model(cfg)` (same parameter names and shapes)."""
    arch = architecture(cfg.arch)
    return arch.code_template(arch.build(cfg), arch.input_shape)

