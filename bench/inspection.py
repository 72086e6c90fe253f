"""Bench rows for core.models.inspection on ResNet-18: the layer table on a shape-only (meta) copy against the
previous way (a full deepcopy of the weights and a real forward pass on zeros), side by side; and the table
without mult-adds (the fast path) against the same table with them (FlopCounterMode)."""
from __future__ import annotations

import copy
from functools import partial

import torch
from torch import nn

from bench.timing import median_ms
from core.models.inspection import activations, layer_table
from core.models.registry import ModelConfig, build_model

_median_ms = partial(median_ms, warmup=1)  # this module's warm-up calls


def _previous_layer_table(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """The former algorithm: deepcopy (weights included), leaf hooks, forward on real zeros."""
    private = copy.deepcopy(model).eval()
    shapes = []
    handles = [m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
               for m in private.modules() if not list(m.children())]
    try:
        with torch.inference_mode():
            private(torch.zeros(input_shape))
    finally:
        for h in handles:
            h.remove()
    return len(shapes)


def rows(repeats: int = 5) -> list[dict]:
    model = build_model(ModelConfig("resnet18")).eval()
    out = []
    for batch, side in ((1, 32), (1, 224), (64, 224)):  # batch 64: the Fully connected page's table
        shape = (batch, 3, side, side)
        before = _median_ms(lambda s=shape: _previous_layer_table(model, s), repeats if batch == 1 else 1)
        now = _median_ms(lambda s=shape: layer_table(model, s), repeats)
        out.append(dict(name=f"ResNet-18 layer table, batch {batch} at {side} px (shape-only copy; was deepcopy + "
                             "real forward)", value=round(now, 4), unit="ms", baseline=round(before, 4),
                        ratio=round(before / now, 1), note="the page caches it per config (ui.inspection.layer_table)"))
    shape = (64, 3, 224, 224)  # the fast path (no flop counter) against the same table with mult-adds
    fast = _median_ms(lambda: layer_table(model, shape), repeats)
    counted = _median_ms(lambda: layer_table(model, shape, mult_adds=True), repeats)
    out.append(dict(name="ResNet-18 layer table, batch 64 at 224 px: without mult-adds (vs with FlopCounterMode)",
                    value=round(fast, 4), unit="ms", baseline=round(counted, 4), ratio=round(counted / fast, 1),
                    note="the Fully connected page needs no mult-adds; the Layer shapes page does"))
    x = torch.randn(1, 3, 224, 224)
    copied = _median_ms(lambda: copy.deepcopy(model), repeats)
    acts = _median_ms(lambda: activations(model, x), repeats)
    out.append(dict(name="ResNet-18 activations of every stage at 224 px (copy shares the weights)",
                    value=round(acts, 4), unit="ms", note=f"a deepcopy of the weights alone takes {copied:.0f} ms"))
    return out
