"""What the Playground's pictures show, computed in one batched pass: every neuron's output over the input plane
(forward hooks, always removed), each weight and its gradient ∂loss/∂w, and which hidden neurons are stuck.

The network examined is a private copy built from a snapshot's weights, so the network being trained is never
touched (no hooks, no .grad). No Streamlit here.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.lessons.playground.config import PlaygroundConfig
from core.lessons.playground.data import Data, feature_map, plane_grid
from core.lessons.playground.network import build, data_loss, linears, penalty, score

GRID = 60  # points per side of the input plane: 3,600 in one pass (TFP draws 100 × 100; the issue asks >= 50)


@dataclass(frozen=True)
class Look:
    """Every neuron's output over the plane, and every edge's weight and gradient."""

    ticks: np.ndarray  # (n,) the grid's coordinates along x1 and along x2
    layers: list[np.ndarray]  # per layer, input to output: (neurons, n, n), row i at x2 = ticks[i]
    weights: list[np.ndarray]  # per Linear: (out, in)
    biases: list[np.ndarray]  # per Linear: (out,)
    grads: list[np.ndarray]  # per Linear: ∂(training loss + penalty)/∂weight, over all training points
    stuck: list[np.ndarray]  # per hidden layer: (neurons,) bool, dead or saturated on (almost) every training point
    output_saturated: float  # share of training points where a tanh output sits at ±1 (its gradient about 0)

    @property
    def output(self) -> np.ndarray:
        """(n, n) the network's output (its score in [-1, 1] for classification)."""
        return self.layers[-1][0]


def twin(cfg: PlaygroundConfig, state: dict[str, torch.Tensor]) -> nn.Sequential:
    """A private network of `cfg` holding `state` (copied)."""
    model = build(cfg)
    model.load_state_dict(state)
    return model


def hidden_activations(model: nn.Sequential, cfg: PlaygroundConfig) -> list[nn.Module]:
    """The activation module after each hidden Linear: its output is that layer's neurons."""
    return [model[2 * i + 1] for i in range(len(cfg.hidden))]


@contextmanager
def recording(modules: list[nn.Module]) -> Iterator[list[torch.Tensor | None]]:
    """Forward hooks that keep each module's latest output (in the list, by position); removed on exit, also when the
    pass raises."""
    outputs: list[torch.Tensor | None] = [None] * len(modules)

    def keeper(i: int):
        def hook(module, args, out):
            outputs[i] = out.detach()
        return hook

    handles = [m.register_forward_hook(keeper(i)) for i, m in enumerate(modules)]
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()


SATURATED = 0.95  # a tanh or sigmoid neuron at the end of its range for this share of the points is stuck


def _stuck(activation: str, out: torch.Tensor) -> torch.Tensor:
    """(N, neurons) outputs on the training points -> (neurons,) True where the neuron's gradient is about 0: a
    ReLU that is 0 at every point (dead), a tanh at ±1 or a sigmoid at 0 or 1 at SATURATED of the points."""
    if activation == "relu":
        return (out <= 0).all(0)
    if activation == "tanh":
        return (out.abs() > 0.99).float().mean(0) >= SATURATED
    if activation == "sigmoid":
        return ((out < 0.01) | (out > 0.99)).float().mean(0) >= SATURATED
    return torch.zeros(out.shape[1], dtype=torch.bool)


class Viewer:
    """What a network of one shape is drawn with: a private copy of it (never trained; each redraw loads the
    snapshot's weights into it) and the grid's features. Made once per network, because building a network costs
    more than the pass itself; one redraw at a time (its lock)."""

    def __init__(self, cfg: PlaygroundConfig, n: int = GRID) -> None:
        self.model = build(cfg)
        self.acts = hidden_activations(self.model, cfg)
        ticks, points = plane_grid(n)
        self.ticks, self.n = ticks.numpy(), n
        self.features = feature_map(points, cfg.features)  # (n², F)
        self.lock = threading.Lock()

    def look(self, cfg: PlaygroundConfig, state: dict[str, torch.Tensor], data: Data) -> Look:
        """The pictures' numbers for weights `state`: one forward pass over the n × n grid with hooks on every
        hidden activation, and one forward + backward over the training points for the gradients."""
        with self.lock:
            return self._look(cfg, state, data)

    def _look(self, cfg: PlaygroundConfig, state: dict[str, torch.Tensor], data: Data) -> Look:
        model, n = self.model, self.n
        model.load_state_dict(state)
        model.zero_grad(set_to_none=True)
        with recording(self.acts) as hidden, torch.no_grad():
            out = model(self.features)  # (n², 1)
        grid = [self.features.T, *(h.T for h in hidden), score(cfg, out).T]  # each (neurons, n²)
        layers = [g.reshape(-1, n, n).numpy().copy() for g in grid]
        with recording(self.acts) as on_train:
            out_train = model(data.train_x)  # (N, 1)
            loss = data_loss(cfg, out_train, data.train_y)
            if cfg.regularization != "none" and cfg.reg_rate:
                loss = loss + penalty(model, cfg.regularization, cfg.reg_rate)
        loss.backward()
        lin = linears(model)
        stuck = [_stuck(cfg.activation, h).numpy() for h in on_train]
        tanh_output = cfg.problem == "classification" and cfg.loss == "mse"
        saturated = float((out_train.detach().abs() > 0.99).float().mean()) if tanh_output else 0.0
        return Look(self.ticks, layers, [m.weight.detach().numpy().copy() for m in lin],
                    [m.bias.detach().numpy().copy() for m in lin],
                    [m.weight.grad.numpy().copy() if m.weight.grad is not None
                     else np.zeros(tuple(m.weight.shape), np.float32) for m in lin], stuck, saturated)


def look(cfg: PlaygroundConfig, state: dict[str, torch.Tensor], data: Data, n: int = GRID) -> Look:
    """`Viewer.look` once (a page redrawing a network keeps its Viewer)."""
    return Viewer(cfg, n).look(cfg, state, data)
