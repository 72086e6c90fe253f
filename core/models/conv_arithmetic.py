"""Convolution arithmetic, the way PyTorch does it.

- `output_size` / `check`: the floor formula for Conv2d and MaxPool2d (with dilation), the formula written
  out with the learner's numbers, and plain-words reasons when PyTorch would refuse.
- `pytorch_output_size`: what nn.Conv2d / nn.MaxPool2d actually do on a real tensor (the check).
- `coverage`: where the kernel lands on the padded input, and which input pixels it never touches.
- `conv_at`: one output value of a conv layer taken apart: input patch × kernel, products, sum + bias.

Everything here works on square inputs and square kernels (the app's sliders); PyTorch's formula is applied
per axis, so the same numbers hold for each side of a rectangle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.fmt import num

Op = Literal["conv", "pool"]
OP_LABELS: dict[str, str] = {"conv": "nn.Conv2d", "pool": "nn.MaxPool2d"}


@dataclass(frozen=True)
class ConvSpec:
    """One spatial axis of a Conv2d / MaxPool2d applied to a square input."""

    size: int = 28  # input height = width
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    op: Op = "conv"

    @property
    def effective_kernel(self) -> int:
        """Span of the kernel on the input, counting the holes dilation leaves: d·(k−1) + 1."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded(self) -> int:
        return self.size + 2 * self.padding

    def torch_call(self) -> str:
        if self.op == "conv":
            return (f"nn.Conv2d(1, 1, kernel_size={self.kernel}, stride={self.stride}, "
                    f"padding={self.padding}, dilation={self.dilation})")
        return (f"nn.MaxPool2d(kernel_size={self.kernel}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation})")


@dataclass(frozen=True)
class SizeCheck:
    spec: ConvSpec
    size: int | None  # output height = width, None when the configuration is invalid
    formula: str  # the floor formula with the numbers filled in (or as far as it can go)
    problems: tuple[str, ...] = ()  # plain-words reasons PyTorch would refuse
    notes: tuple[str, ...] = ()  # valid but worth knowing (e.g. pixels that are never covered)

    @property
    def ok(self) -> bool:
        return not self.problems


def output_size(n: int, k: int, s: int, p: int = 0, d: int = 1) -> int:
    """PyTorch's formula (floor mode): ⌊(n + 2p − d·(k−1) − 1) / s⌋ + 1. Needs s ≥ 1."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def check(spec: ConvSpec) -> SizeCheck:
    """Output size with the formula written out, or the reasons the configuration is invalid."""
    n, k, s, p, d = spec.size, spec.kernel, spec.stride, spec.padding, spec.dilation
    problems: list[str] = []
    if n < 1:
        problems.append(f"the input must be at least 1 pixel wide (it is {n})")
    if k < 1:
        problems.append(f"the kernel must be at least 1 pixel wide (it is {k})")
    if s < 1:
        problems.append(f"the stride is {s}: the kernel must move at least 1 pixel per step, otherwise it "
                        "never gets anywhere (PyTorch: “non-positive stride is not supported”)"
                        if spec.op == "conv" else
                        f"the stride is {s}: the window must move at least 1 pixel per step "
                        "(PyTorch: “stride should not be zero”)")
    if d < 1:
        problems.append(f"dilation must be at least 1 (it is {d}); 1 means no holes in the kernel")
    if p < 0:
        problems.append(f"padding can't be negative (it is {p})")
    if spec.op == "pool" and k >= 1 and d >= 1 and p > k // 2:
        problems.append(f"pooling padding may be at most half the kernel size ({k} // 2 = {k // 2}), but it is "
                        f"{p}: a window could then hold nothing but padding (PyTorch: “pad should be smaller than "
                        "or equal to half of kernel size”)")
    span = spec.effective_kernel
    top = f"{n} + 2·{p} − {d}·({k}−1) − 1"
    if k >= 1 and d >= 1 and p >= 0 and n >= 1 and span > spec.padded:
        problems.append(f"the kernel spans {span} pixels ({d}·({k}−1) + 1) but the padded input is only "
                        f"{spec.padded} pixels wide ({n} + 2·{p}): the kernel does not fit even once "
                        "(PyTorch: “Kernel size can't be greater than actual input size”"
                        + (" / “Output size is too small”)" if spec.op == "pool" else ")"))
    if problems:
        formula = f"out = ⌊({top}) / {s}⌋ + 1" + (" — undefined" if s < 1 else
                                                   f" = {output_size(n, k, s, p, d)} → invalid")
        return SizeCheck(spec, None, formula, tuple(problems))
    out = output_size(n, k, s, p, d)
    num = n + 2 * p - d * (k - 1) - 1
    formula = f"out = ⌊({top}) / {s}⌋ + 1 = ⌊{num} / {s}⌋ + 1 = {num // s} + 1 = {out}"
    notes: list[str] = []
    left = num % s
    if left:
        notes.append(f"{num} / {s} is not a whole number: PyTorch rounds down (floor), so the last {left} "
                     f"padded pixel{'s' if left > 1 else ''} on the right and bottom "
                     f"{'are' if left > 1 else 'is'} never reached by the kernel.")
    if d > 1 and s > 1:
        notes.append("With dilation the kernel has holes, so some pixels can fall between its taps.")
    cov = coverage(spec)
    if cov.uncovered.any():
        notes.append(f"{int(cov.uncovered.sum())} of the {n * n} input pixels are never covered by any "
                     "kernel position: they cannot affect the output at all.")
    return SizeCheck(spec, out, formula, (), tuple(notes))


def pytorch_output_size(spec: ConvSpec) -> tuple[int | None, str]:
    """(output side, "") from running the real nn.Conv2d / nn.MaxPool2d on zeros, or (None, PyTorch's error)."""
    try:
        if spec.op == "conv":
            layer: nn.Module = nn.Conv2d(1, 1, spec.kernel, spec.stride, spec.padding, spec.dilation)
        else:
            layer = nn.MaxPool2d(spec.kernel, spec.stride, spec.padding, spec.dilation)
        with torch.inference_mode():
            y = layer(torch.zeros(1, 1, spec.size, spec.size))  # (1, 1, out, out)
        return int(y.shape[-1]), ""
    except (RuntimeError, ValueError) as e:
        return None, str(e).splitlines()[0]


@dataclass(frozen=True)
class Coverage:
    counts: np.ndarray  # (P, P) int: how many kernel positions touch each padded pixel
    is_padding: np.ndarray  # (P, P) bool: the zero (or -inf for max-pool) border
    uncovered: np.ndarray  # (P, P) bool: real input pixels no kernel position ever touches
    first_taps: np.ndarray  # (P, P) bool: where the kernel's taps land for output (0, 0)
    out: int  # output side


def coverage(spec: ConvSpec) -> Coverage:
    """Where the kernel lands. Valid specs only (stride ≥ 1, kernel fits)."""
    P, k, s, d = spec.padded, spec.kernel, spec.stride, spec.dilation
    out = output_size(spec.size, k, s, spec.padding, d)
    hits = np.zeros(P, dtype=np.int64)  # one axis: how many windows touch each padded index
    for o in range(max(out, 0)):
        hits[o * s + d * np.arange(k)] += 1
    counts = np.outer(hits, hits)
    is_padding = np.ones((P, P), dtype=bool)
    is_padding[spec.padding:spec.padding + spec.size, spec.padding:spec.padding + spec.size] = False
    first = np.zeros(P, dtype=bool)
    first[d * np.arange(k)] = True
    return Coverage(counts, is_padding, (counts == 0) & ~is_padding, np.outer(first, first), out)


@dataclass(frozen=True)
class ConvStep:
    """One output value of a conv layer, taken apart."""

    out_channel: int
    row: int
    col: int
    patch: np.ndarray  # (C_in, k, k) input values under the kernel (zeros where it hangs over the padding)
    kernel: np.ndarray  # (C_in, k, k) weights of this output channel
    products: np.ndarray  # (C_in, k, k) patch * kernel
    channel_sums: np.ndarray  # (C_in,) sum of products per input channel
    bias: float
    value: float  # sum of all products + bias
    rows_in: tuple[int, int] = field(default=(0, 0))  # input rows covered (start, stop), unpadded coords
    cols_in: tuple[int, int] = field(default=(0, 0))


def conv_at(x: torch.Tensor, conv: nn.Conv2d, out_channel: int, row: int, col: int) -> ConvStep:
    """Output (out_channel, row, col) of `conv` on one input `x` (C_in, H, W), computed by hand.

    Equals conv(x)[out_channel, row, col] (checked against F.conv2d in the tests). Groups = 1 only.
    """
    if conv.groups != 1:
        raise ValueError("conv_at handles ordinary convolutions (groups=1) only")
    k_h, k_w = conv.kernel_size
    s_h, s_w = conv.stride
    p_h, p_w = conv.padding if isinstance(conv.padding, tuple) else (0, 0)
    d_h, d_w = conv.dilation
    with torch.inference_mode():
        xp = F.pad(x.detach().float().cpu(), (p_w, p_w, p_h, p_h))  # (C_in, H + 2p, W + 2p)
        r0, c0 = row * s_h, col * s_w
        patch = xp[:, r0:r0 + d_h * (k_h - 1) + 1:d_h, c0:c0 + d_w * (k_w - 1) + 1:d_w]  # (C_in, k, k)
        weight = conv.weight[out_channel].detach().float().cpu()  # (C_in, k, k)
        bias = float(conv.bias[out_channel]) if conv.bias is not None else 0.0
        products = patch * weight  # (C_in, k, k)
        channel_sums = products.sum(dim=(1, 2))  # (C_in,)
        value = float(channel_sums.double().sum()) + bias
    H, W = x.shape[-2:]
    rows_in = (max(r0 - p_h, 0), min(r0 - p_h + d_h * (k_h - 1) + 1, H))
    cols_in = (max(c0 - p_w, 0), min(c0 - p_w + d_w * (k_w - 1) + 1, W))
    return ConvStep(out_channel, row, col, patch.numpy(), weight.numpy(), products.numpy(),
                    channel_sums.numpy(), bias, value, rows_in, cols_in)


def arithmetic_text(step: ConvStep, in_channel: int | None = None, digits: int = 2) -> str:
    """'0.12·0.40 + … = s' for one input channel (or the whole sum when None), in the one number format."""
    if in_channel is not None:
        p, w = step.patch[in_channel].ravel(), step.kernel[in_channel].ravel()
        terms = " + ".join(f"({num(a, digits)})·({num(b, digits)})" for a, b in zip(p, w))
        return f"{terms} = {num(step.channel_sums[in_channel], 4)}"
    sums = step.channel_sums
    if len(sums) == 1:
        return f"{num(sums[0], 4)} + bias ({num(step.bias, 4)}) = {num(step.value, 4)}"
    return (f"sum over {len(sums)} input channels ({num(float(sums.sum()), 4)}) + bias ({num(step.bias, 4)}) "
            f"= {num(step.value, 4)}")
