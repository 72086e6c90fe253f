"""The Playground's settings: TensorFlow Playground's whole control table as one frozen config, its choices and
bounds, and how the pictures are drawn (View). A stored run's config is in run.py, the page address in address.py.

Ranges and defaults are TensorFlow Playground's (src/state.ts): 0-6 hidden layers of 1-8 neurons (default 4, 2),
learning rates 1e-5 ... 10 (default 0.03), Tanh, noise 0-50 % in steps of 5, 50 % of the points to train on, batch
10. Beyond it: a full-batch option, Adam and SGD + momentum from the app's one optimizer table, and cross-entropy as
a second classification loss. No Streamlit here.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

import torch

from core.config import Checked, ConfigError, digest
from core.optimizers import OPTIMIZER_LABELS

Problem = Literal["classification", "regression"]
PROBLEM_LABELS: dict[str, str] = {"classification": "Classification", "regression": "Regression"}


@dataclass(frozen=True)
class DatasetInfo:
    label: str
    short: str  # in narrow tables (Training runs)
    problem: Problem
    points: int  # TFP: 500 for classification, 1,200 for regression


DATASETS: dict[str, DatasetInfo] = {
    "circle": DatasetInfo("Circle", "circle", "classification", 500),
    "xor": DatasetInfo("Exclusive or (XOR)", "XOR", "classification", 500),
    "gauss": DatasetInfo("Two Gaussians", "Gaussians", "classification", 500),
    "spiral": DatasetInfo("Spiral", "spiral", "classification", 500),
    "plane": DatasetInfo("Plane", "plane", "regression", 1200),
    "multigauss": DatasetInfo("Multi-Gaussian", "multi-Gauss", "regression", 1200),
}
DEFAULT_DATASET: dict[str, str] = {"classification": "circle", "regression": "plane"}


@dataclass(frozen=True)
class Feature:
    label: str  # as the page writes it
    expr: str  # `fn` as Python on tensors x1, x2: the code panel prints it (a test checks they agree)
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# The input layer: which functions of the point (x1, x2) the network is given. Order = the input layer's order.
FEATURES: dict[str, Feature] = {
    "x1": Feature("x₁", "x1", lambda x1, x2: x1),
    "x2": Feature("x₂", "x2", lambda x1, x2: x2),
    "x1sq": Feature("x₁²", "x1 * x1", lambda x1, x2: x1 * x1),
    "x2sq": Feature("x₂²", "x2 * x2", lambda x1, x2: x2 * x2),
    "x1x2": Feature("x₁·x₂", "x1 * x2", lambda x1, x2: x1 * x2),
    "sinx1": Feature("sin(x₁)", "torch.sin(x1)", lambda x1, x2: torch.sin(x1)),
    "sinx2": Feature("sin(x₂)", "torch.sin(x2)", lambda x1, x2: torch.sin(x2)),
}

ACTIVATION_LABELS: dict[str, str] = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Linear"}
REGULARIZATION_LABELS: dict[str, str] = {"none": "None", "l1": "L1", "l2": "L2"}
LOSS_LABELS: dict[str, str] = {"mse": "Squared error (TFP's)", "bce": "Cross-entropy"}
OPTIMIZER_CHOICES: tuple[str, ...] = ("sgd", "momentum", "adam")  # the training table's; "sgd" is TFP's
MOMENTUM = 0.9  # "momentum": SGD's β

LEARNING_RATES: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # TFP's 11
REG_RATES: tuple[float, ...] = (0.0, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # TFP's 10
NOISE_LEVELS: tuple[int, ...] = tuple(range(0, 55, 5))  # % of the domain a label is judged away from its point
TRAIN_PERCENTS: tuple[int, ...] = tuple(range(10, 100, 10))
BATCH_SIZES: tuple[int, ...] = (*range(1, 31), 0)  # 0 = the whole training set (full batch)
MAX_LAYERS, MAX_NEURONS = 6, 8
SEEDS = (0, 9999)
DOMAIN = 6.0  # the input plane is [-6, 6]²

# Settings that change while the network trains (from the next epoch on), as TFP's learning rate does; every other
# setting makes a new network (data, features, shape, activation, optimizer, loss, batch size and seed).
LIVE_FIELDS: tuple[str, ...] = ("lr", "regularization", "reg_rate")
MAX_SEGMENTS = 100  # changes of the live settings recorded in one stored run
MAX_EPOCHS = 50_000  # one network's epochs (a session stops playing there): bounds its history's memory


def batch_label(batch_size: int) -> str:
    return "full batch" if batch_size == 0 else str(batch_size)


@dataclass(frozen=True)
class PlaygroundConfig(Checked):
    """Everything that decides what the Playground trains, TFP's defaults."""

    problem: Problem = "classification"
    dataset: str = "circle"
    noise: int = 0  # % (0-50)
    train_pct: int = 50  # % of the points trained on; the rest are the test points
    batch_size: int = 10  # 1-30, or 0: the whole training set
    features: tuple[str, ...] = ("x1", "x2")  # in FEATURES' order
    hidden: tuple[int, ...] = (4, 2)  # neurons per hidden layer
    activation: str = "tanh"  # of the hidden layers
    lr: float = 0.03
    regularization: str = "none"
    reg_rate: float = 0.0
    optimizer: str = "sgd"
    loss: str = "mse"  # classification only; regression is squared error on a linear output
    seed: int = 0  # the data, the initial weights and the order of the points each epoch

    def key(self) -> str:
        return digest({"kind": "playground-settings", **self.to_dict()})

    def to_dict(self) -> dict:
        d = asdict(self)
        return {**d, "features": list(self.features), "hidden": list(self.hidden)}

    @staticmethod
    def from_dict(d: object) -> PlaygroundConfig:
        """The config a dict (from a file) describes, checked field by field: ConfigError if anything is off."""
        names = [f.name for f in fields(PlaygroundConfig)]
        if not isinstance(d, dict) or set(d) != set(names):
            got = sorted(map(str, d)) if isinstance(d, dict) else type(d).__name__
            raise ConfigError(f"a playground config has exactly the fields {names} (got {got})")
        d = dict(d)
        for name in ("features", "hidden"):
            if not isinstance(d[name], list):
                raise ConfigError(f"{name} must be a list (got {type(d[name]).__name__})")
            d[name] = tuple(d[name])
        cfg = PlaygroundConfig(**d)
        cfg.check()
        return cfg

    def problems(self) -> list[str]:
        p: list[str] = []

        def whole(name: str, value: object, allowed) -> None:
            if isinstance(value, bool) or not isinstance(value, int):
                p.append(f"{name} must be a whole number (got {value!r})")
            elif value not in allowed:
                p.append(f"{name} {value} is not one of the choices ({_choices(allowed)})")

        def number(name: str, value: object, allowed: tuple[float, ...]) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                p.append(f"{name} must be a number (got {value!r})")
            elif not any(math.isclose(value, a, rel_tol=1e-9, abs_tol=0.0) for a in allowed):
                p.append(f"{name} {value:g} is not one of the choices ({_choices(allowed)})")

        def word(name: str, value: object, allowed) -> None:
            if not isinstance(value, str) or value not in allowed:
                p.append(f"unknown {name} {value!r} (choices: {', '.join(allowed)})")

        word("problem type", self.problem, PROBLEM_LABELS)
        word("data set", self.dataset, DATASETS)
        if self.dataset in DATASETS and self.problem in PROBLEM_LABELS and \
                DATASETS[self.dataset].problem != self.problem:
            p.append(f"the data set {self.dataset!r} is a {DATASETS[self.dataset].problem} set, not {self.problem}")
        whole("noise", self.noise, NOISE_LEVELS)
        whole("train percentage", self.train_pct, TRAIN_PERCENTS)
        whole("batch size", self.batch_size, BATCH_SIZES)
        if not isinstance(self.features, tuple) or not all(isinstance(f, str) and f in FEATURES for f in self.features):
            p.append(f"features must be names from {', '.join(FEATURES)} (got {self.features!r})")
        elif list(self.features) != [f for f in FEATURES if f in self.features]:
            p.append("features must be listed once each, in the input layer's order")
        if not isinstance(self.hidden, tuple) or len(self.hidden) > MAX_LAYERS or not all(
                isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_NEURONS for n in self.hidden):
            p.append(f"hidden layers: at most {MAX_LAYERS}, each of 1 to {MAX_NEURONS} neurons (got {self.hidden!r})")
        word("activation", self.activation, ACTIVATION_LABELS)
        number("learning rate", self.lr, LEARNING_RATES)
        word("regularization", self.regularization, REGULARIZATION_LABELS)
        number("regularization rate", self.reg_rate, REG_RATES)
        word("optimizer", self.optimizer, OPTIMIZER_CHOICES)
        word("loss", self.loss, LOSS_LABELS)
        if self.problem == "regression" and self.loss != "mse":
            p.append("regression is trained with squared error (loss 'mse')")
        whole("seed", self.seed, range(SEEDS[0], SEEDS[1] + 1))
        return p

    @property
    def sizes(self) -> tuple[int, ...]:
        """Neurons per layer, input to output: (features, *hidden, 1)."""
        return (len(self.features), *self.hidden, 1)

    @property
    def points(self) -> int:
        return DATASETS[self.dataset].points

    @property
    def n_train(self) -> int:
        return self.points * self.train_pct // 100

    def structure(self) -> PlaygroundConfig:
        """This config with the live settings at their defaults: two configs with the same structure train the same
        network, which can go on training when only the live settings change."""
        return replace(self, **{f: getattr(PlaygroundConfig, f) for f in LIVE_FIELDS})

    def shape_label(self) -> str:
        """'2 → 4 → 2 → 1 Tanh'."""
        return " → ".join(map(str, self.sizes)) + f" {ACTIVATION_LABELS.get(self.activation, self.activation)}"

    def live_label(self) -> str:
        reg = "" if self.regularization == "none" or self.reg_rate == 0 else \
            f" · {REGULARIZATION_LABELS[self.regularization]} {self.reg_rate:g}"
        return f"lr {self.lr:g}{reg}"

    def label(self) -> str:
        """'Circle · 2 → 4 → 2 → 1 Tanh · SGD lr 0.03 · batch 10 · seed 0'."""
        return (f"{DATASETS[self.dataset].label} · {self.shape_label()} · {OPTIMIZER_LABELS[self.optimizer]} "
                f"{self.live_label()} · batch {batch_label(self.batch_size)} · seed {self.seed}")


def _choices(allowed) -> str:
    values = list(allowed)
    if len(values) > 12:
        return f"{values[0]:g} to {values[-1]:g}"
    return ", ".join(f"{v:g}" for v in values)


# ---------------------------------------------------------------- what the pictures show
EdgeView = Literal["weight", "gradient"]


@dataclass(frozen=True)
class View:
    """How the pictures are drawn (changes nothing that trains)."""

    show_test: bool = False
    discretize: bool = False
    edges: EdgeView = "weight"
