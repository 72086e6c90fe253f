"""PyTorch source written from a built module (never typed in), so a code panel can't drift from its model."""
from __future__ import annotations

import keyword
from dataclasses import dataclass

from torch import nn

from core.models.zoo import Shape


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
    from core.models.inspection import layer_table  # inspection builds on the models, not the other way round

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
