"""Why did the model predict that? Captum attribution methods as plain NumPy maps, shared models untouched.

Every method answers a different question about one image and one target class: Saliency, Integrated
Gradients, SmoothGrad, Grad-CAM, Occlusion, Guided Backprop and Guided Grad-CAM (the table METHODS says
what each computes and when it misleads).

Attributions are taken with respect to *pixels in [0, 1]*, not the normalized tensor: the model is wrapped
as model((pixels - mean) / std), so maps live on the image the learner sees, "black" means black, and noise
levels are fractions of the pixel range. Each call works on a private twin of the model
(core.attribution.twins), so a shared, cached model is never changed.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.attribution.twins import Twins, _device, _shares, forward_hooks, twin
from core.data.normalization import Norm
from core.errors import InputError


class AttributionError(InputError):
    """A setting that cannot work (steps 0, a window larger than the image, an unknown method...)."""


class MethodUnavailable(AttributionError):
    """This method cannot run on this model; the message says why (e.g. Grad-CAM needs a conv layer)."""


@dataclass(frozen=True)
class AttributionSpec:
    """One method and its settings; frozen and hashable, so it can key a cache."""

    method: str = "saliency"  # a key of METHODS
    steps: int = 50  # Integrated Gradients: points on the path from the baseline to the image
    baseline: str = "black"  # Integrated Gradients: a key of BASELINES
    samples: int = 25  # SmoothGrad: noisy copies averaged
    noise: float = 0.15  # SmoothGrad: noise standard deviation as a fraction of the pixel range (0..1)
    layer: str | None = None  # Grad-CAM: a module name from conv_layers(); None = the model's default
    relu: bool = True  # Grad-CAM: keep only positive evidence, as the paper does (Captum's default is False)
    window: int | None = None  # Occlusion: side of the grey patch in pixels; None = about 1/7 of the image
    stride: int | None = None  # Occlusion: step between patches; None = half the window
    seed: int = 0  # SmoothGrad noise and the noise baseline

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise AttributionError(f"Unknown method {self.method!r}; choose one of {', '.join(METHODS)}.")
        if self.baseline not in BASELINES:
            raise AttributionError(f"Unknown baseline {self.baseline!r}; choose one of {', '.join(BASELINES)}.")
        if not 1 <= self.steps <= 1000:
            raise AttributionError("Integrated Gradients needs between 1 and 1,000 steps.")
        if not 1 <= self.samples <= 500:
            raise AttributionError("SmoothGrad needs between 1 and 500 samples.")
        if not 0.0 <= self.noise <= 1.0:
            raise AttributionError("SmoothGrad's noise level is a fraction of the pixel range, between 0 and 1.")
        if (self.window is not None and self.window < 1) or (self.stride is not None and self.stride < 1):
            raise AttributionError("Occlusion's window and stride must be at least 1 pixel.")


@dataclass(frozen=True)
class Attribution:
    method: str
    values: np.ndarray  # (C, H, W) per input channel for pixel methods, (H, W) for Grad-CAM; float32, signed
    target: int  # the class whose score was explained
    seconds: float  # wall time of the attribution itself
    layer: str | None = None  # Grad-CAM's layer

    def map2d(self) -> np.ndarray:
        """(H, W): channels summed (the total effect of a pixel), or the Grad-CAM map itself."""
        return self.values.sum(0) if self.values.ndim == 3 else self.values

    @property
    def limit(self) -> float:
        """Symmetric colour-scale limit of map2d(): its largest magnitude (1 for an all-zero map)."""
        m = float(np.abs(self.map2d()).max())
        return m if m > 0 else 1.0


@dataclass(frozen=True)
class Prediction:
    probs: np.ndarray  # (K,) softmax probabilities
    top: tuple[tuple[int, float], ...]  # up to 5 (class, probability), most probable first

    @property
    def predicted(self) -> int:
        return self.top[0][0]


@dataclass(frozen=True)
class LayerChoices:
    """Modules Grad-CAM can look at: each runs once per forward and outputs a (B, C, h, w) map, h·w > 1."""

    names: tuple[str, ...]  # in forward order
    shapes: tuple[tuple[int, ...], ...]  # output shape of each, for one image
    default: str | None  # the last conv-stage output (None: the model has no spatial layer)
    flat: tuple[str, ...] = ()  # outermost conv-stage layers left out: their map is 1×1 at this input size


# ------------------------------------------------------------------------------------------- private twin
class FromPixels(nn.Module):
    """model((pixels - mean) / std): attributions are then taken with respect to pixels in [0, 1]."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.model = model
        device = _device(model)
        self.register_buffer("mean", torch.tensor(mean, device=device).reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, device=device).reshape(1, -1, 1, 1), persistent=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [0, 1] -> (B, K) logits
        return self.model((pixels - self.mean) / self.std)


# ----------------------------------------------------------------------------------- inputs and prediction
def _pixels(pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
    if pixels.dim() != 4 or pixels.shape[0] != 1:
        raise AttributionError(f"Attribution explains one image shaped (1, C, H, W), got {tuple(pixels.shape)}.")
    return pixels.detach().to(device, torch.float32).clone()  # (1, C, H, W), private to this call


def predict(model: nn.Module, pixels: torch.Tensor, norm: Norm,
            k: int = 5) -> Prediction:
    """Softmax probabilities and the top k classes for one image of pixels in [0, 1] (forward only)."""
    x = _pixels(pixels, _device(model))
    with torch.no_grad():
        logits = FromPixels(model, *norm)(x)  # (1, K)
        probs = F.softmax(logits.float(), 1)[0].cpu().numpy()  # (K,)
    top = np.argsort(-probs, kind="stable")[:k]
    return Prediction(probs, tuple((int(i), float(probs[i])) for i in top))


def conv_layers(model: nn.Module, input_shape: tuple[int, ...]) -> LayerChoices:
    """Layers Grad-CAM can use, found by one forward of zeros shaped `input_shape` (C, H, W) through a twin:
    Conv2d outputs, ReLUs that run once, and containers (a ResNet block, a stage), whose output is a spatial
    map. The default is the last such output that is not a pooling layer (ResNet: layer4; CNNDemo: relu2).
    Layers whose map is a single pixel at this input size (ResNet's layer4 at 32 px) are left out and named
    in `flat`: Grad-CAM there would paint the whole image one colour."""
    private = twin(model)
    kinds = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d)
    candidates = {n: m for n, m in private.named_modules() if n and (isinstance(m, kinds) or next(m.children(), None))}
    seen: dict[str, tuple[int, ...]] = {}
    flat: list[str] = []  # 4-D outputs of a single pixel: nothing to locate
    calls: dict[str, int] = {}

    def record(name: str, _m: nn.Module, out: object) -> None:
        calls[name] = calls.get(name, 0) + 1
        if isinstance(out, torch.Tensor) and out.dim() == 4:
            if out.shape[2] * out.shape[3] > 1:
                seen.pop(name, None)
                seen[name] = tuple(out.shape[1:])  # completion order: a container lands after its children
            elif not isinstance(candidates[name], (nn.MaxPool2d, nn.AvgPool2d)):
                flat.append(name)

    with torch.no_grad(), forward_hooks(candidates, record):
        private(torch.zeros((1, *input_shape), device=_device(model)))
    names = [n for n in seen if calls[n] == 1]
    default = next((n for n in reversed(names) if not isinstance(candidates[n], (nn.MaxPool2d, nn.AvgPool2d))), None)
    outer = tuple(dict.fromkeys(n for n in flat if not any(n.startswith(f + ".") for f in flat)))
    return LayerChoices(tuple(names), tuple(seen[n] for n in names), default, outer)


# -------------------------------------------------------------------------------------------- baselines
def _black(x: torch.Tensor, _g: torch.Generator) -> torch.Tensor:
    return torch.zeros_like(x)


def _blurred(x: torch.Tensor, _g: torch.Generator) -> torch.Tensor:
    from torchvision.transforms.functional import gaussian_blur

    side = min(x.shape[-2:])
    k = max(3, (side // 4) | 1)  # odd kernel, a quarter of the image
    return gaussian_blur(x, [k, k], [k / 3.0, k / 3.0])


def _noise(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return torch.rand(x.shape, generator=g).to(x.device)


BASELINES: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "black": _black,
    "blurred": _blurred,
    "noise": _noise,
}


# ---------------------------------------------------------------------------------------------- methods
def _saliency(f: nn.Module, x: torch.Tensor, target: int, spec: AttributionSpec, layer: nn.Module | None):
    from captum.attr import Saliency

    return Saliency(f).attribute(x, target=target, abs=False)  # (1, C, H, W), the sign kept


def _integrated_gradients(f, x, target, spec, layer):
    from captum.attr import IntegratedGradients

    g = torch.Generator().manual_seed(spec.seed)
    batch = None if x[0].numel() <= 64 * 64 * 3 else 16  # bounded memory on large images
    return IntegratedGradients(f).attribute(x, baselines=BASELINES[spec.baseline](x, g), target=target,
                                            n_steps=spec.steps, internal_batch_size=batch)


def _smoothgrad(f, x, target, spec, layer):
    from captum.attr import NoiseTunnel, Saliency

    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # Captum draws its noise from the global RNG: seed a fork of it
        torch.manual_seed(spec.seed)
        return NoiseTunnel(Saliency(f)).attribute(x, nt_type="smoothgrad", nt_samples=spec.samples,
                                                  stdevs=spec.noise, target=target, abs=False)


def _grad_cam(f, x, target, spec, layer):
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(f, layer).attribute(x, target=target, relu_attributions=spec.relu)  # (1, 1, h, w)
    return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")[0, 0]  # (H, W)


def _occlusion(f, x, target, spec, layer):
    from captum.attr import Occlusion

    side = min(x.shape[-2:])
    window = spec.window or max(2, side // 7)
    stride = spec.stride or max(1, window // 2)
    if window > side:
        raise AttributionError(f"The occlusion window ({window} px) is larger than the image ({side} px).")
    c = x.shape[1]
    return Occlusion(f).attribute(x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride),
                                  baselines=0.0, target=target, perturbations_per_eval=64 if side <= 64 else 16)


def _guided_backprop(f, x, target, spec, layer):
    from captum.attr import GuidedBackprop

    return GuidedBackprop(f).attribute(x, target=target)


def _guided_grad_cam(f, x, target, spec, layer):
    from captum.attr import GuidedGradCam

    out = GuidedGradCam(f, layer).attribute(x, target=target, interpolate_mode="bilinear")  # (1, C, H, W)
    if out.numel() == 0:  # Captum warns and returns an empty tensor when it cannot upsample
        raise MethodUnavailable("Guided Grad-CAM could not upsample this layer's map to the image.")
    return out


@dataclass(frozen=True)
class Method:
    label: str
    run: Callable[[nn.Module, torch.Tensor, int, AttributionSpec, nn.Module | None], torch.Tensor]
    computes: str  # what the map is, in plain words
    misleads: str  # when not to trust it
    needs_layer: bool = False  # Grad-CAM family: needs a spatial (conv) layer
    guided: bool = False  # rewrites ReLU gradients: every ReLU module must run once per forward


METHODS: dict[str, Method] = {
    "saliency": Method(
        "Saliency", _saliency,
        "The gradient of the class score with respect to each pixel: how much the score would change if "
        "that pixel alone got a little brighter (red) or darker (blue).",
        "Gradients are local and noisy: a pixel can matter a lot and still have a small gradient where the "
        "model is saturated (a ReLU that is off, a confident softmax)."),
    "integrated_gradients": Method(
        "Integrated Gradients", _integrated_gradients,
        "Gradients averaged along a straight path from a baseline image to yours, times the difference: "
        "the attributions add up to score(image) minus score(baseline).",
        "The answer depends on the baseline: with a black baseline, black pixels can never get credit. "
        "Too few steps leave a visible error in the sum."),
    "smoothgrad": Method(
        "SmoothGrad", _smoothgrad,
        "Saliency averaged over many noisy copies of the image (Captum's NoiseTunnel): the noise averages "
        "out, the structure the model uses stays.",
        "Too little noise is plain Saliency; too much blurs everything. It shows what the model is "
        "sensitive to near your image, not a proof of what it used."),
    "grad_cam": Method(
        "Grad-CAM", _grad_cam,
        "A conv layer's feature maps weighted by how much the class score depends on each map (its average "
        "gradient), summed, then upsampled to the image: where in the picture the class evidence is.",
        "Coarse: the map has the layer's resolution (7×7 for ResNet-18's last stage). With the ReLU off it "
        "also shows negative evidence, which the paper drops.", needs_layer=True),
    "occlusion": Method(
        "Occlusion", _occlusion,
        "A black patch slid over the image; each place shows how much the class score drops when that part "
        "is hidden. No gradients: the model is simply run again for every position.",
        "Slow (one forward pass per position) and only as fine as the window; a black patch is itself "
        "an unusual input the model never saw."),
    "guided_backprop": Method(
        "Guided Backprop", _guided_backprop,
        "The gradient with every ReLU letting only positive gradients back through: sharp, edge-like maps.",
        "Known to look almost the same for every class and even for a randomly initialized model: it shows "
        "the image's edges more than the model's reasoning.", guided=True),
    "guided_grad_cam": Method(
        "Guided Grad-CAM", _guided_grad_cam,
        "Guided Backprop multiplied by the (ReLU-ed) Grad-CAM map: fine detail, but only where the class "
        "evidence is.",
        "Inherits Guided Backprop's class-insensitivity inside the Grad-CAM region.",
        needs_layer=True, guided=True),
}


def unavailable_reason(method: str, layers: LayerChoices) -> str | None:
    """Why `method` cannot run on a model with these conv layers, or None when it can."""
    if METHODS[method].needs_layer and not layers.names:
        return (f"{METHODS[method].label} needs a convolution layer with a spatial map; this model flattens "
                "the image first (a fully connected net has no 'where' to show).")
    return None


def _resolve_layer(private: nn.Module, spec: AttributionSpec, input_shape: tuple[int, ...]) -> tuple[str, nn.Module]:
    layers = conv_layers(private, input_shape) if spec.layer is None else None
    name = spec.layer if spec.layer is not None else layers.default  # type: ignore[union-attr]
    if name is None:
        raise MethodUnavailable(unavailable_reason(spec.method, layers) or "no layer")  # type: ignore[arg-type]
    try:
        return name, private.get_submodule(name)
    except AttributeError as e:
        raise AttributionError(f"This model has no layer named {name!r}.") from e


def attribute(model: nn.Module, pixels: torch.Tensor, spec: AttributionSpec,
              norm: Norm, target: int | None = None, reuse: Twins | None = None) -> Attribution:
    """Explain `target` (default: the predicted class) for one image `pixels` (1, C, H, W) in [0, 1].
    reuse: `twins(model)` built earlier; the call then holds their lock instead of copying the model."""
    if reuse is not None and not _shares(reuse.plain, model):
        raise ValueError("these twins were built from another model: they do not share its parameters")
    with reuse.lock if reuse is not None else nullcontext():
        return _attribute(model, pixels, spec, norm, target, reuse)


def _attribute(model: nn.Module, pixels: torch.Tensor, spec: AttributionSpec, norm: Norm, target: int | None,
               reuse: Twins | None) -> Attribution:
    import captum.attr  # noqa: F401 - a first call's one-time import of Captum (seconds) is not the method's time

    t0 = time.perf_counter()
    method = METHODS[spec.method]
    private = reuse.of(method.guided) if reuse is not None else twin(model, one_relu_per_use=method.guided)
    x = _pixels(pixels, _device(model)).requires_grad_(True)  # (1, C, H, W), a private leaf
    f = FromPixels(private, *norm)
    layer_name, layer = _resolve_layer(private, spec, tuple(x.shape[1:])) if method.needs_layer else (None, None)
    with torch.enable_grad():
        if target is None:
            with torch.no_grad():
                target = int(f(x).argmax(1))
        counted = ({n: m for n, m in private.named_modules() if isinstance(m, nn.ReLU)} | {"": private}
                   if method.guided else {})  # the guided methods check that each ReLU runs once per forward
        calls = dict.fromkeys(counted, 0)

        def count(name: str, _m: nn.Module, out: object) -> None:
            calls[name] += 1

        with forward_hooks(counted, count):
            try:
                out = method.run(f, x, int(target), spec, layer)
            except IndexError as e:  # Captum indexes the output with the target
                raise AttributionError(f"Class {target} does not exist for this model.") from e
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        seconds = time.perf_counter() - t0
    if any(c > calls[""] for n, c in calls.items() if n):  # empty unless guided
        raise MethodUnavailable(f"{method.label} needs one ReLU module per use; this model calls one ReLU "
                                "module several times per forward pass, which would give a wrong map.")
    values = out.detach()
    values = values[0] if values.dim() == 4 else values  # (C, H, W) or (H, W)
    return Attribution(spec.method, values.float().cpu().numpy(), int(target), seconds, layer_name)
