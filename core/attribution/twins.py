"""Private twins of a shared model: the same module structure sharing its parameter and buffer tensors.

Captum's hooks, `.grad` and mode changes land on a twin, never on the cached model every session reads. A
"guided" twin gives every use of a ReLU its own non-in-place module (torchvision's BasicBlock reuses one
in-place ReLU twice, which breaks Guided Backprop); `Twins` keeps both twins of one model and the lock that
lets one attribution at a time use them, so a call copies nothing.
"""
from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck


class SplitReLUBasicBlock(nn.Module):
    """torchvision's BasicBlock with one ReLU module per use (the original calls `self.relu` twice, in place)."""

    def __init__(self, block: BasicBlock) -> None:
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.bn2 = block.conv1, block.bn1, block.conv2, block.bn2
        self.downsample = block.downsample
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + identity)


class SplitReLUBottleneck(nn.Module):
    """torchvision's Bottleneck with one ReLU module per use (the original calls `self.relu` three times)."""

    def __init__(self, block: Bottleneck) -> None:
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.bn2 = block.conv1, block.bn1, block.conv2, block.bn2
        self.conv3, self.bn3, self.downsample = block.conv3, block.bn3, block.downsample
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        return self.relu3(self.bn3(self.conv3(out)) + identity)


# Module type -> its rewrite with one ReLU per use (keys are exact types: a subclass may change forward).
SPLIT_RELU: dict[type, Callable[[nn.Module], nn.Module]] = {
    BasicBlock: SplitReLUBasicBlock,
    Bottleneck: SplitReLUBottleneck,
}


def _device(model: nn.Module) -> torch.device:
    p = next(itertools.chain(model.parameters(), model.buffers()), None)
    return p.device if p is not None else torch.device("cpu")


def _replace_modules(root: nn.Module, rewrite: Callable[[nn.Module], nn.Module | None]) -> None:
    """Replace, in place, every submodule for which rewrite() returns a new module (depth first)."""
    for name, child in list(root.named_children()):
        new = rewrite(child)
        if new is not None:
            setattr(root, name, new)
            child = new
        _replace_modules(child, rewrite)


def twin(model: nn.Module, one_relu_per_use: bool = False) -> nn.Module:
    """A private copy of the module structure sharing every parameter and buffer tensor (nothing is copied
    but the modules). With one_relu_per_use (for the guided methods), every ReLU is a fresh non-in-place
    module and torchvision's ResNet blocks get one ReLU per use; otherwise the ReLUs stay as they are
    (in place is faster, and only the guided methods hook them)."""
    shared: dict[int, object] = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    out = copy.deepcopy(model, memo=shared)
    for m in out.modules():  # hooks copied from the original (if any) are not ours to run
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
        m._backward_hooks.clear()
    if one_relu_per_use:
        _replace_modules(out, lambda m: SPLIT_RELU[type(m)](m) if type(m) in SPLIT_RELU
                         else nn.ReLU() if isinstance(m, nn.ReLU) else None)
    return out


@dataclass(frozen=True, eq=False)
class Twins:
    """The two private twins of one shared model, built once and reused (building a ResNet-18 twin costs about
    as much as a Grad-CAM), with the lock that lets one attribution at a time use them: `plain` for most
    methods, `guided` (one non-in-place ReLU per use) for Guided Backprop and Guided Grad-CAM."""

    plain: nn.Module
    guided: nn.Module
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, guided: bool) -> nn.Module:
        return self.guided if guided else self.plain


def twins(model: nn.Module) -> Twins:
    """Both twins of `model`; pass them to attribute() to skip the per-call copy (the page caches one per model)."""
    return Twins(twin(model), twin(model, one_relu_per_use=True))


def _shares(private: nn.Module, model: nn.Module) -> bool:
    ours = list(itertools.chain(private.parameters(), private.buffers()))
    theirs = list(itertools.chain(model.parameters(), model.buffers()))
    return len(ours) == len(theirs) and all(a is b for a, b in zip(ours, theirs))


@contextmanager
def forward_hooks(modules: dict[str, nn.Module], hook: Callable[[str, nn.Module, object], None]) -> Iterator[None]:
    """hook(name, module, output) on every forward of the given modules; always removed on exit."""
    handles = [m.register_forward_hook(lambda mod, _inp, out, name=n: hook(name, mod, out))
               for n, m in modules.items()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
