"""The training engine: `fit(cfg, data) -> Run`.

Design for speed: the dataset is normalized once into a float tensor that stays
on the device; each epoch shuffles it with one gather and every step takes a
slice of that (a view: no DataLoader, no PIL, no per-step copy); losses stay on the
device and are read back every `report_every` steps, so a GPU is never synchronized
per step. A per-run `torch.Generator` drives both the initialization and the
shuffling, so a config replays exactly.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.config import ConfigError, TrainConfig, default_device
from core.data import MNISTData, to_input
from core.models import build_model
from core.optimizers import make_optimizer
from core.record import History, Progress, Run, Status

__all__ = ["check_config", "diagnose", "did_not_learn", "evaluate", "fit", "load_model"]


def check_config(cfg: TrainConfig) -> None:
    """Raise ConfigError (plain words) unless `cfg` is within the bounds the controls and the store share."""
    cfg.check()


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` on (x, y); model must be in eval mode."""
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for i in range(0, len(y), batch):
        logits = model(x[i:i + batch])  # (b, 10)
        total_loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum")
        correct += (logits.argmax(1) == y[i:i + batch]).sum()
    return total_loss.item() / len(y), correct.item() / len(y)


def fit(cfg: TrainConfig, data: MNISTData, device: torch.device | None = None,
        on_progress: Callable[[Progress], None] | None = None, report_every: int = 20) -> Run:
    """Train a fresh model for `cfg` on `data`. Stops early, status "diverged", on a non-finite loss; a run that
    finished at chance accuracy has status "did-not-learn" (stored, but marked and never picked by default)."""
    check_config(cfg)
    if cfg.data_source != data.source:
        raise ConfigError(f"config asks for {cfg.data_source} but the data is {data.source}")
    device = device or default_device()
    g = torch.Generator().manual_seed(cfg.seed)
    model = build_model(cfg.model, g).to(device)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, fused=True)

    x_train, y_train = to_input(data.train.images, device), data.train.labels.to(device)  # (N, 1, 28, 28), (N,)
    x_test, y_test = to_input(data.test.images, device), data.test.labels.to(device)
    n = len(y_train)
    bs = min(cfg.batch_size, n)
    steps_per_epoch = math.ceil(n / bs)
    total = steps_per_epoch * cfg.epochs
    losses = torch.empty(total, device=device)  # read back in chunks: no per-step sync
    history = History(steps_per_epoch=steps_per_epoch)
    status: Status = "ok"
    reason = ""
    t0 = time.perf_counter()
    train_s = 0.0
    step = reported = seen = 0

    def flush(epoch: int, val: tuple[float, float] | None = None) -> bool:
        """Copy new losses to the history, report, and say whether they are all finite."""
        nonlocal reported
        new = losses[reported:step].tolist()
        reported = step
        history.step_loss.extend(new)
        if on_progress is not None:
            on_progress(Progress(step, total, epoch, new, time.perf_counter() - t0,
                                 *(val if val else (None, None))))
        return all(math.isfinite(v) for v in new)

    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t_epoch = time.perf_counter()
        perm = torch.randperm(n, generator=g).to(device)
        xs, ys = x_train.index_select(0, perm), y_train.index_select(0, perm)  # one gather per epoch
        for i in range(0, n, bs):
            xb, yb = xs[i:i + bs], ys[i:i + bs]  # (b, 1, 28, 28), (b,): views, no copy
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[step] = loss.detach()
            step += 1
            seen += len(yb)
            if step % report_every == 0 and step % steps_per_epoch != 0 and not flush(epoch):
                status = "diverged"
                break
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_s += time.perf_counter() - t_epoch
        if status == "diverged":
            break
        model.eval()
        val = evaluate(model, x_test, y_test)
        history.val_loss.append(val[0])
        history.val_acc.append(val[1])
        if not flush(epoch, val) or not math.isfinite(val[0]):
            status = "diverged"
            break

    if status == "diverged":
        bad = next((i for i, v in enumerate(history.step_loss) if not math.isfinite(v)), len(history.step_loss))
        reason = (f"The loss became {history.step_loss[bad] if bad < len(history.step_loss) else 'non-finite'} "
                  f"at step {bad + 1} of {total}: the updates blew up. Lower the learning rate "
                  f"(now {cfg.lr:g}) and train again. This run was not saved.")
    model.eval()
    test_loss, test_acc = history.val_loss[-1] if history.val_loss else float("nan"), \
        history.val_acc[-1] if history.val_acc else float("nan")
    metrics: dict[str, float | str] = {
        "test_loss": test_loss, "test_acc": test_acc,
        "train_s": train_s, "wall_s": time.perf_counter() - t0,
        "samples_per_s": seen / train_s if train_s > 0 else 0.0,
        "device": str(device), "n_train": n, "n_test": len(y_test),
    }
    if status == "ok" and did_not_learn(history):
        status, reason = "did-not-learn", " ".join(diagnose(history))
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return Run(cfg, state, history, metrics, status, reason)


def did_not_learn(history: History, n_classes: int = 10) -> bool:
    """A finished run whose final validation accuracy is about what guessing gives (< 2x chance)."""
    return bool(history.val_acc) and history.val_acc[-1] < 2 / n_classes


def diagnose(history: History, n_classes: int = 10) -> list[str]:
    """Plain-words warnings about a finished run that trained but learned badly."""
    notes = []
    if not history.step_loss:
        return notes
    start, peak = history.step_loss[0], max(history.step_loss)
    spiked = peak > 100 * start
    if spiked:
        step = history.step_loss.index(peak) + 1
        notes.append(f"The loss spiked to {peak:,.4g} at step {step} (it started at {start:.3g}): the learning rate "
                     f"is too large, so updates overshoot. Large steps often push ReLU units to output zero for "
                     f"every input (\"dead\" units), after which they never recover.")
    if did_not_learn(history, n_classes):
        notes.append(f"Final validation accuracy is {100 * history.val_acc[-1]:.1f}%, about what guessing gives "
                     f"({100 / n_classes:.0f}%): this network did not learn. " +
                     ("Try a smaller learning rate." if spiked else
                      f"It made {len(history.step_loss)} optimizer steps: train longer (more epochs or a smaller "
                      f"batch) or raise the learning rate."))
    return notes


def load_model(run: Run, device: torch.device | None = None) -> nn.Sequential:
    """A read-only eval-mode model holding `run`'s weights (no grads are ever recorded on it)."""
    model = build_model(run.config.model)
    model.load_state_dict(run.state)
    model.requires_grad_(False)
    return model.to(device or default_device()).eval()
