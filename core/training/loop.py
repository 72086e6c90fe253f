"""The training engine: one loop, `train_loop(model, opt, data, schedule, g) -> Fitted`, for every model in the
app, and `fit(cfg, data) -> Run` for the registry's MNIST models (core/transfer.py's trainer uses the same loop).

Design for speed: the dataset stays on the device in the form it is stored (MNIST normalized once into floats,
transfer images as uint8, a frozen backbone's features); each epoch shuffles it with one gather and every step
takes a slice of that (a view: no DataLoader, no PIL, no per-step copy), turned into the model's input on the
device by a per-batch `inputs` function (resize and normalize for transfer; nothing for MNIST). Losses stay on the
device and are read back at most every `report_s` seconds (and at each epoch end), so a GPU is never synchronized
per step and even a 2-second run streams several points of its curve. A per-run `torch.Generator` drives both the
initialization and the shuffling, so a config replays exactly.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.config import ConfigError, default_device
from core.data.mnist import MNISTData, to_input
from core.models.registry import architecture, build_model
from core.optimizers import make_optimizer
from core.training.analysis import Note
from core.training.config import TrainConfig
from core.training.record import History, OnProgress, Progress, Run, Status
from core.training.validation import carve

REPORT_S = 0.25  # seconds between progress reports: the page's live view refreshes as often (ui/training.py)

__all__ = ["REPORT_S", "Fitted", "Schedule", "TensorData", "check_config", "diagnose", "did_not_learn", "evaluate",
           "fit", "identity", "load_model", "train_loop", "train_mode"]


def check_config(cfg: TrainConfig) -> None:
    """Raise ConfigError (plain words) unless `cfg` is within the bounds the controls and the store share."""
    cfg.check()


@dataclass(frozen=True)
class TensorData:
    """A classification dataset as the loop uses it: inputs and labels already on the training device, in the
    form they are stored (normalized floats for MNIST, uint8 images for transfer, (N, 512) features for a head);
    the loop's `inputs` turns one sliced batch into what the model takes."""

    x_train: torch.Tensor  # (N, ...)
    y_train: torch.Tensor  # (N,) int64 in 0..num_classes-1
    x_test: torch.Tensor  # (M, ...)
    y_test: torch.Tensor  # (M,)
    num_classes: int
    x_val: torch.Tensor | None = None  # (V, ...) carved from the training data: evaluated after every epoch
    y_val: torch.Tensor | None = None  # (V,); without them the test set is (transfer's few-label tasks)

    def __post_init__(self) -> None:
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise ValueError("inputs and labels differ in length")
        if (self.x_val is None) != (self.y_val is None) or (self.x_val is not None and (
                len(self.x_val) != len(self.y_val) or len(self.y_val) == 0)):
            raise ValueError("validation inputs and labels must both be given, non-empty and equally long")
        if len(self.y_train) == 0 or len(self.y_test) == 0:
            raise ValueError("training needs at least one training and one test example")
        if self.num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes (got {self.num_classes})")


@dataclass(frozen=True)
class Schedule:
    """How the loop walks the data: epochs of shuffled batches; the test set in batches of `eval_batch`."""

    epochs: int
    batch_size: int
    eval_batch: int = 2000


@dataclass
class Fitted:
    """What the loop hands back: the model trained in place, its curve, and how the training went."""

    history: History
    diverged: bool
    train_s: float  # seconds in training steps (evaluation left out)
    wall_s: float  # seconds of the whole loop
    seen: int  # training examples through the model
    total_steps: int
    test: tuple[float, float] | None = None  # (loss, accuracy) on the test set, once at the end (when validated)
    eval_s: float = 0.0  # seconds in evaluation (validation after each epoch, the final test pass)

    def blew_up(self, advice: str) -> str:
        """Why a diverged run stopped, with `advice` (what to lower) in the middle."""
        losses = self.history.step_loss
        bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), len(losses))
        value = losses[bad] if bad < len(losses) else "non-finite"
        return (f"The loss became {value} at step {bad + 1} of {self.total_steps}: the updates blew up. {advice} "
                f"This run was not saved.")


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def train_mode(model: nn.Module, keep_eval: Sequence[nn.Module] = ()) -> nn.Module:
    """model.train(), except the `keep_eval` modules (e.g. frozen BatchNorm layers), which stay in eval mode."""
    model.train()
    for m in keep_eval:
        m.eval()
    return model


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2000,
             inputs: Callable[[torch.Tensor], torch.Tensor] = identity) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` on (x, y); model must be in eval mode."""
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for i in range(0, len(y), batch):
        logits = model(inputs(x[i:i + batch]))  # (b, C)
        total_loss += F.cross_entropy(logits, y[i:i + batch], reduction="sum")
        correct += (logits.argmax(1) == y[i:i + batch]).sum()
    return total_loss.item() / len(y), correct.item() / len(y)


def train_loop(model: nn.Module, opt: torch.optim.Optimizer, data: TensorData, schedule: Schedule,
               g: torch.Generator, inputs: Callable[[torch.Tensor], torch.Tensor] = identity,
               keep_eval: Sequence[nn.Module] = (), on_progress: OnProgress | None = None,
               report_every: int | None = None, report_s: float = REPORT_S) -> Fitted:
    """THE training loop (every model in the app trains through it): each epoch shuffles the device-resident data
    with one gather (`g` draws the order), every step slices a batch (a view), `inputs` turns it into the model's
    input on the device (resize, normalize; identity when stored ready), and `opt` (its parameter groups as built)
    steps. `keep_eval` modules stay in eval mode while the rest trains. Losses stay on the device and are read
    back every `report_s` seconds (or `report_every` steps) and at each epoch end, when the test set is
    evaluated (the validation split when `data` has one, else the test set); with a validation split the test set
    is evaluated once, at the end (`Fitted.test`). A non-finite loss stops the loop (`Fitted.diverged`). The model
    is left in eval mode."""
    device = data.y_train.device
    n = len(data.y_train)
    bs = min(schedule.batch_size, n)
    steps_per_epoch = math.ceil(n / bs)
    total = steps_per_epoch * schedule.epochs
    losses = torch.empty(total, device=device)  # read back in chunks: no per-step sync
    history = History(steps_per_epoch=steps_per_epoch)
    diverged = False
    t0 = time.perf_counter()
    train_s = eval_s = 0.0
    step = reported = seen = 0
    last_report = t0

    def flush(epoch: int, val: tuple[float, float] | None = None) -> bool:
        """Copy new losses to the history, report, and say whether they are all finite."""
        nonlocal reported, last_report
        new = losses[reported:step].tolist()
        reported, last_report = step, time.perf_counter()
        history.step_loss.extend(new)
        if on_progress is not None:
            on_progress(Progress(step, total, epoch, new, time.perf_counter() - t0,
                                 *(val if val else (None, None))))
        return all(math.isfinite(v) for v in new)

    for epoch in range(1, schedule.epochs + 1):
        train_mode(model, keep_eval)
        t_epoch = time.perf_counter()
        perm = torch.randperm(n, generator=g).to(device)
        xs, ys = data.x_train.index_select(0, perm), data.y_train.index_select(0, perm)  # one gather per epoch
        for i in range(0, n, bs):
            xb, yb = xs[i:i + bs], ys[i:i + bs]  # (b, ...), (b,): views, no copy
            loss = F.cross_entropy(model(inputs(xb)), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[step] = loss.detach()
            step += 1
            seen += len(yb)
            due = step % report_every == 0 if report_every else time.perf_counter() - last_report >= report_s
            if due and step % steps_per_epoch != 0 and not flush(epoch):
                diverged = True
                break
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_s += time.perf_counter() - t_epoch
        if diverged:
            break
        model.eval()
        t_eval = time.perf_counter()
        val = evaluate(model, *((data.x_val, data.y_val) if data.x_val is not None else (data.x_test, data.y_test)),
                       schedule.eval_batch, inputs)
        eval_s += time.perf_counter() - t_eval
        history.val_loss.append(val[0])
        history.val_acc.append(val[1])
        if not flush(epoch, val) or not math.isfinite(val[0]):
            diverged = True
            break
    model.eval()
    test = None
    if data.x_val is not None and not diverged:
        t_eval = time.perf_counter()
        test = evaluate(model, data.x_test, data.y_test, schedule.eval_batch, inputs)
        eval_s += time.perf_counter() - t_eval
    return Fitted(history, diverged, train_s, time.perf_counter() - t0, seen, total, test, eval_s)


def fit(cfg: TrainConfig, data: MNISTData, device: torch.device | None = None,
        on_progress: OnProgress | None = None, report_every: int | None = None,
        report_s: float = REPORT_S) -> Run:
    """Train a fresh registry model for `cfg` on MNIST `data` through `train_loop`, reporting progress every
    `report_s` seconds (or every `report_every` steps when given: tests use it to get reports at known steps).
    Stops early, status "diverged", on a non-finite loss; a run that finished at chance accuracy has status
    "did-not-learn" (stored, but marked and never picked by default)."""
    check_config(cfg)
    if cfg.data_source != data.source:
        raise ConfigError(f"config asks for {cfg.data_source} but the data is {data.source}")
    device = device or default_device()
    g = torch.Generator().manual_seed(cfg.seed)  # the initialization, then the shuffling: a config replays exactly
    model = build_model(cfg.model, g).to(device)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.momentum, fused=True)
    train, val = carve(data.train)  # stratified, seeded: the same validation digits for every run
    tensors = TensorData(to_input(train.images, device), train.labels.to(device),  # (N, 1, 28, 28), (N,)
                         to_input(data.test.images, device), data.test.labels.to(device),
                         architecture(cfg.model.arch).num_classes,
                         to_input(val.images, device), val.labels.to(device))  # (V, 1, 28, 28), (V,)
    done = train_loop(model, opt, tensors, Schedule(cfg.epochs, cfg.batch_size), g, on_progress=on_progress,
                      report_every=report_every, report_s=report_s)
    history = done.history
    status: Status = "diverged" if done.diverged else "ok"
    reason = done.blew_up(f"Lower the learning rate (now {cfg.lr:g}) and train again.") if done.diverged else ""
    test_loss, test_acc = done.test if done.test is not None else (float("nan"), float("nan"))
    metrics: dict[str, float | str] = {
        "test_loss": test_loss, "test_acc": test_acc,
        "train_s": done.train_s, "wall_s": done.wall_s,
        "samples_per_s": done.seen / done.train_s if done.train_s > 0 else 0.0,
        "device": str(device), "n_train": len(tensors.y_train), "n_test": len(tensors.y_test), "n_val": len(val),
        "eval_s": done.eval_s,
    }
    if status == "ok" and did_not_learn(history, tensors.num_classes):
        status, reason = "did-not-learn", " ".join(map(str, diagnose(history, tensors.num_classes)))
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return Run(cfg, state, history, metrics, status, reason)


def did_not_learn(history: History, n_classes: int = 10) -> bool:
    """A finished run whose final validation accuracy is about what guessing gives (< 2x chance)."""
    return bool(history.val_acc) and history.val_acc[-1] < 2 / n_classes


def diagnose(history: History, n_classes: int = 10) -> list[Note]:
    """Plain-words remarks about a finished run that trained but learned badly (a sentence each, and details)."""
    notes: list[Note] = []
    if not history.step_loss:
        return notes
    start, peak = history.step_loss[0], max(history.step_loss)
    spiked = peak > 100 * start
    if spiked:
        step = history.step_loss.index(peak) + 1
        notes.append(Note(f"The loss spiked to {peak:,.4g} at step {step}: the learning rate is too large.",
                          f"It started at {start:.3g}; updates overshoot. Large steps often push ReLU units to output "
                          f"zero for every input (\"dead\" units), after which they never recover."))
    if did_not_learn(history, n_classes):
        notes.append(Note(f"This network did not learn: final validation accuracy {100 * history.val_acc[-1]:.1f}%, "
                          f"about what guessing gives ({100 / n_classes:.0f}%).",
                          "Try a smaller learning rate." if spiked else
                          f"It made {len(history.step_loss)} optimizer steps: train longer (more epochs or a smaller "
                          f"batch) or raise the learning rate."))
    return notes


def load_model(run: Run, device: torch.device | None = None) -> nn.Sequential:
    """A read-only eval-mode model holding `run`'s weights (no grads are ever recorded on it)."""
    model = build_model(run.config.model)
    model.load_state_dict(run.state)
    model.requires_grad_(False)
    return model.to(device or default_device()).eval()
