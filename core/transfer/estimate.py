"""How long a transfer run will take, before it runs: seconds per image timed on a private copy of the model."""
from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.transfer.config import TransferConfig
from core.transfer.features import extract_features, feature_pass
from core.transfer.inputs import normalization, prepare
from core.transfer.strategies import apply_strategy, optimizer, set_train_mode


def time_per_image(model: nn.Module, cfg: TransferConfig, device: torch.device, batch: int = 8) -> tuple[float, float]:
    """(training seconds per image, inference seconds per image) under cfg's strategy and resolution, timed on a
    random batch after a warm-up, on a private copy of `model` (the caller's model is left untouched)."""
    g = torch.Generator().manual_seed(0)
    work = apply_strategy(copy.deepcopy(model), cfg.strategy, cfg.k_stages).to(device)
    num_classes = work.fc.out_features
    x = torch.randint(0, 256, (batch, 3, 32, 32), generator=g, dtype=torch.uint8).to(device)
    y = torch.randint(0, num_classes, (batch,), generator=g).to(device)
    norm = normalization(cfg)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    def timed(fn: Callable[[], object], repeats: int = 3) -> float:
        fn()  # warm-up: allocator, kernels, optimizer state
        sync()
        times = []
        for _ in range(repeats):  # the fastest: the least disturbed by whatever else the machine is doing
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return min(times) / batch

    def forward() -> None:
        with torch.inference_mode():
            work(prepare(x, cfg.resolution, norm))

    work.eval()
    if cfg.strategy == "feature":  # the one backbone pass as compute_features runs it; head epochs take milliseconds
        work = work.to(memory_format=feature_pass(cfg.resolution, device)[0])
        return 0.0, timed(lambda: extract_features(work, x, cfg.resolution, norm, device, batch=batch))
    infer = timed(forward)
    opt = optimizer(work, cfg)

    def train_step() -> None:
        loss = F.cross_entropy(work(prepare(x, cfg.resolution, norm)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    set_train_mode(work)
    return timed(train_step), infer


def estimate_seconds(cfg: TransferConfig, n_train: int, n_test: int, per_image: tuple[float, float]) -> float:
    """Wall time of a run: feature extraction = one backbone pass over train + test; otherwise every epoch
    trains on n_train images and evaluates n_test."""
    train_s, infer_s = per_image
    if cfg.strategy == "feature":
        return (n_train + n_test) * infer_s
    return cfg.epochs * (n_train * train_s + n_test * infer_s)
