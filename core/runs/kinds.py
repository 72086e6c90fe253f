"""The kinds of stored runs: one table, one entry per kind (`KINDS`).

An entry says everything the app needs about a kind: its name in `run.json`, its config class (with `key()`,
`to_dict()`, a validating `from_dict()` and `label()`), the weights a run of it holds (names, shapes and dtypes on
the meta device, so the store checks files against them without allocating), how a worker trains it, and how the
Training runs page shows it and links it back to the page that made it. The store, the schema, the job pool and
the Training runs page all read this table: adding a kind is adding one entry.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from core.data.mnist import MNISTData
from core.lessons.playground.address import RUN_PARAM
from core.lessons.playground.address import address as playground_address
from core.lessons.playground.config import DATASETS
from core.lessons.playground.network import expected_state as playground_state
from core.lessons.playground.run import PlaygroundRun
from core.models.registry import architecture, build_model
from core.optimizers import OPTIMIZER_LABELS
from core.training.config import TrainConfig, address
from core.training.loop import fit
from core.training.record import OnProgress, Run, StoredConfig
from core.transfer.config import TRANSFER_STRATEGY_LABELS, FeatureConfig, TransferConfig
from core.transfer.config import address as transfer_address
from core.transfer.features import expected_features
from core.transfer.fit import train_stored
from core.transfer.model import expected_state
from core.transfer.own.config import OWN_STRATEGY_LABELS, OwnClassesConfig
from core.transfer.own.config import address as own_address
from core.transfer.own.fit import expected_state as own_expected_state
from core.transfer.own.fit import train_saved
from core.transfer.own.store import OwnStore, own_root


class TrainingContext(Protocol):
    """What a worker process keeps between jobs (core.runs.jobs.WorkerContext): a trainer reads these."""

    paths: Any  # core.config.Paths
    device: torch.device
    store: Any  # core.runs.store.RunStore
    mnist: MNISTData


Trainer = Callable[[TrainingContext, Any, OnProgress], Run]
Link = tuple[str, dict[str, str]]  # (page key of ui.path.PAGES, the page address's settings)


@dataclass(frozen=True)
class RunKind:
    name: str  # "kind" in run.json
    config: type  # the config class
    expected_state: Callable[[Any], dict[str, torch.Tensor]]  # config -> the weights a run holds (meta tensors)
    train: Trainer | None  # how a worker trains a config; None: made as a step of another kind's run
    family: Callable[[Any], str]  # the Training runs page's model filter: "Net2", "ResNet-18 transfer"
    model: Callable[[Any], str]  # "Net2 h128"
    settings: Callable[[Any], str]  # the table's short settings: "Adam 0.005 · seed 1"
    data: Callable[[Any], str]  # "sample", "CIFAR-10"
    link: Callable[[Any], Link | None]  # the page that trains it, with its settings in the address
    has_accuracy: bool = True  # False: the record holds no classifier (no test_acc / test_loss)
    listed: bool = True  # shown as a run on the Training runs page


def _train_mnist(ctx: TrainingContext, cfg: TrainConfig, on_progress: OnProgress) -> Run:
    return fit(cfg, ctx.mnist, ctx.device, on_progress)


def _train_transfer(ctx: TrainingContext, cfg: TransferConfig, on_progress: OnProgress) -> Run:
    """A ResNet-18 transfer run; its pretraining run and stored features come from (or go into) the store."""
    digits = ctx.mnist if ctx.mnist.source == "mnist-sample" else None  # the bundled sample, decoded once
    return train_stored(cfg, ctx.store, Path(ctx.paths.data), ctx.device, on_progress, digits)


def _train_own(ctx: TrainingContext, cfg: OwnClassesConfig, on_progress: OnProgress) -> Run:
    """A run on the learner's own classes, from its saved set and the ImageNet weights. Fine-tuning trains here (tens
    of seconds to minutes); the Transfer page trains a feature-extraction head in its own process (about a second
    on features it already holds: a worker's round trip and queue would cost more than the training)."""
    return train_saved(cfg, OwnStore(own_root(ctx.paths)), ctx.device, on_progress)


def _mnist_state(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    with torch.device("meta"):  # names, shapes and dtypes only: nothing is allocated
        return build_model(cfg.model).state_dict()


DATA_LABELS = {"mnist-sample": "sample", "mnist-full": "full", "digits": "digits", "cifar10": "CIFAR-10"}
SHORT_OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD+mom", "adam": "Adam"}  # the runs table is narrow
MNIST_PAGES = {"net2": "fully_connected", "cnn": "convolutions", "built": "layer_shapes"}


def _mnist_settings(c: TrainConfig) -> str:
    opt = SHORT_OPTIMIZERS.get(c.optimizer, OPTIMIZER_LABELS.get(c.optimizer, c.optimizer))
    return f"{opt} {c.lr:g}" + (f" · seed {c.seed}" if c.seed else "")


def _mnist_link(c: TrainConfig) -> Link | None:
    page = MNIST_PAGES.get(c.model.arch)
    return None if page is None else (page, address(c))


def _transfer_settings(c: TransferConfig) -> str:
    return c.label().split(" · ")[0] + (f" · seed {c.seed}" if c.seed else "")


def _playground_settings(r: PlaygroundRun) -> str:
    c = r.config
    opt = SHORT_OPTIMIZERS.get(c.optimizer, c.optimizer)
    return f"{opt} {c.live_label()}" + (" (changed)" if len(r.segments) > 1 else "") + (f" · seed {c.seed}" if c.seed
                                                                                        else "")


KINDS: dict[str, RunKind] = {k.name: k for k in (
    RunKind("mnist", TrainConfig, _mnist_state, _train_mnist,
            family=lambda c: architecture(c.model.arch).name, model=lambda c: architecture(c.model.arch).short_label(
                c.model), settings=_mnist_settings, data=lambda c: DATA_LABELS.get(c.data_source, c.data_source),
            link=_mnist_link),
    RunKind("transfer", TransferConfig, expected_state, _train_transfer,
            family=lambda c: "ResNet-18 transfer", model=lambda c: "ResNet-18", settings=_transfer_settings,
            data=lambda c: DATA_LABELS.get(c.source, c.source), link=lambda c: ("transfer", transfer_address(c))),
    # ResNet-18 on the learner's own photos (the Transfer page's "Your own classes"), scored by k-fold.
    RunKind("own-classes", OwnClassesConfig, own_expected_state, _train_own,
            family=lambda c: "ResNet-18 own classes", model=lambda c: "ResNet-18",
            settings=lambda c: f"{OWN_STRATEGY_LABELS[c.strategy]} · {c.folds}-fold"
                               + (f" · seed {c.seed}" if c.seed else ""),
            data=lambda c: f"own ({len(c.names())})", link=lambda c: ("transfer", own_address(c))),
    # A frozen backbone's (N, 512) features, computed once by the first feature-extraction run that needs them.
    RunKind("features", FeatureConfig, expected_features, None,
            family=lambda c: "ResNet-18 features", model=lambda c: "ResNet-18 backbone",
            settings=lambda c: TRANSFER_STRATEGY_LABELS["feature"], data=lambda c: DATA_LABELS.get(c.source, c.source),
            link=lambda c: None, has_accuracy=False, listed=False),
    # A network trained live on the Playground page (made there, not by a worker): its settings and the stretches
    # of epochs it trained. Regression records no accuracy; its link opens the page, which trains it again.
    RunKind("playground", PlaygroundRun, lambda r: playground_state(r.config), None,
            family=lambda r: "Playground", model=lambda r: r.config.shape_label(), settings=_playground_settings,
            data=lambda r: DATASETS[r.config.dataset].short + (f" {r.config.noise}%" if r.config.noise else ""),
            link=lambda r: ("playground", {**playground_address(r.config), RUN_PARAM: r.key()}), has_accuracy=False),
)}
DEFAULT_KIND = "mnist"  # records written before kinds existed carry no "kind"


def kind_of(config: StoredConfig) -> RunKind:
    """The table entry of a config, by its exact class."""
    for kind in KINDS.values():
        if type(config) is kind.config:
            return kind
    raise TypeError(f"no run kind for {type(config).__name__}; add an entry to core.runs.kinds.KINDS")


def trainers(kinds: Mapping[str, RunKind] | None = None) -> dict[type, Trainer]:
    """Config class -> trainer, for the job pool (kinds without a trainer are made by other runs)."""
    return {k.config: k.train for k in (kinds or KINDS).values() if k.train is not None}
