"""Transfer-learning rows (`python -m bench --only transfer`), each ratio measured side by side in this run.

Feature extraction at 224 px on random 32x32 uint8 images (CIFAR-10's shape):
- the seed's loop: per-sample PIL Resize(224) -> ToTensor -> Normalize through a DataLoader, batch 32, the
  frozen backbone recomputed for every batch, only fc trained;
- the app: the backbone once over the images (inference mode, batched, on the device), then head epochs on
  the stored (N, 512) features.
Both are measured on a small subset and scaled per image to one CIFAR-10 epoch (50,000 images).
Fine-tuning: images/s of one full training step (uint8 resident batch resized + normalized on the device)
against the plain PyTorch step on an already prepared resident float batch (the limit), at 32 and 224 px.
"""
from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from core.data.normalization import IMAGENET_NORM
from core.transfer.config import TransferConfig
from core.transfer.features import extract_features, feature_pass, prepare
from core.transfer.fit import fit_head
from core.transfer.model import build_resnet18
from core.transfer.strategies import apply_strategy, optimizer, set_train_mode

CIFAR_EPOCH = 50_000


def _row(name: str, value: float, unit: str, **extra) -> dict:
    return {"name": name, "value": round(value, 4), "unit": unit, **extra}


class _PILImages(Dataset):
    """torchvision.datasets.CIFAR10's __getitem__: uint8 array -> PIL -> transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images.permute(0, 2, 3, 1).contiguous().numpy(), labels  # (N, 32, 32, 3)
        self.transform = transforms.Compose([transforms.Resize(224), transforms.ToTensor(),
                                             transforms.Normalize(*IMAGENET_NORM)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def _seed_seconds_per_image(model, images, labels, max_batches: int) -> tuple[float, int]:
    opt = torch.optim.SGD(model.fc.parameters(), lr=1e-3, momentum=0.9)
    loader = DataLoader(_PILImages(images, labels), batch_size=32, shuffle=True)
    model.train()  # the seed trains in train mode: frozen BN layers still update their running stats
    seen, t0 = 0, time.perf_counter()
    for b, (x, y) in enumerate(loader):
        if b > max_batches:
            break
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if b == 0:  # the first batch warms up (oneDNN primitives, allocator), as the app's pass does: not timed
            t0 = time.perf_counter()
            continue
        seen += len(y)
    model.eval()
    return (time.perf_counter() - t0) / seen, seen


def _step_images_per_s(model, cfg, images, labels, resolution, steps: int, resident: bool) -> float:
    opt = optimizer(model, cfg)
    set_train_mode(model)
    x = prepare(images, resolution, IMAGENET_NORM) if resident else None  # (B, 3, r, r), prepared once

    def step() -> None:
        xb = x if resident else prepare(images, resolution, IMAGENET_NORM)
        loss = F.cross_entropy(model(xb), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    sync = torch.cuda.synchronize if images.is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps * len(labels) / (time.perf_counter() - t0)


def rows(device: torch.device, quick: bool = False) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    n_seed = 32 if quick else 64  # images timed through the seed loop (2 batches of 32), after 1 warm-up batch
    n_feat = 64 if quick else 256
    images = torch.randint(0, 256, (max(n_seed + 32, n_feat), 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (len(images),), generator=g)
    model = apply_strategy(build_resnet18(10, torch.Generator().manual_seed(0)), "feature")
    out = []

    seed_s, seen = _seed_seconds_per_image(model, images[:n_seed + 32], labels[:n_seed + 32], n_seed // 32)
    seed_epoch = seed_s * CIFAR_EPOCH
    out.append(_row("Transfer: seed feature-extraction loop (PIL Resize(224) -> ToTensor, DataLoader, backbone "
                    "every batch), batch 32", seed_epoch, "s/epoch",
                    note=f"CPU, measured over {seen} images after a warm-up batch, scaled to {CIFAR_EPOCH:,}"))

    # The backbone pass before (PyTorch's default layout, batch 64) and now (compute_features: feature_pass's
    # layout and batch on a private copy), alternated, the faster of 2 rounds each.
    layout, batch = feature_pass(224, device)
    before_model = model.to(device).eval()
    now_model = copy.deepcopy(before_model).to(memory_format=layout)
    x_dev = images[:n_feat].to(device)
    ways = {"before": lambda: extract_features(before_model, x_dev, 224, IMAGENET_NORM, device, batch=64),
            "now": lambda: extract_features(now_model, x_dev, 224, IMAGENET_NORM, device)}
    best = {k: math.inf for k in ways}
    for m in (before_model, now_model):  # warm-up
        extract_features(m, x_dev[:8], 224, IMAGENET_NORM, device)
    for _ in range(1 if quick else 2):
        for k, fn in ways.items():
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best[k] = min(best[k], time.perf_counter() - t0)
    before_epoch, feat_epoch = (best[k] / n_feat * CIFAR_EPOCH for k in ("before", "now"))
    out.append(_row("Transfer: backbone once over the images at 224 px, before (default layout, batch 64)",
                    before_epoch, "s", note=f"measured over {n_feat} images, scaled to {CIFAR_EPOCH:,}"))
    out.append(_row(f"Transfer: backbone once over the images at 224 px (inference mode, "
                    f"{'channels-last' if layout == torch.channels_last else 'default layout'}, batch {batch})",
                    feat_epoch, "s", baseline=round(before_epoch, 4), ratio=round(before_epoch / feat_epoch, 2),
                    note=f"measured over {n_feat} images, scaled to {CIFAR_EPOCH:,}; the app's pass "
                         f"(core.transfer.compute_features)"))

    cfg = TransferConfig(strategy="feature", epochs=1, batch_size=32, head_lr=1e-3, weights="imagenet",
                         source="cifar10")
    feats = torch.randn(CIFAR_EPOCH, 512, generator=g).to(device)  # stored features, the real size
    y = torch.randint(0, 10, (CIFAR_EPOCH,), generator=g).to(device)
    head_s = min(fit_head(cfg, feats, y, feats[:2000], y[:2000], 10, torch.Generator().manual_seed(0))[1].train_s
                 for _ in range(2))
    out.append(_row("Transfer: stored-feature head epoch (Linear 512->10, batch 32)", head_s, "s/epoch",
                    baseline=round(seed_epoch, 4), ratio=round(seed_epoch / head_s, 1),
                    note=f"{CIFAR_EPOCH:,} stored features"))
    ten = feat_epoch + 10 * head_s
    out.append(_row("Transfer: 10 epochs end to end incl. features once", ten, "s", baseline=round(10 * seed_epoch, 4),
                    ratio=round(10 * seed_epoch / ten, 1), target="≥ 18× on CPU, ≥ 263× on an H100"))

    for res, bs, steps in ((32, 32, 3 if quick else 8), (224, 16, 1 if quick else 2)):
        ft_cfg = TransferConfig(strategy="full", weights="imagenet", source="cifar10", resolution=res)
        model = apply_strategy(build_resnet18(10, torch.Generator().manual_seed(0)), "full").to(device)
        xb, yb = images[:bs].to(device), labels[:bs].to(device)
        plain = _step_images_per_s(model, ft_cfg, xb, yb, res, steps, resident=True)
        ours = _step_images_per_s(model, ft_cfg, xb, yb, res, steps, resident=False)
        out.append(_row(f"Transfer: full fine-tuning step at {res} px, batch {bs} (uint8 -> resize + normalize "
                        f"on the device)", ours, "img/s", baseline=round(plain, 2),
                        note=f"plain step on a prepared resident batch: {plain:.1f} img/s; "
                             f"{100 * ours / plain:.0f}% of that limit"))
    return out


def offline_rows(device: torch.device, quick: bool = False) -> list[dict]:
    """The offline teaching path: pretrain on bundled digits 0-4, transfer to digits 5-9 with 20 labels per class."""
    from dataclasses import replace

    from core.data.mnist import load_sample
    from core.transfer.fit import fit_transfer
    from core.transfer.tasks import digit_tasks, source_config

    source, target = digit_tasks(load_sample(), labels_per_class=20)
    base = TransferConfig(epochs=5 if quick else 10, batch_size=32, head_lr=1e-3, backbone_lr=1e-4,
                          labels_per_class=20)
    cpu0 = time.process_time()
    src = fit_transfer(replace(source_config(base, epochs=1 if quick else 2), batch_size=64), source, device)
    out = [_row(f"Transfer offline: pretraining on digits 0-4 ({len(source.train):,} images, "
                f"{src.config.epochs} epochs, 32 px)", src.metrics["wall_s"], "s",
                note=f"source test accuracy {100 * src.metrics['test_acc']:.1f}%; "
                     f"{time.process_time() - cpu0:.1f} CPU s (all threads)")]
    accs = {}
    for strategy, k, head_lr in (("feature", 1, 1e-2), ("finetune", 1, 1e-3), ("full", 1, 1e-3),
                                 ("scratch", 1, 1e-3)):
        cfg = replace(base, strategy=strategy, k_stages=k, head_lr=head_lr,
                      weights="random" if strategy == "scratch" else "digits-pretrained")
        cpu0 = time.process_time()
        run = fit_transfer(cfg, target, device, backbone=None if strategy == "scratch" else src.state)
        cpu = time.process_time() - cpu0
        accs[strategy] = run.metrics["test_acc"]
        out.append(_row(f"Transfer offline: {cfg.label()}", 100 * run.metrics["test_acc"], "% target acc",
                        note=f"wall {run.metrics['wall_s']:.1f} s ({cpu:.1f} CPU s, all threads), "
                             f"{run.metrics['trainable_params']:,} trainable"))
        print(out[-1], flush=True)
    beat = all(accs[s] > accs["scratch"] for s in ("feature", "finetune", "full"))
    out.append(_row("Transfer offline: every pretrained strategy beats from scratch", float(beat), "bool",
                    target="1", met=beat))
    return out


def page_rows(device: torch.device, quick: bool = False, n: int = 5) -> list[dict]:
    """The Transfer learning page's rerun with stored runs (target < 300 ms): every strategy trained once
    on a tiny target (8 labels per class, 1 epoch, 32 px) into the run store, then the page rerun in AppTest
    with the runs overlaid, the trained model's evaluation shown and every cache warm."""
    import os
    import statistics
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    os.environ.setdefault("PTCE_OFFLINE", "1")
    os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-bench-"))
    from streamlit.testing.v1 import AppTest

    from core.config import Paths
    from core.data.mnist import load_sample
    from core.runs.store import RunStore
    from core.transfer.fit import train_stored

    store, digits = RunStore(Paths.from_env().runs), load_sample()
    base = TransferConfig(epochs=1, labels_per_class=8)  # the page's defaults otherwise
    t0 = time.perf_counter()
    for strategy in ("feature", "finetune", "full", "scratch"):
        cfg = replace(base, strategy=strategy, head_lr=1e-2 if strategy == "feature" else 1e-3,
                      backbone_lr=1e-4 if strategy in ("finetune", "full") else base.backbone_lr,
                      weights="random" if strategy == "scratch" else "digits-pretrained")
        store.get_or_train(cfg, lambda c=cfg: train_stored(c, store, Paths.from_env().data, device, digits=digits))
    trained_s = time.perf_counter() - t0
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "transfer.py"), default_timeout=600)
    at.run()
    at.select_slider(key="tl_labels").set_value(8)
    at.slider(key="tl_epochs").set_value(1)
    at.run()
    if at.exception or not at.success:
        raise RuntimeError([e.value for e in at.exception] or "the stored feature-extraction run was not loaded")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
    ms = 1000 * statistics.median(times)
    return [_row("Transfer page rerun with 4 stored strategy runs overlaid and a trained model shown (AppTest)", ms,
                 "ms", target="< 300 ms", met=ms < 300,
                 note=f"median of {n}; the runs and the pretraining were trained into the store in {trained_s:.0f} s")]
