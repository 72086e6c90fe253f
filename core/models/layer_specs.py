"""Layer specs of the layer builder: one frozen dataclass per layer kind with its arguments.

Each spec (Conv2d, MaxPool2d, AvgPool2d, BatchNorm2d, ReLU, Flatten, Linear, Dropout) knows its arguments'
bounds (as links carry them), what it makes of an input shape (`fit`: the output shape, or why it can't
take it, the number that would fit and a repaired spec), how to build itself and how it is written in
PyTorch. The spatial arithmetic is core/conv.py's `check`, the Convolutions page sandbox's formula, per axis.

Shapes are one sample's shape, without the batch dimension: (C, H, W) or (F,).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar

from torch import nn

from core.models import conv_arithmetic

Shape = tuple[int, ...]  # one sample, no batch dimension

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
             op: conv_arithmetic.Op, channels: int) -> Fit:
    """Output (channels, H', W') from core/conv.py's floor formula, applied per axis."""
    h, w = shape[1], shape[2]
    checks = [conv_arithmetic.check(conv_arithmetic.ConvSpec(n, kernel, stride, padding, dilation, op))
              for n in ((h, w) if h != w else (h,))]
    formula = "; ".join(f"{axis}: {c.formula}" for axis, c in zip(("H", "W"), checks)) if h != w \
        else f"H = W: {checks[0].formula}"
    bad = next((c for c in checks if not c.ok), None)
    if bad is None:
        sizes = [c.size for c in checks]
        return Fit((channels, sizes[0], sizes[-1]), formula)
    reason = "; ".join(bad.problems)
    fix, fixes = layer, []
    if stride < 1:
        fix = dataclasses.replace(fix, stride=1)
        fixes.append("stride should be at least 1")
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
