"""Feature extraction's one backbone pass: the frozen ResNet-18 runs once over the images (inference mode, batched,
in the layout that is fastest on this device), and every head after it trains on the stored (N, 512) features,
which is exactly the backbone + head in eval mode at a fraction of the cost.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

from core.config import default_device
from core.training.record import History, Run
from core.transfer.config import FeatureConfig, TransferConfig
from core.transfer.inputs import normalization, prepare
from core.transfer.model import build_resnet18
from core.transfer.tasks import ImageTask


def expected_features(cfg: FeatureConfig) -> dict[str, torch.Tensor]:
    return {"train": torch.empty(cfg.n_train, 512, device="meta"), "test": torch.empty(cfg.n_test, 512, device="meta")}


def backbone_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ResNet-18 up to the global average pool: (B, 3, r, r) -> (B, 512), i.e. what `fc` sees."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))  # (B, 64, r/4, r/4)
    x = model.layer4(model.layer3(model.layer2(model.layer1(x))))  # (B, 512, r/32, r/32)
    return torch.flatten(model.avgpool(x), 1)  # (B, 512)


def feature_pass(resolution: int, device: torch.device) -> tuple[torch.memory_format, int]:
    """(memory format, images per batch) of the frozen backbone's one pass. On the CPU: channels-last (oneDNN's
    NHWC kernels, faster here: bench/NOTES.md), in batches of about the same pixels at every resolution, small enough
    to stay in cache. On CUDA: PyTorch's default layout, batch 256."""
    if device.type == "cpu":
        return torch.channels_last, max(8, min(256, round(8 * (224 / resolution) ** 2)))
    return torch.contiguous_format, 256


OnImages = Callable[[int], None]  # images done so far (the backbone pass's progress)


@torch.inference_mode()
def extract_features(model: nn.Module, images: torch.Tensor, resolution: int,
                     norm: tuple[tuple[float, ...], tuple[float, ...]], device: torch.device,
                     batch: int | None = None, on_images: OnImages | None = None) -> torch.Tensor:
    """Run the (eval-mode) backbone once over uint8 `images` (N, 3, H, W), batched on the device -> (N, 512),
    in `feature_pass`'s layout (a model already in that layout, as `compute_features` makes, skips a weight
    reorder per batch; any model gives the same features). `on_images(done)` after every batch."""
    layout, auto = feature_pass(resolution, device)
    batch = batch or auto
    out = torch.empty(len(images), 512, device=device)
    for i in range(0, len(images), batch):
        xb = prepare(images[i:i + batch].to(device, non_blocking=True), resolution, norm)  # (b, 3, r, r)
        out[i:i + batch] = backbone_features(model, xb.contiguous(memory_format=layout))
        if on_images is not None:
            on_images(min(i + batch, len(images)))
    return out


def head_predictions(head: dict[str, torch.Tensor], features: torch.Tensor) -> torch.Tensor:
    """(N,) classes a feature-extraction run's head ({"fc.weight", "fc.bias"}) predicts from stored (N, 512)
    features: what backbone + head predict, without running the backbone again."""
    return torch.addmm(head["fc.bias"].float(), features.float(), head["fc.weight"].float().T).argmax(1)


def feature_config(cfg: TransferConfig, data: ImageTask, pretraining: str = "") -> FeatureConfig:
    """The key of the features `cfg`'s backbone gives on `data` (pretraining: the digits backbone's run key)."""
    return FeatureConfig(cfg.weights, pretraining if cfg.weights == "digits-pretrained" else "", cfg.source,
                         cfg.labels_per_class, cfg.subset, cfg.resolution, len(data.train), len(data.test))


def compute_features(fcfg: FeatureConfig, data: ImageTask, backbone: dict[str, torch.Tensor],
                     device: torch.device | None = None, on_images: Callable[[int, int], None] | None = None) -> Run:
    """The frozen backbone once over the train and test images (inference mode, batched, on the device) -> a
    storable record whose state is {"train": (N, 512), "test": (M, 512)}. `on_images(done, total)` after every
    batch (train and test images together)."""
    device = device or default_device()
    t0 = time.perf_counter()
    model = build_resnet18(len(data.classes), torch.Generator().manual_seed(0), backbone).to(device).eval()
    model = model.to(memory_format=feature_pass(fcfg.resolution, device)[0])  # private: its layout is ours to set
    norm = normalization(TransferConfig(weights=fcfg.weights, source=fcfg.source))
    n_train, total = len(data.train), len(data.train) + len(data.test)
    report = on_images or (lambda done, total: None)
    train = extract_features(model, data.train.images, fcfg.resolution, norm, device,
                             on_images=lambda done: report(done, total))  # (N, 512)
    test = extract_features(model, data.test.images, fcfg.resolution, norm, device,
                            on_images=lambda done: report(n_train + done, total))  # (M, 512)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    s = time.perf_counter() - t0
    n = len(data.train) + len(data.test)
    metrics = {"train_s": s, "wall_s": s, "features_s": s, "samples_per_s": n / s, "images_per_s": n / s,
               "device": str(device), "n_train": len(data.train), "n_test": len(data.test)}
    return Run(fcfg, {"train": train.cpu(), "test": test.cpu()}, History(steps_per_epoch=1), metrics)
