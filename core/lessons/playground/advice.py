"""What the Playground says about a network in plain words: stopped (diverged, the epoch limit), stuck (saturated
or dead neurons), the loss jumping, nothing learned and why (a straight line cannot separate XOR), nothing to learn
from (no features), overfitting. Each verdict comes from the network's own numbers. No Streamlit here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.fmt import num
from core.lessons.playground.config import PlaygroundConfig
from core.lessons.playground.live import Snapshot
from core.lessons.playground.network import NOT_LEARNED
from core.lessons.playground.probe import SATURATED, Look

Level = Literal["error", "warning", "info"]
LINEAR_FEATURES = frozenset({"x1", "x2"})  # a network of these alone, without hidden layers, draws a straight line
CURVED_DATA = frozenset({"circle", "xor", "spiral", "multigauss"})  # no straight line fits them
JUDGE_AFTER = 100  # epochs before "has not learned" is said (TFP's XOR takes a few hundred with the defaults)


@dataclass(frozen=True)
class Verdict:
    level: Level
    text: str


def _why_straight(cfg: PlaygroundConfig) -> str:
    """Why this network can only draw a straight boundary ("" when it can draw curves)."""
    if set(cfg.features) <= LINEAR_FEATURES and cfg.dataset in CURVED_DATA:
        if not cfg.hidden:
            return ("With no hidden layer and only x₁, x₂ as inputs, the output is tanh(w₁x₁ + w₂x₂ + b): its "
                    "boundary is a straight line, and no straight line separates this data. Add a hidden layer, or "
                    "a feature that bends it: x₁·x₂ for XOR, x₁² and x₂² for the circle.")
        if cfg.activation == "linear":
            return ("Linear activations make every layer a linear function, and linear functions of linear functions "
                    "are linear: however deep, the boundary stays a straight line. Pick ReLU, Tanh or Sigmoid.")
    return ""


def verdicts(snap: Snapshot, look: Look) -> list[Verdict]:
    cfg, out = snap.cfg, []
    if snap.stopped:
        out.append(Verdict("error", snap.stopped))
    if not cfg.features:
        out.append(Verdict("info", "No input features are switched on: the network sees nothing of the points, only "
                                   "its biases, so the best it can learn is one value everywhere (the average "
                                   "label). Switch on at least one feature."))
        return out
    stuck = int(sum(s.sum() for s in look.stuck))
    hidden = int(sum(cfg.hidden))
    train, test = snap.train_loss, snap.test_loss
    stuck_output = look.output_saturated >= SATURATED and train[-1] > snap.baseline
    if snap.epoch >= 10 and ((hidden and stuck >= max(1, hidden // 2)) or stuck_output):
        what = "dead (a ReLU that outputs 0 for every point)" if cfg.activation == "relu" else \
            "saturated (at the end of its range for almost every point)"
        parts = [f"{stuck} of its {hidden} hidden neurons are {what}"] if stuck else []
        if stuck_output:
            parts.append(f"its tanh output sits at ±1 for {100 * look.output_saturated:.0f}% of the points (a worse "
                         "loss than one constant guess)")
        top = max((float(np.abs(w).max()) for w in look.weights if w.size), default=0.0)
        out.append(Verdict("warning", f"The network is stuck: {' and '.join(parts)}. There the gradient is about 0, "
                                      f"so training cannot move it back. The learning rate {cfg.lr:g} threw the "
                                      f"weights too far (the largest is now {top:.3g}). Lower the learning rate and "
                                      "press Reset."))
    elif snap.epoch >= 20 and train[-1] > 0.05 * snap.baseline:  # near 0, small wobbles are only SGD's noise
        last = train[-21:]
        leaps = int(np.sum(np.diff(last) > 0.1 * last[:-1]))  # rose by more than a tenth in one epoch
        if leaps >= 5:
            out.append(Verdict("warning", f"The loss jumps up and down: it leapt up in {leaps} of the last 20 epochs. "
                                          f"Steps of learning rate {cfg.lr:g} overshoot the minimum; lower the "
                                          "learning rate (it can change while the network trains)."))
    if snap.epoch >= JUDGE_AFTER and not snap.stopped and test[-1] >= NOT_LEARNED * snap.baseline:
        why = _why_straight(cfg)
        out.append(Verdict("warning", f"After {snap.epoch:,} epochs the network does no better than one constant "
                                      f"guess everywhere (test loss {num(test[-1])}; the best constant scores "
                                      f"{num(snap.baseline)}): it has not learned. " + (why or
                                      "Try more neurons or layers, other features, or another learning rate.")))
    elif snap.epoch >= JUDGE_AFTER and (why := _why_straight(cfg)):
        out.append(Verdict("info", why))
    if snap.epoch >= JUDGE_AFTER and test[-1] > 2 * train[-1] + 0.02 and cfg.noise > 0:
        out.append(Verdict("info", f"The test loss ({num(test[-1])}) is well above the training loss "
                                   f"({num(train[-1])}): the network fits the noise of its training points "
                                   "(overfitting). Try L2 regularization, fewer neurons, or more training data."))
    return out

