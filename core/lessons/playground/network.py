"""The Playground's network and its loss, as plain torch modules: an nn.Sequential built from the config, TFP's
initial weights from a private generator, TFP's loss (a tanh output, labels ±1, squared error) or cross-entropy,
and L1 / L2 penalties on the weights. No Streamlit here.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

from core.lessons.playground.config import PlaygroundConfig

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
                                           "linear": nn.Identity}  # Identity: a module, so hooks see the neuron


def build(cfg: PlaygroundConfig, device: str = "cpu") -> nn.Sequential:
    """Linear + activation per hidden layer, then Linear(…, 1); classification with TFP's loss ends in Tanh (its
    output in [-1, 1] is compared with labels ±1). The weights are left uninitialised (`skip_init`: PyTorch's global
    generator is never drawn from; sessions share the process): `new_model` gives them TFP's values."""
    layers: list[nn.Module] = []
    sizes = cfg.sizes
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        with warnings.catch_warnings():  # no features: PyTorch warns that Linear(0, n)'s empty weight is not set
            warnings.filterwarnings("ignore", "Initializing zero-element tensors", UserWarning)
            layers.append(skip_init(nn.Linear, n_in, n_out, device=device))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[cfg.activation]())
    if cfg.problem == "classification" and cfg.loss == "mse":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def linears(model: nn.Sequential) -> list[nn.Linear]:
    return [m for m in model if isinstance(m, nn.Linear)]


def init_tfp(model: nn.Sequential, g: torch.Generator) -> None:
    """TFP's initial weights: every weight uniform in [-0.5, 0.5), every bias 0.1 (layer by layer, from `g`)."""
    with torch.no_grad():
        for layer in linears(model):
            if layer.weight.numel():  # no features: Linear(0, n) has no weights, only biases
                layer.weight.uniform_(-0.5, 0.5, generator=g)
            layer.bias.fill_(0.1)


def new_model(cfg: PlaygroundConfig, g: torch.Generator) -> nn.Sequential:
    """The network of `cfg` with TFP's initial weights drawn from `g`."""
    model = build(cfg)
    init_tfp(model, g)
    return model


def expected_state(cfg: PlaygroundConfig) -> dict[str, torch.Tensor]:
    """The weights a network of `cfg` holds, as meta tensors (names, shapes, dtypes; nothing allocated)."""
    return build(cfg, "meta").state_dict()


def data_loss(cfg: PlaygroundConfig, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss the page shows. TFP's: ½·mean((output − label)²) with the tanh output and labels ±1 (regression: the
    linear output and the value). "bce": binary cross-entropy of the logit against the label as 0/1."""
    if cfg.loss == "bce":
        return F.binary_cross_entropy_with_logits(out, (y + 1) / 2)
    return 0.5 * F.mse_loss(out, y)


def penalty(model: nn.Module, kind: str, rate: float) -> torch.Tensor | float:
    """The regularization term added to the loss while training, on the weights only (biases are free), as TFP:
    L1 rate·Σ|w| (its gradient moves every weight towards 0 by the same amount), L2 rate·½Σw² (by rate·w)."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    if kind == "l1" and rate:
        return rate * sum(w.abs().sum() for w in weights)
    if kind == "l2" and rate:
        return rate * sum((w ** 2).sum() for w in weights) / 2
    return 0.0


def score(cfg: PlaygroundConfig, out: torch.Tensor) -> torch.Tensor:
    """The network's output as the pictures show it, in [-1, 1] for classification (the sign is the class): the
    tanh output itself, or 2·sigmoid(logit) − 1 = tanh(logit / 2) for cross-entropy; regression: the value."""
    return torch.tanh(out / 2) if cfg.loss == "bce" else out


def accuracy(cfg: PlaygroundConfig, out: torch.Tensor, y: torch.Tensor) -> float:
    """Share of points on the right side of 0 (classification only): a tanh output's or a logit's sign."""
    return float(((out >= 0) == (y > 0)).float().mean())


NOT_LEARNED = 0.9  # a test loss at or above this share of the constant guess's: the network has not learned


def constant_loss(cfg: PlaygroundConfig, train_y: torch.Tensor, test_y: torch.Tensor) -> float:
    """The test loss of the best single value a network could output everywhere, learned from the training labels:
    what "learned nothing" scores. A network that does no better has not learned (0 hidden layers on XOR)."""
    if len(test_y) == 0:
        return 0.0
    if cfg.loss == "bce":
        p = ((train_y + 1) / 2).mean().clamp(1e-6, 1 - 1e-6)
        return float(F.binary_cross_entropy_with_logits(torch.logit(p).expand_as(test_y), (test_y + 1) / 2))
    return float(0.5 * F.mse_loss(train_y.mean().expand_as(test_y), test_y))
