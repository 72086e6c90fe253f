"""Estimate a training run's wall time before it starts, from real timed steps."""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from core.models.registry import ModelConfig, build_model
from core.optimizers import make_optimizer
from core.training.config import TrainConfig


def time_steps(model_cfg: ModelConfig, optimizer: str, batch_size: int, device: torch.device,
               steps: int = 5) -> float:
    """Fastest of `steps` timed forward+backward+step passes on a random (batch_size, 1, 28, 28) batch
    (the minimum is the least disturbed by whatever else the machine is doing)."""
    g = torch.Generator().manual_seed(0)
    model = build_model(model_cfg, g).to(device).train()
    cfg = TrainConfig(model=model_cfg, optimizer=optimizer)  # type: ignore[arg-type]
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, fused=True)
    x = torch.randn(batch_size, 1, 28, 28, generator=g).to(device)  # (B, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,), generator=g).to(device)
    times = []
    for i in range(steps + 2):  # two warm-up steps: allocators, kernels, optimizer state
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return min(times)


def estimate_seconds(cfg: TrainConfig, n_train: int, n_test: int, step_s: float) -> float:
    """Steps x measured step time, plus one evaluation pass per epoch (about 1/3 of a step per sample)."""
    bs = min(cfg.batch_size, n_train)
    steps = math.ceil(n_train / bs) * cfg.epochs
    eval_s = cfg.epochs * (n_test / bs) * step_s / 3
    return steps * step_s + eval_s
