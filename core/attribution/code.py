"""The Captum code of an attribution, as the Saliency page shows it: runnable, and the same call `attribute` made."""
from __future__ import annotations

from core.attribution.methods import AttributionSpec
from core.data.normalization import Norm

# ------------------------------------------------------------------------------------------------- code
_CODE_CALLS: dict[str, tuple[str, str]] = {  # method -> (Captum import, the call)
    "saliency": ("Saliency", "Saliency(f).attribute(x, target=target, abs=False)"),
    "integrated_gradients": ("IntegratedGradients", "IntegratedGradients(f).attribute(\n"
                             "    x, baselines=baseline, target=target, n_steps={steps})"),
    "smoothgrad": ("NoiseTunnel, Saliency", "NoiseTunnel(Saliency(f)).attribute(\n"
                   "    x, nt_type='smoothgrad', nt_samples={samples}, stdevs={noise}, target=target, abs=False)"),
    "grad_cam": ("LayerAttribution, LayerGradCam",
                 "LayerGradCam(f, model.get_submodule('{layer}')).attribute(\n"
                 "    x, target=target, relu_attributions={relu})  # (1, 1, h, w)\n"
                 "attr = LayerAttribution.interpolate(attr, x.shape[-2:], interpolate_mode='bilinear')"),
    "occlusion": ("Occlusion", "Occlusion(f).attribute(\n"
                  "    x, sliding_window_shapes=(x.shape[1], {window}, {window}),\n"
                  "    strides=(x.shape[1], {stride}, {stride}), baselines=0.0, target=target)"),
    "guided_backprop": ("GuidedBackprop", "GuidedBackprop(f).attribute(x, target=target)"),
    "guided_grad_cam": ("GuidedGradCam", "GuidedGradCam(f, model.get_submodule('{layer}')).attribute(\n"
                        "    x, target=target, interpolate_mode='bilinear')"),
}


_CODE_BASELINES = {
    "black": "baseline = torch.zeros_like(x)  # a black image",
    "blurred": "baseline = gaussian_blur(x, [{k}, {k}], [{s:.4g}, {s:.4g}])  # the image, blurred",
    "noise": "baseline = torch.rand(x.shape, generator=torch.Generator().manual_seed({seed}))  # uniform noise",
}


def attribution_code(spec: AttributionSpec, norm: Norm,
                     image_side: int, layer: str | None = None) -> str:
    """PyTorch + Captum code computing the same map for `model`, `pixels` (1, C, H, W) in [0, 1] and `target`.
    (For a ResNet, the guided methods also need one ReLU module per use: see SPLIT_RELU.)"""
    window = spec.window or max(2, image_side // 7)
    names, call = _CODE_CALLS[spec.method]
    call = call.format(steps=spec.steps, samples=spec.samples, noise=spec.noise, relu=spec.relu,
                       layer=spec.layer or layer, window=window, stride=spec.stride or max(1, window // 2))
    lines = ["import torch", "from torch import nn", "from torchvision.transforms import Normalize",
             f"from captum.attr import {names}"]
    if spec.method == "integrated_gradients" and spec.baseline == "blurred":
        lines.append("from torchvision.transforms.functional import gaussian_blur")
    lines += ["", "# the model on pixels in [0, 1]: attributions are then about the image you see",
              f"f = nn.Sequential(Normalize({list(norm[0])}, {list(norm[1])}), model).eval()",
              "x = pixels.clone().requires_grad_(True)  # (1, C, H, W)"]
    if spec.method == "integrated_gradients":
        k = max(3, (image_side // 4) | 1)
        lines.append(_CODE_BASELINES[spec.baseline].format(k=k, s=k / 3.0, seed=spec.seed))
    if spec.method == "smoothgrad":
        lines.append(f"torch.manual_seed({spec.seed})  # NoiseTunnel draws its noise from the global generator")
    lines.append("attr = " + call)
    return "\n".join(lines) + "\n"
