"""`python -m bench --only attribution`: attribution times, ours against raw Captum in the same run.

ResNet-18 (torchvision, random weights: the time does not depend on them) at 224 px, one image:
Saliency, Grad-CAM (layer4), Integrated Gradients (50 steps) and SmoothGrad (25 samples), each
through core.attribution.attribute as the page calls it (the model's cached private twins under their lock,
pixel-space wrapper, the page's target given)
and through Captum alone on the model itself, median of several runs after a warm-up. Then every
method on the MNIST models and on a transfer-learning model (32 and 64 px), the top-5 prediction, and the
figure-only rerun (alpha / clipping change).
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from core.attribution.methods import METHODS, AttributionSpec, attribute, conv_layers, predict
from core.attribution.twins import twin, twins
from core.data.normalization import DIGITS_NORM, IMAGENET_NORM, MNIST_NORM
from core.figures.attribution import View, explanation
from core.models.zoo import CNNDemo, Net2, reset_parameters

TARGETS_MS = {"saliency": 150, "grad_cam": 150, "integrated_gradients": 3500, "smoothgrad": 1500}


def row(name: str, value: float, unit: str, **extra) -> dict:
    return {"name": name, "value": round(value, 4), "unit": unit, **extra}


def median_ms(fn: Callable[[], object], repeats: int, device: torch.device, warm: bool = True) -> float:
    if warm:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def paired_ms(ours: Callable[[], object], raw: Callable[[], object], repeats: int,
              device: torch.device) -> tuple[float, float]:
    """Medians of ours and raw, run alternately (a busy machine slows both alike, not one of them)."""
    a, b = [], []
    for i in range(repeats + 1):
        ta, tb = median_ms(ours, 1, device, warm=i == 0), median_ms(raw, 1, device, warm=i == 0)
        if i:
            a.append(ta)
            b.append(tb)
    return statistics.median(a), statistics.median(b)


def raw_captum(method: str, model: nn.Module, x_norm: torch.Tensor, target: int) -> Callable[[], object]:
    """Captum alone on the model and an already normalized input: the floor we are compared against."""
    from captum.attr import IntegratedGradients, LayerGradCam, NoiseTunnel, Saliency

    calls = {
        "saliency": lambda: Saliency(model).attribute(x_norm.clone().requires_grad_(), target=target, abs=False),
        "grad_cam": lambda: LayerGradCam(model, model.layer4).attribute(x_norm.clone().requires_grad_(),
                                                                        target=target, relu_attributions=True),
        "integrated_gradients": lambda: IntegratedGradients(model).attribute(
            x_norm.clone().requires_grad_(), baselines=torch.zeros_like(x_norm), target=target, n_steps=50,
            internal_batch_size=16),
        "smoothgrad": lambda: NoiseTunnel(Saliency(model)).attribute(
            x_norm.clone().requires_grad_(), nt_type="smoothgrad", nt_samples=25, stdevs=0.15, target=target,
            abs=False),
    }
    return calls[method]


def resnet_rows(device: torch.device, quick: bool) -> list[dict]:
    from torchvision.models import resnet18

    model = reset_parameters(resnet18(weights=None), torch.Generator().manual_seed(0)).eval().requires_grad_(False)
    model = model.to(device)
    pixels = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(device)
    mean, std = (torch.tensor(v, device=device).reshape(1, 3, 1, 1) for v in IMAGENET_NORM)
    x_norm = (pixels - mean) / std
    target = predict(model, pixels, IMAGENET_NORM).predicted
    layer = conv_layers(model, (3, 224, 224)).default  # the page caches this per model
    rows = []
    specs = {"saliency": AttributionSpec("saliency"), "grad_cam": AttributionSpec("grad_cam", layer=layer),
             "integrated_gradients": AttributionSpec("integrated_gradients", steps=50),
             "smoothgrad": AttributionSpec("smoothgrad", samples=25, noise=0.15)}
    reuse = twins(model)  # the page caches these once per model (ui.saliency._twins)
    for method, spec in specs.items():
        repeats = 3 if quick or method in ("integrated_gradients", "smoothgrad") else 11
        ours, raw = paired_ms(lambda s=spec: attribute(model, pixels, s, IMAGENET_NORM, target, reuse=reuse),
                              raw_captum(method, model, x_norm, target), repeats, device)
        rows.append(row(f"Attribution · ResNet-18 224 px · {METHODS[method].label}{_settings(spec)}", ours, "ms",
                        baseline=round(raw, 1), ratio=round(raw / ours, 2),
                        target=f"< {TARGETS_MS[method]} ms on CPU" if device.type == "cpu" else "",
                        note=f"ours / raw Captum = {ours / raw:.2f}"))
    rows.append(row("Attribution · ResNet-18 224 px · twin (module copy sharing the weights; once per model now)",
                    median_ms(lambda: twin(model), 9, device), "ms"))
    rows.append(row("Attribution · ResNet-18 224 px · top-5 prediction",
                    median_ms(lambda: predict(model, pixels, IMAGENET_NORM), 9, device), "ms"))
    rows.append(row("Attribution · ResNet-18 224 px · Grad-CAM layer choices (one probe forward; cached by the page)",
                    median_ms(lambda: conv_layers(model, (3, 224, 224)), 3, device), "ms"))
    return rows


def _settings(spec: AttributionSpec) -> str:
    return {"integrated_gradients": f" ({spec.steps} steps)", "smoothgrad": f" ({spec.samples} samples)",
            "grad_cam": f" ({spec.layer})"}.get(spec.method, "")


def mnist_rows(device: torch.device, quick: bool) -> list[dict]:
    rows = []
    g = torch.Generator().manual_seed(0)
    pixels = torch.rand(1, 1, 28, 28, generator=g).to(device)
    for label, model in (("Net2", Net2(128)), ("CNNDemo", CNNDemo(128))):
        model = reset_parameters(model, g).eval().requires_grad_(False).to(device)
        layers = conv_layers(model, (1, 28, 28))
        target = predict(model, pixels, MNIST_NORM).predicted
        reuse = twins(model)
        for method in METHODS:
            if METHODS[method].needs_layer and not layers.names:
                continue
            spec = AttributionSpec(method, layer=layers.default if METHODS[method].needs_layer else None)
            ms = median_ms(lambda s=spec, m=model, t=target, r=reuse: attribute(m, pixels, s, MNIST_NORM, t, reuse=r),
                           3 if quick else 7, device)
            rows.append(row(f"Attribution · {label} 28 px · {METHODS[method].label}{_settings(spec)}", ms, "ms",
                            target="< 200 ms" if device.type == "cpu" else ""))
    return rows


def transfer_rows(device: torch.device, quick: bool) -> list[dict]:
    """Every method on a transfer-learning model as the Saliency page explains it: the Transfer page's ResNet-18
    with a 5-class head (digits 5-9), at its default 32 px (Grad-CAM on layer3: layer4 is 1×1 there) and at 64 px
    (layer4, 2×2), on a digit photo turned into its input (padded to 32 px, resized like its training batches)."""
    from core.data.model_inputs import InputSpec, model_input
    from core.transfer.model import build_resnet18

    g = torch.Generator().manual_seed(0)
    model = build_resnet18(5, g).eval().requires_grad_(False).to(device)
    page = np.full((120, 90), 230, np.uint8)
    page[30:90, 40:50] = 20  # a dark "1" on paper
    rows = []
    reuse = twins(model)  # the page caches these once per model (ui.saliency._twins)
    for side in (32, 64):
        pixels = model_input(page, InputSpec(side, 3, True, 32)).pixels.to(device)  # (1, 3, side, side)
        layers = conv_layers(model, (3, side, side))
        target = predict(model, pixels, DIGITS_NORM).predicted
        for method in METHODS:
            spec = AttributionSpec(method, layer=layers.default if METHODS[method].needs_layer else None)
            ms = median_ms(lambda s=spec, x=pixels, t=target: attribute(model, x, s, DIGITS_NORM, t, reuse=reuse),
                           3 if quick else 7, device)
            rows.append(row(f"Attribution · transfer ResNet-18 (digits 5-9) {side} px · {METHODS[method].label}"
                            f"{_settings(spec)}", ms, "ms"))
    rows.append(row("Attribution · transfer ResNet-18 64 px · digit photo -> model input (centre, pad, resize)",
                    median_ms(lambda: model_input(page, InputSpec(64, 3, True, 32)), 9, torch.device("cpu")), "ms"))
    return rows


def figure_rows() -> list[dict]:
    """A rerun that changes only alpha or clipping rebuilds the figure from the cached map: its cost."""
    rng = np.random.default_rng(0)
    image, values = rng.random((224, 224, 3)), rng.normal(size=(224, 224)).astype(np.float32)
    views = [View("both", 99, 0.6), View("both", 95, 0.3)]
    ms = median_ms(lambda: [explanation(image, values, v).to_json() for v in views[:1]], 7, torch.device("cpu"))
    return [row("Attribution · figure only (alpha or clipping changed): build + serialize, 224 px", ms, "ms",
                target="< 150 ms")]


def rows(device: torch.device | None = None, quick: bool = False) -> list[dict]:
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    out = []
    for d in devices if device is None else [device]:
        tag = [] if d.type == "cpu" else [f" [{torch.cuda.get_device_name(d)}]"]
        part = resnet_rows(d, quick) + mnist_rows(d, quick) + transfer_rows(d, quick)
        for r in part:
            r["name"] += "".join(tag)
            r["device"] = "cpu" if d.type == "cpu" else torch.cuda.get_device_name(d)
        out += part
    return out + figure_rows()
