"""The Convolutions page's shape story: CNNDemo's stages measured on a real model, and why fc1 has the size it has."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


# ---------------------------------------------------------------- shapes through a live model
@dataclass(frozen=True)
class Stage:
    name: str  # "input" or the layer's name in the Sequential
    kind: str  # "Input", "Conv2d", ...
    shape: tuple[int, ...]  # output shape without the batch dimension
    formula: str  # parameter arithmetic, "" for layers without parameters
    params: int


def shape_stages(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> list[Stage]:
    """Input plus one Stage per layer of the model's own children (as `inspection.activations` lists
    them), measured on a private copy of the model."""
    from core.models.inspection import layer_table, top_level

    rows = top_level(layer_table(model, input_shape))
    return [Stage("input", "Input", tuple(input_shape[1:]), "", 0)] + [
        Stage(r.name, r.kind, tuple(r.output_shape[1:]), r.formula, r.params) for r in rows]


def flatten_explanation(stages: list[Stage]) -> str:
    """Why the first Linear layer's input has the size it has, from the measured shapes."""
    for i, st in enumerate(stages):
        if st.kind == "Flatten" and i > 0 and len(stages[i - 1].shape) == 3:
            c, h, w = stages[i - 1].shape
            nxt = next((s for s in stages[i + 1:] if s.kind == "Linear"), None)
            lin = f" That is why `{nxt.name}` is `nn.Linear({c * h * w}, …)`." if nxt else ""
            return (f"`{stages[i - 1].name}` hands over {c} channels of {h}×{w} pixels; `{st.name}` lays them "
                    f"out in one row of {c}·{h}·{w} = **{c * h * w:,}** numbers per image.{lin} Each 2×2 max-pool "
                    f"halves the side (28 → 14 → 7), while the 3×3 convs with padding 1 keep it: "
                    "⌊(28 + 2·1 − 1·(3−1) − 1)/1⌋ + 1 = 28.")
    return ""


def initial_model(cfg_model, seed: int) -> nn.Sequential:
    """The weights a training run with this seed starts from (the engine initializes exactly this way)."""
    from core.models.registry import build_model

    model = build_model(cfg_model, torch.Generator().manual_seed(seed))
    model.requires_grad_(False)
    return model.eval()
