"""The layer builder: a stack of layer specs on an input shape, its shapes, its model, its code, its link.

- The specs (one frozen dataclass per layer kind, with their arguments) are in core/layer_specs.py.
- `propagate(stack)`: shapes after every layer with PyTorch's floor semantics (the spatial arithmetic is
  core/conv.py's `check`, the one the Convolutions page's sandbox uses). The first layer that doesn't fit
  stops it with a `Mismatch` that names the layer, says why, suggests the number that would fit and offers a
  repaired layer; the rows before it are kept.
- `build(stack)` -> nn.Sequential with named layers (`layer_names`: conv1, relu1, ..., fc2, as the registry names
  Net2 and CNNDemo, so their presets' state_dict keys are the registry's), `code(stack)` -> the same model as
  runnable Python.
- `from_module(model)`: a registry nn.Sequential read back into its stack: the Net2 and CNNDemo presets are the
  registry's definitions, not a second copy.
- `encode` / `decode`: the stack as a short URL-safe string (`i1.28.28_c1.16.3.1.1_r_m2_f_l3136.10`),
  strictly validated; bad text gives a message, never an exception.

Shapes here are one sample's shape, without the batch dimension: (C, H, W) or (F,).
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from core.errors import InputError
from core.models import conv_arithmetic
from core.models.layer_specs import (
    BY_LETTER,
    INPUT_ARGS,
    KINDS,
    Arg,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Fit,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
    ReLU,
    Shape,
)
from core.models.zoo import MNIST_INPUT, CNNDemo, Net2

__all__ = ["KINDS", "INPUT_ARGS", "Arg", "AvgPool2d", "BatchNorm2d", "Conv2d", "Dropout", "Flatten", "Layer",
           "Linear", "MaxPool2d", "ReLU", "Shape", "Stack", "Row", "Mismatch", "Propagation", "propagate",
           "build", "code", "encode", "decode", "Decoded", "PRESETS", "fits_task", "sandbox_stack", "StackError",
           "layer_names", "from_module"]

MAX_LAYERS = 30
MAX_TEXT = 600  # characters in an encoded stack
MAX_ACTIVATION = 1 << 23  # numbers in one sample's output of any layer (8,388,608 floats = 32 MiB)
MAX_PARAMS = 50_000_000  # parameters of the whole model (200 MB of float32)


@dataclass(frozen=True)
class Stack:
    input_shape: tuple[int, int, int]  # (C, H, W)
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class Row:
    index: int
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    params: int
    param_formula: str  # "16·1·3·3 + 16", "" without parameters
    size_formula: str  # output-size arithmetic, "" when the shape passes through unchanged


@dataclass(frozen=True)
class Mismatch:
    """The first layer that doesn't fit its input."""

    index: int
    layer: Layer
    in_shape: Shape
    reason: str
    suggestion: str
    fix: Layer | None  # the same layer with the suggested number, when one number repairs it

    def message(self) -> str:
        return (f"Layer {self.index} `{self.layer.code()}` does not fit its input {self.in_shape}: "
                f"{self.reason}. Fix: {self.suggestion}.")


@dataclass(frozen=True)
class Propagation:
    stack: Stack
    rows: tuple[Row, ...]  # every layer up to (not including) the one that failed
    error: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1].out_shape if self.rows else tuple(self.stack.input_shape)


def param_formula(layer: Layer) -> tuple[int, str]:
    shapes = layer.param_shapes()
    return sum(math.prod(s) for s in shapes), " + ".join("·".join(map(str, s)) for s in shapes)


def propagate(stack: Stack) -> Propagation:
    """Each layer's output shape, stopping at the first layer that doesn't fit (rows before it are kept)."""
    shape: Shape = tuple(stack.input_shape)
    factors = ""  # how the last dimension was made, while it comes straight from a Flatten
    rows: list[Row] = []
    total = 0
    for i, layer in enumerate(stack.layers):
        got = layer.fit(shape, factors)
        params, formula = param_formula(layer)
        total += params
        if got.ok and math.prod(got.out) > MAX_ACTIVATION:
            got = Fit(None, got.size_formula, f"its output {got.out} holds {math.prod(got.out):,} numbers per image, "
                      f"more than this app computes ({MAX_ACTIVATION:,})", "use fewer channels or a smaller input")
        elif got.ok and total > MAX_PARAMS:
            got = Fit(None, got.size_formula, f"the model would have {total:,} parameters, more than this app builds "
                      f"({MAX_PARAMS:,})", "use fewer channels or features")
        if not got.ok:
            return Propagation(stack, tuple(rows), Mismatch(i, layer, shape, got.reason, got.suggestion, got.fix))
        if isinstance(layer, Flatten) and len(shape) > 1:
            factors = "·".join(map(str, shape))
        elif not isinstance(layer, (ReLU, Dropout)):
            factors = ""
        rows.append(Row(i, layer, shape, got.out, params, formula, got.size_formula))
        shape = got.out
    return Propagation(stack, tuple(rows), None)


class StackError(InputError):
    """A stack that doesn't fit, asked to become a model."""


_PREFIX = {"Conv2d": "conv", "BatchNorm2d": "bn", "MaxPool2d": "pool", "AvgPool2d": "pool", "ReLU": "relu",
           "Flatten": "flatten", "Linear": "fc", "Dropout": "dropout"}


def layer_names(layers: tuple[Layer, ...]) -> list[str]:
    """A name per layer: its kind's prefix, numbered when the prefix occurs more than once (conv1, relu1, pool1,
    ..., flatten, fc1, relu3, fc2): the registry's Net2 and CNNDemo are named by the same rule."""
    prefixes = [_PREFIX[layer.kind] for layer in layers]
    counts, seen = Counter(prefixes), Counter()
    names = []
    for p in prefixes:
        seen[p] += 1
        names.append(f"{p}{seen[p]}" if counts[p] > 1 else p)
    return names


def build(stack: Stack) -> nn.Sequential:
    """The model, for a stack whose shapes fit (PyTorch's default initialization), its layers named."""
    prop = propagate(stack)
    if prop.error is not None:
        raise StackError(prop.error.message())
    return nn.Sequential(OrderedDict(zip(layer_names(stack.layers), (layer.build() for layer in stack.layers))))


def code(stack: Stack, batch: int = 8) -> str:
    """The stack as a runnable `nn.Sequential` with the output shape of every layer in a comment."""
    prop = propagate(stack)
    lines = ["from collections import OrderedDict", "", "import torch", "from torch import nn", "",
             "model = nn.Sequential(OrderedDict("]
    for i, (name, layer) in enumerate(zip(layer_names(stack.layers), stack.layers)):
        if i < len(prop.rows):
            note = f"  # (B, {', '.join(map(str, prop.rows[i].out_shape))})"
        elif prop.error is not None and i == prop.error.index:
            note = f"  # <- does not fit: {prop.error.suggestion}"
        else:
            note = ""
        lines.append(f"    {name}={layer.code()},{note}")
    c, h, w = stack.input_shape
    shape = ", ".join(map(str, (batch,) + prop.output_shape))
    result = f"torch.Size([{shape}])" if prop.ok else "raises RuntimeError: see the marked layer"
    lines += ["))", "", f"x = torch.randn({batch}, {c}, {h}, {w})  # (B, C, H, W)",
              f"print(model(x).shape)  # {result}"]
    return "\n".join(lines) + "\n"


def _side(v: int | tuple[int, ...]) -> int:
    return v if isinstance(v, int) else v[0]


_READERS = {  # torch.nn layer -> the spec that builds it
    nn.Conv2d: lambda m: Conv2d(m.in_channels, m.out_channels, _side(m.kernel_size), _side(m.stride),
                                _side(m.padding), _side(m.dilation)),
    nn.MaxPool2d: lambda m: MaxPool2d(_side(m.kernel_size), _side(m.stride), _side(m.padding)),
    nn.AvgPool2d: lambda m: AvgPool2d(_side(m.kernel_size), _side(m.stride), _side(m.padding)),
    nn.BatchNorm2d: lambda m: BatchNorm2d(m.num_features),
    nn.ReLU: lambda m: ReLU(),
    nn.Flatten: lambda m: Flatten(),
    nn.Linear: lambda m: Linear(m.in_features, m.out_features),
    nn.Dropout: lambda m: Dropout(m.p),
}


def from_module(model: nn.Sequential, input_shape: tuple[int, int, int]) -> Stack:
    """The stack that builds `model` (same layer names, kinds and arguments). ValueError for a layer the
    builder doesn't offer or can't reproduce exactly (checked by rebuilding every layer)."""
    layers = []
    for name, child in model.named_children():
        read = _READERS.get(type(child))
        layer = read(child) if read is not None else None
        if layer is None or repr(layer.build()) != repr(child):
            raise ValueError(f"layer {name} ({child!r}) is not one the layer builder makes")
        layers.append(layer)
    stack = Stack(tuple(input_shape), tuple(layers))  # type: ignore[arg-type]
    if layer_names(stack.layers) != [n for n, _ in model.named_children()]:
        raise ValueError(f"the layers are named {[n for n, _ in model.named_children()]}, "
                         f"the builder names them {layer_names(stack.layers)}")
    return stack


def fits_task(stack: Stack, input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10) -> str:
    """"" when the stack takes inputs of `input_shape` and returns `classes` logits (MNIST: trainable by the
    app's engine), else the reason in plain words."""
    prop = propagate(stack)
    if prop.error is not None:
        return f"layer {prop.error.index} does not fit: {prop.error.suggestion}"
    if tuple(stack.input_shape) != input_shape:
        return f"the input is {stack.input_shape}, the digits are {input_shape}"
    if prop.output_shape != (classes,):
        return f"the output is {prop.output_shape} per image, {classes} class scores ({classes},) are needed"
    if not any(r.params for r in prop.rows):
        return "no layer has parameters, so there is nothing to train"
    return ""


def sandbox_stack(spec: conv_arithmetic.ConvSpec) -> Stack | None:
    """The Convolutions page's one-layer sandbox as a builder stack (one channel, square input), so the sandbox
    can link here (`?stack=` + encode(...)); None for a dilated max-pool, which the builder does not offer."""
    if spec.op == "pool":
        return None if spec.dilation != 1 else Stack((1, spec.size, spec.size),
                                                     (MaxPool2d(spec.kernel, spec.stride, spec.padding),))
    return Stack((1, spec.size, spec.size), (Conv2d(1, 1, spec.kernel, spec.stride, spec.padding, spec.dilation),))


# ---------------------------------------------------------------- links
def _values(layer: Layer) -> list[int]:
    return [round(getattr(layer, a.name) * a.scale) for a in layer.args]


def _default(cls: type[Layer], i: int, before: list[int]) -> int | None:
    """The value of argument i when a link leaves it out, given the values before it (None: required)."""
    a = cls.args[i]
    if a.same_as:
        return before[[b.name for b in cls.args].index(a.same_as)]
    f = cls.__dataclass_fields__[a.name]
    return None if f.default is dataclasses.MISSING else round(f.default * a.scale)


def encode(stack: Stack) -> str:
    """'i1.28.28_c1.16.3.1.1_r_m2_f_l3136.10': input then one token per layer, trailing defaults left out."""
    tokens = ["i" + ".".join(map(str, stack.input_shape))]
    for layer in stack.layers:
        values = _values(layer)
        while values and values[-1] == _default(type(layer), len(values) - 1, values[:-1]):
            values.pop()
        tokens.append(layer.letter + ".".join(map(str, values)))
    return "_".join(tokens)


@dataclass(frozen=True)
class Decoded:
    stack: Stack | None
    error: str = ""


_TOKEN = re.compile(r"([a-z])((?:0|[1-9][0-9]{0,7})(?:\.(?:0|[1-9][0-9]{0,7}))*)?")


def _read(token: str, args: tuple[Arg, ...], what: str, cls: type[Layer] | None = None) -> list[int] | str:
    m = _TOKEN.fullmatch(token)
    if m is None:
        return f"{what}: “{token[:20]}” is not letters and whole numbers"
    values = [int(v) for v in m.group(2).split(".")] if m.group(2) else []
    if len(values) > len(args):
        return f"{what}: {len(values)} numbers, at most {len(args)} expected"
    for i, a in enumerate(args):
        if i == len(values):
            default = _default(cls, i, values) if cls is not None else None
            if default is None:
                return f"{what}: {a.name} is missing"
            values.append(default)
        if not a.lo <= values[i] <= a.hi:
            return f"{what}: {a.name} = {values[i] / a.scale:g} is outside {a.lo / a.scale:g}…{a.hi / a.scale:g}"
    return values


def decode(text: str) -> Decoded:
    """The stack a link describes, or a message saying what is wrong with the text (never an exception)."""
    if not isinstance(text, str) or not text:
        return Decoded(None, "the layer text is empty")
    if len(text) > MAX_TEXT:
        return Decoded(None, f"the layer text is {len(text)} characters long, at most {MAX_TEXT} are read")
    tokens = text.split("_")
    if len(tokens) - 1 > MAX_LAYERS:
        return Decoded(None, f"{len(tokens) - 1} layers, at most {MAX_LAYERS} are built")
    if not tokens[0].startswith("i"):
        return Decoded(None, "the layer text must start with the input shape, e.g. i1.28.28")
    shape = _read(tokens[0], INPUT_ARGS, "input")
    if isinstance(shape, str):
        return Decoded(None, shape)
    layers: list[Layer] = []
    for i, token in enumerate(tokens[1:]):
        cls = BY_LETTER.get(token[:1])
        if cls is None:
            return Decoded(None, f"layer {i}: unknown kind “{token[:1]}” (known: {', '.join(BY_LETTER)})")
        values = _read(token, cls.args, f"layer {i} ({cls.kind})", cls)
        if isinstance(values, str):
            return Decoded(None, values)
        kwargs = {a.name: (v / a.scale if a.scale != 1 else v) for a, v in zip(cls.args, values)}
        layers.append(cls(**kwargs))
    return Decoded(Stack(tuple(shape), tuple(layers)))  # type: ignore[arg-type]


# ---------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    label: str
    stack: Stack
    note: str


def _model_stack(model: Callable[[], nn.Module]) -> Stack:
    """A model of the zoo with its default sizes, read back into its stack (built on the meta device: shapes only,
    no weights initialized)."""
    with torch.device("meta"):
        return from_module(model(), MNIST_INPUT)


PRESETS: dict[str, Preset] = {
    "net2": Preset("Net2 (the Fully connected page)", _model_stack(Net2),
                   "Flatten lays the 28×28 image out as 784 numbers; one hidden layer of 128."),
    "cnn": Preset("CNNDemo (the Convolutions page)", _model_stack(CNNDemo),
                  "Padding 1 keeps 3×3 convs at the same size; each 2×2 max-pool halves it: 28 → 14 → 7."),
    "lenet5": Preset("LeNet-5 (LeCun et al. 1998, with ReLU)", Stack(MNIST_INPUT, (
        Conv2d(1, 6, 5, padding=2), ReLU(), AvgPool2d(2),
        Conv2d(6, 16, 5), ReLU(), AvgPool2d(2),
        Flatten(), Linear(16 * 5 * 5, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10))),
        "The original took 32×32 inputs; padding 2 on the first conv gives MNIST's 28×28 the same 28×28 maps."),
    "broken": Preset("A broken CNN to repair", Stack(MNIST_INPUT, (
        Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(32 * 14 * 14, 128), ReLU(), Linear(128, 10))),
        "Someone counted one max-pool too few. Which layer fails, and what number fits?"),
}
