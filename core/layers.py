"""The layer builder: a stack of layer specs on an input shape, its shapes, its model, its code, its link.

- One frozen dataclass per layer kind (Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, ReLU, Flatten, Linear,
  Dropout) that knows its arguments' bounds, how it changes a shape, how to build itself and how it is written.
- `propagate(stack)`: shapes after every layer with PyTorch's floor semantics (the spatial arithmetic is
  core/conv.py's `check`, the one the Convolutions page's sandbox uses). The first layer that doesn't fit
  stops it with a `Mismatch` that names the layer, says why, suggests the number that would fit and offers a
  repaired layer; the rows before it are kept.
- `build(stack)` -> nn.Sequential, `code(stack)` -> the same model as runnable Python.
- `encode` / `decode`: the stack as a short URL-safe string (`i1.28.28_c1.16.3.1.1_r_m2_f_l3136.10`),
  strictly validated; bad text gives a message, never an exception.

Shapes here are one sample's shape, without the batch dimension: (C, H, W) or (F,).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

from torch import nn

from core import conv

Shape = tuple[int, ...]  # one sample, no batch dimension

MAX_LAYERS = 30
MAX_TEXT = 600  # characters in an encoded stack
MAX_ACTIVATION = 1 << 23  # numbers in one sample's output of any layer (8,388,608 floats = 32 MiB)
MAX_PARAMS = 50_000_000  # parameters of the whole model (200 MB of float32)


@dataclass(frozen=True)
class Arg:
    """One integer argument of a layer as it appears in a link: bounds, and a scale for fractions."""

    name: str
    lo: int
    hi: int
    scale: int = 1  # Dropout's p is stored ×100 in links (p=0.25 -> 25)
    same_as: str = ""  # left out of a link, it equals this earlier argument (a pool's stride: kernel_size)


@dataclass(frozen=True)
class Fit:
    """What a layer makes of its input: the output shape, or why it can't, what would fit, and a repair."""

    out: Shape | None
    size_formula: str = ""  # output-size arithmetic with the numbers filled in ("" when the size is unchanged)
    reason: str = ""
    suggestion: str = ""
    fix: Layer | None = None

    @property
    def ok(self) -> bool:
        return self.out is not None


def _prod(xs: Shape) -> int:
    return math.prod(xs)


def _maps(layer: Layer, shape: Shape) -> Fit | None:
    """A refusal when `layer` needs (C, H, W) feature maps but gets something else."""
    if len(shape) == 3:
        return None
    where = " — it belongs before nn.Flatten()" if len(shape) == 1 else ""
    return Fit(None, reason=f"nn.{layer.kind} works on feature maps (C, H, W), but its input is {shape}{where}",
               suggestion=f"move nn.{layer.kind} before nn.Flatten(), or remove it")


def _spatial(layer: Layer, shape: Shape, kernel: int, stride: int, padding: int, dilation: int,
             op: conv.Op, channels: int) -> Fit:
    """Output (channels, H', W') from core/conv.py's floor formula, applied per axis."""
    h, w = shape[1], shape[2]
    checks = [conv.check(conv.ConvSpec(n, kernel, stride, padding, dilation, op)) for n in ((h, w) if h != w else (h,))]
    formula = "; ".join(f"{axis}: {c.formula}" for axis, c in zip(("H", "W"), checks)) if h != w \
        else f"H = W: {checks[0].formula}"
    bad = next((c for c in checks if not c.ok), None)
    if bad is None:
        sizes = [c.size for c in checks]
        return Fit((channels, sizes[0], sizes[-1]), formula)
    reason = "; ".join(bad.problems)
    fix, fixes = layer, []
    if stride < 1:
        fix, _ = dataclasses.replace(fix, stride=1), fixes.append("stride should be at least 1")
    if op == "pool" and padding > kernel // 2:
        fix, padding = dataclasses.replace(fix, padding=kernel // 2), kernel // 2
        fixes.append(f"padding should be at most {kernel // 2} (half of kernel_size {kernel})")
    k_max = (min(h, w) + 2 * padding - 1) // dilation + 1  # largest kernel whose span fits the padded input
    if kernel > k_max:
        fix = dataclasses.replace(fix, kernel_size=k_max)
        fixes.append(f"kernel_size should be at most {k_max} for a {h}×{w} input with padding {padding}")
    return Fit(None, formula, reason, " and ".join(fixes), fix)


class Layer:
    """Base of the layer specs: the table-driven parts (link letter, argument bounds, code)."""

    kind: ClassVar[str]
    letter: ClassVar[str]
    args: ClassVar[tuple[Arg, ...]] = ()

    def fit(self, shape: Shape, factors: str = "") -> Fit:  # factors: "32·7·7" when shape[-1] came from Flatten
        raise NotImplementedError

    def build(self) -> nn.Module:
        raise NotImplementedError

    def param_shapes(self) -> tuple[Shape, ...]:
        """Shapes of the parameters as the arithmetic is usually written (Linear: in·out)."""
        return ()

    def code(self) -> str:
        """`nn.Kind(...)` with positional required arguments and only the keywords that differ from PyTorch's."""
        parts = [repr(getattr(self, f.name)) for f in dataclasses.fields(self) if f.metadata.get("positional")]
        parts += [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                  if not f.metadata.get("positional") and getattr(self, f.name) != f.metadata.get("torch_default")]
        return f"nn.{self.kind}({', '.join(parts)})"


def _pos(**kw) -> dataclasses.Field:
    return field(metadata={"positional": True}, **kw)


def _kw(default: object, torch_default: object = None) -> dataclasses.Field:
    return field(default=default, metadata={"torch_default": default if torch_default is None else torch_default})


@dataclass(frozen=True)
class Conv2d(Layer):
    in_channels: int = _pos()
    out_channels: int = _pos()
    kernel_size: int = _pos(default=3)
    stride: int = _kw(1)
    padding: int = _kw(0)
    dilation: int = _kw(1)
    kind: ClassVar[str] = "Conv2d"
    letter: ClassVar[str] = "c"
    args: ClassVar[tuple[Arg, ...]] = (Arg("in_channels", 1, 1024), Arg("out_channels", 1, 1024),
                                       Arg("kernel_size", 1, 31), Arg("stride", 0, 16), Arg("padding", 0, 32),
                                       Arg("dilation", 1, 8))

    def fit(self, shape: Shape, factors: str = "") -> Fit:
        if (refused := _maps(self, shape)) is not None:
            return refused
        got = _spatial(self, shape, self.kernel_size, self.stride, self.padding, self.dilation, "conv",
                       self.out_channels)
        if shape[0] == self.in_channels:
            return got
        reason = f"in_channels is {self.in_channels}, but its input has {shape[0]} channel{'s' * (shape[0] > 1)}"
        suggestion = f"in_channels should be {shape[0]}"
        fix = dataclasses.replace(got.fix or self, in_channels=shape[0])
        if got.ok:
            return Fit(None, got.size_formula, reason, suggestion, fix)
        return Fit(None, got.size_formula, f"{reason}; {got.reason}", f"{suggestion} and {got.suggestion}", fix)

    def build(self) -> nn.Module:
        return nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                         self.dilation)

    def param_shapes(self) -> tuple[Shape, ...]:
        return (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size), (self.out_channels,)


@dataclass(frozen=True)
class _Pool(Layer):
    kernel_size: int = _pos(default=2)
    stride: int = None  # type: ignore[assignment]  # None -> kernel_size, PyTorch's default
    padding: int = _kw(0)
    args: ClassVar[tuple[Arg, ...]] = (Arg("kernel_size", 1, 31), Arg("stride", 0, 16, same_as="kernel_size"),
                                       Arg("padding", 0, 32))

    def __post_init__(self) -> None:
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel_size)

    def fit(self, shape: Shape, factors: str = "") -> Fit:
        if (refused := _maps(self, shape)) is not None:
            return refused
        return _spatial(self, shape, self.kernel_size, self.stride, self.padding, 1, "pool", shape[0])

    def code(self) -> str:
        extra = ("" if self.stride == self.kernel_size else f", stride={self.stride}") + \
            (f", padding={self.padding}" if self.padding else "")
        return f"nn.{self.kind}({self.kernel_size}{extra})"


@dataclass(frozen=True)
class MaxPool2d(_Pool):
    kind: ClassVar[str] = "MaxPool2d"
    letter: ClassVar[str] = "m"

    def build(self) -> nn.Module:
        return nn.MaxPool2d(self.kernel_size, self.stride, self.padding)


@dataclass(frozen=True)
class AvgPool2d(_Pool):
    kind: ClassVar[str] = "AvgPool2d"
    letter: ClassVar[str] = "a"

    def build(self) -> nn.Module:
        return nn.AvgPool2d(self.kernel_size, self.stride, self.padding)


@dataclass(frozen=True)
class BatchNorm2d(Layer):
    num_features: int = _pos()
    kind: ClassVar[str] = "BatchNorm2d"
    letter: ClassVar[str] = "b"
    args: ClassVar[tuple[Arg, ...]] = (Arg("num_features", 1, 1024),)

    def fit(self, shape: Shape, factors: str = "") -> Fit:
        if (refused := _maps(self, shape)) is not None:
            return refused
        if shape[0] != self.num_features:
            return Fit(None, reason=f"num_features is {self.num_features}, but its input has {shape[0]} "
                              f"channel{'s' * (shape[0] > 1)}",
                       suggestion=f"num_features should be {shape[0]}",
                       fix=dataclasses.replace(self, num_features=shape[0]))
        return Fit(shape)

    def build(self) -> nn.Module:
        return nn.BatchNorm2d(self.num_features)

    def param_shapes(self) -> tuple[Shape, ...]:
        return (self.num_features,), (self.num_features,)  # weight (scale) and bias (shift)


@dataclass(frozen=True)
class ReLU(Layer):
    kind: ClassVar[str] = "ReLU"
    letter: ClassVar[str] = "r"

    def fit(self, shape: Shape, factors: str = "") -> Fit:
        return Fit(shape)

    def build(self) -> nn.Module:
        return nn.ReLU()


@dataclass(frozen=True)
class Flatten(Layer):
    kind: ClassVar[str] = "Flatten"
    letter: ClassVar[str] = "f"

    def fit(self, shape: Shape, factors: str = "") -> Fit:
        if len(shape) == 1:
            return Fit(shape)
        return Fit((_prod(shape),), f"{'·'.join(map(str, shape))} = {_prod(shape):,}")

    def build(self) -> nn.Module:
        return nn.Flatten()


@dataclass(frozen=True)
class Linear(Layer):
    in_features: int = _pos()
    out_features: int = _pos()
    kind: ClassVar[str] = "Linear"
    letter: ClassVar[str] = "l"
    args: ClassVar[tuple[Arg, ...]] = (Arg("in_features", 1, 1 << 22), Arg("out_features", 1, 65536))

    def fit(self, shape: Shape, factors: str = "") -> Fit:
        last = shape[-1]
        if last == self.in_features:
            return Fit(shape[:-1] + (self.out_features,))
        if len(shape) > 1:
            return Fit(None, reason=f"nn.Linear multiplies the last dimension of its input, which is {last} for "
                                    f"{shape}, not in_features = {self.in_features}",
                       suggestion=f"put nn.Flatten() before it; then in_features should be {_prod(shape):,} = "
                                  f"{'·'.join(map(str, shape))}")
        why = f" = {factors}" if factors else ""
        return Fit(None, reason=f"in_features is {self.in_features:,}, but its input has {last:,} features{why}",
                   suggestion=f"in_features should be {last}{why}",
                   fix=dataclasses.replace(self, in_features=last))

    def build(self) -> nn.Module:
        return nn.Linear(self.in_features, self.out_features)

    def param_shapes(self) -> tuple[Shape, ...]:
        return (self.in_features, self.out_features), (self.out_features,)


@dataclass(frozen=True)
class Dropout(Layer):
    p: float = _kw(0.5)
    kind: ClassVar[str] = "Dropout"
    letter: ClassVar[str] = "d"
    args: ClassVar[tuple[Arg, ...]] = (Arg("p", 0, 100, scale=100),)

    def fit(self, shape: Shape, factors: str = "") -> Fit:
        return Fit(shape)

    def build(self) -> nn.Module:
        return nn.Dropout(self.p)

    def code(self) -> str:
        return "nn.Dropout()" if self.p == 0.5 else f"nn.Dropout(p={self.p:g})"


KINDS: dict[str, type[Layer]] = {cls.kind: cls for cls in
                                 (Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, ReLU, Flatten, Linear, Dropout)}
BY_LETTER: dict[str, type[Layer]] = {cls.letter: cls for cls in KINDS.values()}
INPUT_ARGS = (Arg("channels", 1, 64), Arg("height", 1, 1024), Arg("width", 1, 1024))


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
    return sum(_prod(s) for s in shapes), " + ".join("·".join(map(str, s)) for s in shapes)


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
        if got.ok and _prod(got.out) > MAX_ACTIVATION:
            got = Fit(None, got.size_formula, f"its output {got.out} holds {_prod(got.out):,} numbers per image, more "
                      f"than this app computes ({MAX_ACTIVATION:,})", "use fewer channels or a smaller input")
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


class StackError(ValueError):
    """A stack that doesn't fit, asked to become a model."""


def build(stack: Stack) -> nn.Sequential:
    """The model, for a stack whose shapes fit (PyTorch's default initialization)."""
    prop = propagate(stack)
    if prop.error is not None:
        raise StackError(prop.error.message())
    return nn.Sequential(*(layer.build() for layer in stack.layers))


def code(stack: Stack, batch: int = 8) -> str:
    """The stack as a runnable `nn.Sequential` with the output shape of every layer in a comment."""
    prop = propagate(stack)
    lines = ["import torch", "from torch import nn", "", "model = nn.Sequential("]
    for i, layer in enumerate(stack.layers):
        if i < len(prop.rows):
            note = f"  # (B, {', '.join(map(str, prop.rows[i].out_shape))})"
        elif prop.error is not None and i == prop.error.index:
            note = f"  # <- does not fit: {prop.error.suggestion}"
        else:
            note = ""
        lines.append(f"    {layer.code()},{note}")
    c, h, w = stack.input_shape
    shape = ", ".join(map(str, (batch,) + prop.output_shape))
    result = f"torch.Size([{shape}])" if prop.ok else "raises RuntimeError: see the marked layer"
    lines += [")", "", f"x = torch.randn({batch}, {c}, {h}, {w})  # (B, C, H, W)", f"print(model(x).shape)  # {result}"]
    return "\n".join(lines) + "\n"


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


def sandbox_stack(spec: conv.ConvSpec) -> Stack | None:
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


MNIST = (1, 28, 28)
PRESETS: dict[str, Preset] = {
    "net2": Preset("Net2 (the Fully connected page)", Stack(MNIST, (
        Flatten(), Linear(784, 128), ReLU(), Linear(128, 10))),
        "Flatten lays the 28×28 image out as 784 numbers; one hidden layer of 128."),
    "cnn": Preset("CNNDemo (the Convolutions page)", Stack(MNIST, (
        Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(32 * 7 * 7, 128), ReLU(), Linear(128, 10))),
        "Padding 1 keeps 3×3 convs at the same size; each 2×2 max-pool halves it: 28 → 14 → 7."),
    "lenet5": Preset("LeNet-5 (LeCun et al. 1998, with ReLU)", Stack(MNIST, (
        Conv2d(1, 6, 5, padding=2), ReLU(), AvgPool2d(2),
        Conv2d(6, 16, 5), ReLU(), AvgPool2d(2),
        Flatten(), Linear(16 * 5 * 5, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10))),
        "The original took 32×32 inputs; padding 2 on the first conv gives MNIST's 28×28 the same 28×28 maps."),
    "broken": Preset("A broken CNN to repair", Stack(MNIST, (
        Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(32 * 14 * 14, 128), ReLU(), Linear(128, 10))),
        "Someone counted one max-pool too few. Which layer fails, and what number fits?"),
}
