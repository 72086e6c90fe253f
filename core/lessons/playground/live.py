"""One learner's playground network while it trains: data, model, optimizer, the epochs so far and their losses.

`Playground.train(n)` advances n epochs (each visits every training point once, in a new order, in batches), with a
real `torch.optim` optimizer from the app's one table. The learning rate and regularization change between epochs
without a reset (`set_live`), and every stretch of epochs is kept with its settings (`segments`), so the same
network can be trained again from the seed alone (the code panel's program does exactly that). Each epoch ends
with TFP's numbers: the loss on all training and all test points. An epoch whose loss or weights stop being finite
numbers (or pass a million) is undone and training stops with a sentence saying why.

Thread-safe: a trainer thread may call `train` while a page takes `snapshot`s: one lock, taken per epoch, and
the snapshot of the last epoch is published when it ends, so reading it never waits.
No Streamlit here.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from core.lessons.playground.config import LIVE_FIELDS, MAX_EPOCHS, MOMENTUM, PlaygroundConfig
from core.lessons.playground.data import Data, make_data
from core.lessons.playground.network import accuracy, constant_loss, data_loss, linears, new_model, penalty
from core.lessons.playground.probe import Viewer
from core.lessons.playground.run import Edit, PlaygroundRun, Segment
from core.optimizers import make_optimizer

BLOWUP = 1e6  # a weight or loss beyond this counts as diverged
# Per-batch losses kept for a stored run's history (400 kB); longer runs are not stored. It also bounds what opening a
# stored run costs (it is trained again): 100,000 steps of the largest network take about a minute here.
MAX_STEPS_KEPT = 100_000


class _Series:
    """A growing float32 array: appended to by the trainer, read as a view by snapshots (a view stays valid when
    the buffer grows, because growing copies into a new one)."""

    def __init__(self, capacity: int = 256) -> None:
        self._buf = np.empty(capacity, dtype=np.float32)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        if self.n + len(values) > len(self._buf):
            grown = np.empty(max(2 * len(self._buf), self.n + len(values)), dtype=np.float32)
            grown[:self.n] = self._buf[:self.n]
            self._buf = grown
        self._buf[self.n:self.n + len(values)] = values
        self.n += len(values)

    def set_last(self, value: float) -> None:
        """Replace the last value (a copy first: snapshots already handed out keep theirs)."""
        self._buf = self._buf.copy()
        self._buf[self.n - 1] = value

    def view(self) -> np.ndarray:
        out = self._buf[:self.n]
        out.flags.writeable = False  # readers share it with the trainer
        return out


@dataclass(frozen=True)
class Snapshot:
    """What a page draws, taken at an epoch's end: the settings, the weights (copies) and the curves (read-only)."""

    cfg: PlaygroundConfig
    epoch: int
    state: dict[str, torch.Tensor]
    train_loss: np.ndarray  # (epoch + 1,) on all training points, epoch 0 = before training
    test_loss: np.ndarray  # (epoch + 1,)
    train_acc: np.ndarray  # (epoch + 1,) classification; empty for regression
    test_acc: np.ndarray
    step_loss: np.ndarray  # (steps,) each batch's loss, while at most MAX_STEPS_KEPT
    steps_per_epoch: int
    segments: tuple[Segment, ...]
    stopped: str  # why training stopped, in plain words ("" while it can go on)
    train_s: float  # seconds spent training
    rate: float  # epochs per second lately (0 when not training)
    baseline: float  # the test loss of the best constant output ("learned nothing")

    @property
    def run(self) -> PlaygroundRun:
        """The stored-run config of this network: its settings and the stretches of epochs it trained."""
        kept = tuple(s for s in self.segments if s.epochs or s.edits)
        return PlaygroundRun(self.cfg, kept or (self.segments[-1],))


class Playground:
    def __init__(self, cfg: PlaygroundConfig) -> None:
        cfg.check()
        self.cfg = cfg
        self.g = torch.Generator().manual_seed(cfg.seed)  # data, split, initial weights, then each epoch's order
        self.data: Data = make_data(cfg, self.g)
        self.model = new_model(cfg, self.g)
        self.optimizer = make_optimizer(cfg.optimizer, self.model.parameters(), cfg.lr, MOMENTUM, fused=True)
        self.baseline = constant_loss(cfg, self.data.train_y, self.data.test_y)
        n = len(self.data.train_x)
        self.steps_per_epoch = 1 if cfg.batch_size == 0 else -(-n // cfg.batch_size)
        self.lock = threading.Lock()
        self.advanced = threading.Condition(self.lock)  # notified after every epoch
        self.epoch = 0
        self.segments = [Segment.of(cfg)]
        self.stopped = ""
        self.train_s = 0.0
        self._recent: deque[tuple[float, int]] = deque(maxlen=64)  # (time, epoch) at recent epoch ends
        self._curves = {name: _Series() for name in ("train_loss", "test_loss", "train_acc", "test_acc")}
        self._steps = _Series(4096)
        self._evaluate()
        self._published = self._snapshot()
        self._viewer: Viewer | None = None

    # ------------------------------------------------------------ settings
    def set_live(self, cfg: PlaygroundConfig) -> None:
        """Take the learning rate and regularization of `cfg` from the next epoch on (the network and the
        optimizer's state stay). A change after a divergence lets training go on from the last good epoch."""
        if cfg.structure() != self.cfg.structure():
            raise ValueError("only the live settings (learning rate, regularization) change a training network")
        cfg.check()
        with self.lock:
            if all(getattr(cfg, f) == getattr(self.cfg, f) for f in LIVE_FIELDS):
                return
            self.cfg = cfg
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.lr
            if self.segments[-1].epochs == 0:  # nothing trained with the old settings yet: they never happened
                self.segments[-1] = replace(self.segments[-1], lr=cfg.lr, regularization=cfg.regularization,
                                            reg_rate=cfg.reg_rate)
            else:
                self.segments.append(Segment.of(cfg))
            if self.stopped and self.epoch < MAX_EPOCHS:
                self.stopped = ""
            self._published = self._snapshot()

    def set_weight(self, edit: Edit) -> None:
        """Type one weight (TFP: click an edge, type a number): it goes into the network at once, and into the
        record of this stretch of epochs, so replaying the run (and the code panel's program) types it too."""
        problems = edit.problems(self.cfg.sizes)
        if problems:
            raise ValueError("; ".join(problems))
        with self.lock:
            with torch.no_grad():
                linears(self.model)[edit.layer].weight[edit.neuron, edit.source] = edit.value
            last = self.segments[-1]
            if last.epochs == 0:
                self.segments[-1] = replace(last, edits=last.edits + (edit,))
            else:
                self.segments.append(replace(last, epochs=0, edits=(edit,)))
            self._evaluate(again=True)  # this epoch's losses are the typed network's now, as in TFP
            self._published = self._snapshot()

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Put `state` in the network (a stored run's weights), keeping its epochs and curves."""
        with self.lock:
            self.model.load_state_dict(state)
            self._published = self._snapshot()

    # ------------------------------------------------------------ training
    def train(self, epochs: int, budget_s: float = math.inf, go_on: Callable[[], bool] | None = None) -> int:
        """Up to `epochs` epochs (fewer once `budget_s` seconds have passed, at least one, or when training
        stops, or when `go_on()`, asked under the network's lock before each epoch, says no); returns how many
        were trained."""
        done, start = 0, time.perf_counter()
        while done < epochs and (done == 0 or time.perf_counter() - start < budget_s):
            with self.lock:
                if self.stopped or (go_on is not None and not go_on()):
                    break
                if self.epoch >= MAX_EPOCHS:
                    self.stopped = (f"Stopped at {MAX_EPOCHS:,} epochs, the most one playground network trains. "
                                    "Press Reset to start again.")
                    self._published = self._snapshot()
                    break
                self._one_epoch()
                self._published = self._snapshot()
                self.advanced.notify_all()
            done += 1
        return done

    def _one_epoch(self) -> None:
        t0 = time.perf_counter()
        saved = self._checkpoint()
        cfg, d, model = self.cfg, self.data, self.model
        n = len(d.train_x)
        batch = cfg.batch_size or n  # 0: the whole training set
        order = torch.randperm(n, generator=self.g)
        losses = []
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            loss = data_loss(cfg, model(d.train_x[idx]), d.train_y[idx])
            losses.append(loss.detach())  # the data loss, as the page shows it (without the penalty)
            if cfg.regularization != "none" and cfg.reg_rate:
                loss = loss + penalty(model, cfg.regularization, cfg.reg_rate)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.train_s += time.perf_counter() - t0
        bad = self._diverged()
        if bad:
            self._restore(saved)
            self.stopped = (f"Training stopped at epoch {self.epoch + 1:,}: {bad}. The learning rate {cfg.lr:g} is too "
                            "large for this network: each step overshoots by more than it corrects, so the weights "
                            f"grow without bound. The pictures show epoch {self.epoch:,}, the last good one. Lower "
                            "the learning rate to go on from there, or press Reset.")
            return
        self.epoch += 1
        self.segments[-1] = replace(self.segments[-1], epochs=self.segments[-1].epochs + 1)
        if self._steps.n + len(losses) <= MAX_STEPS_KEPT:
            self._steps.extend(torch.stack(losses).numpy())
        self._evaluate()
        self._recent.append((time.perf_counter(), self.epoch))

    def _checkpoint(self) -> tuple:
        """What an epoch changes (weights, the optimizer's state, the generator), copied: 0.1 ms for 6 × 8."""
        opt = {p: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
               for p, s in self.optimizer.state.items()}
        return [p.detach().clone() for p in self.model.parameters()], opt, self.g.get_state()

    def _restore(self, saved: tuple) -> None:
        weights, opt, g = saved
        with torch.no_grad():
            for p, w in zip(self.model.parameters(), weights):
                p.copy_(w)
        self.optimizer.state.clear()
        self.optimizer.state.update(opt)
        self.g.set_state(g)

    def _diverged(self) -> str:
        """Plain words on what blew up in the epoch just trained ("" when nothing did)."""
        with torch.no_grad():
            params = list(self.model.parameters())
            if not all(bool(torch.isfinite(p).all()) for p in params):
                return "some weights became NaN or infinite"
            top = max(float(p.abs().max()) for p in params if p.numel())
            if top > BLOWUP:
                return f"a weight grew to {top:.3g}, past a million"
            loss = data_loss(self.cfg, self.model(self.data.train_x), self.data.train_y)
            if not math.isfinite(float(loss)):
                return "the loss became NaN or infinite"
        return ""

    def _evaluate(self, again: bool = False) -> None:
        """TFP's numbers at an epoch's end: the loss (and accuracy) on all training and all test points. `again`:
        the same epoch's numbers after a typed weight, in place of its last ones."""
        cfg, d = self.cfg, self.data
        with torch.no_grad():
            out_train, out_test = self.model(d.train_x), self.model(d.test_x)
            values = {"train_loss": float(data_loss(cfg, out_train, d.train_y)),
                      "test_loss": float(data_loss(cfg, out_test, d.test_y))}
            if cfg.problem == "classification":
                values.update(train_acc=accuracy(cfg, out_train, d.train_y), test_acc=accuracy(cfg, out_test, d.test_y))
        for name, value in values.items():
            if again:
                self._curves[name].set_last(value)
            else:
                self._curves[name].extend(np.array([value]))

    def wait_for_epoch(self, epoch: int, timeout_s: float) -> bool:
        """Block until `epoch` epochs are trained (True) or `timeout_s` passes, or training stops (False)."""
        with self.advanced:
            return self.advanced.wait_for(lambda: self.epoch >= epoch or bool(self.stopped), timeout_s) and \
                self.epoch >= epoch

    # ------------------------------------------------------------ reading
    def rate(self) -> float:
        """Epochs per second over the last two seconds of training (0 when it has not trained lately)."""
        now = time.perf_counter()
        recent = [(t, e) for t, e in self._recent if now - t < 2.0]
        if len(recent) < 2:
            return 0.0
        (t0, e0), (t1, e1) = recent[0], recent[-1]
        return (e1 - e0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def viewer(self) -> Viewer:
        """What the pages draw this network with (made on first use; replays never draw)."""
        if self._viewer is None:
            self._viewer = Viewer(self.cfg)
        return self._viewer

    def snapshot(self) -> Snapshot:
        """The network as of its last epoch. Published by the trainer at every epoch's end (a copy of the weights,
        about 50 µs for 6 × 8), so a page redrawing never waits for an epoch under way."""
        return self._published

    def _snapshot(self) -> Snapshot:  # the caller holds the lock
        c = self._curves
        return Snapshot(self.cfg, self.epoch, {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                        c["train_loss"].view(), c["test_loss"].view(), c["train_acc"].view(), c["test_acc"].view(),
                        self._steps.view(), self.steps_per_epoch, tuple(self.segments), self.stopped, self.train_s,
                        self.rate(), self.baseline)


def replay(run: PlaygroundRun, on_epoch=None) -> Playground:
    """The network of a stored run trained again from its seed, stretch by stretch (deterministic on one machine).
    `on_epoch(epoch, total)` is called after each epoch."""
    first = run.segments[0].apply(run.config)
    pg = Playground(first)
    for seg in run.segments:
        pg.set_live(seg.apply(run.config))
        for edit in seg.edits:
            pg.set_weight(edit)
        for _ in range(seg.epochs):
            if not pg.train(1):
                return pg
            if on_epoch is not None:
                on_epoch(pg.epoch, run.epochs)
    return pg
