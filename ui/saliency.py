"""Saliency page: the models it can explain and its cached calls (models, decoded uploads, attributions).
ui/saliency_inputs.py: where the picture comes from; ui/saliency_controls.py: what a first visit is offered, and the
controls whose state must follow the picture and the model.

Cache keys are small frozen specs and digests, never tensors or modules (those are passed `_`-prefixed).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from core.attribution.methods import (
    Attribution,
    AttributionSpec,
    LayerChoices,
    Prediction,
    attribute,
    conv_layers,
    predict,
)
from core.attribution.twins import Twins, twins
from core.data.model_inputs import InputSpec, model_input
from core.data.normalization import IMAGENET_NORM, MNIST_NORM, Norm
from core.data.uploads import DecodedImage, decode_image
from core.models.registry import ARCH_LABELS
from core.training.config import TrainConfig
from core.transfer.config import TransferConfig
from core.transfer.features import normalization
from core.transfer.model import model_of
from core.transfer.pretrained import hub_cache_file
from core.transfer.tasks import class_names, pretraining_config
from ui import own_models, resources, transfer_data, transfer_runs

K = "sal"  # widget-key prefix
IMAGENET = "imagenet-resnet18"  # the ImageNet model's choice key (and its asset's key in core.transfer.assets)
STORED_SIDE = 32  # the transfer runs' stored images: digits padded from 28 px, CIFAR-10 photos (core.transfer)


@dataclass(frozen=True)
class ModelChoice:
    key: str  # "mnist:<run config key>", "transfer:<run config key>" or IMAGENET
    label: str
    inputs: InputSpec  # how the model sees a picture: side, channels, digit or photo, its stored image size
    norm: Norm
    classes: tuple[str, ...]
    config: TrainConfig | TransferConfig | None = None  # a stored run's config: its test set and confusion matrix
    version: str = ""  # what else the model's weights depend on (the ImageNet file's stamp): part of every cache key

    @property
    def side(self) -> int:
        return self.inputs.side

    @property
    def channels(self) -> int:
        return self.inputs.channels

    @property
    def digits(self) -> bool:
        return self.inputs.digits


@dataclass(frozen=True)
class Prepared:
    digest: str  # of what the model sees: with the model key, it keys every cached result
    view: np.ndarray  # (H, W) or (H, W, 3) uint8: the model's input, un-normalized
    pixels: torch.Tensor  # (1, C, H, W) in [0, 1]


@st.cache_resource(show_spinner="Loading ResNet-18…", max_entries=1)
def _imagenet_resnet(weights_stamp: tuple) -> torch.nn.Module:
    """torchvision's ResNet-18 with the ImageNet weights the Transfer page uses (checked key by key on load), keyed
    by the weights file's stamp: new weights make a new model."""
    from torchvision.models import resnet18

    weights = transfer_data.imagenet()
    if not weights.ok:
        raise LookupError(weights.reason)  # raising keeps "missing" out of the cache
    model = resnet18(weights=None)
    model.load_state_dict(weights.state)
    return model.eval().requires_grad_(False).to(resources.device())


def model_choices() -> tuple[dict[str, ModelChoice], list[str]]:
    """The models that can be explained now (the stored MNIST runs, the stored transfer runs, ImageNet's ResNet-18),
    and notes about stored runs that cannot be."""
    out: dict[str, ModelChoice] = {}
    for s in resources.stored_runs():
        cfg = s.config
        key = "mnist:" + cfg.key()
        out.setdefault(key, ModelChoice(key, f"{ARCH_LABELS[cfg.model.arch]} · {cfg.label()}",
                                        InputSpec(28, 1, True), MNIST_NORM, tuple(str(i) for i in range(10)), cfg))
    transfer, notes = transfer_choices()
    out.update(transfer)
    out.update({k: ModelChoice(k, **fields) for k, fields in own_models.saliency_entries().items()})
    if transfer_data.imagenet().ok:
        from torchvision.models import ResNet18_Weights

        cats = tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
        weights_file = str(transfer_data.stamp(hub_cache_file()))
        out[IMAGENET] = ModelChoice(IMAGENET, "ResNet-18 (ImageNet, 1,000 classes)", InputSpec(224, 3, False),
                                    IMAGENET_NORM, cats, None, weights_file)
    return out, notes


def transfer_choices() -> tuple[dict[str, ModelChoice], list[str]]:
    """The stored transfer-learning runs (the Transfer learning page's table), each with the preprocessing it
    trained on: its 32 px stored images (digits padded from 28, gray on 3 channels; or CIFAR-10 photos) resized on the
    device to its resolution and normalized its way. A feature-extraction run stores only its head: it is
    listed when the backbone it was trained on is here too."""
    out: dict[str, ModelChoice] = {}
    missing = []
    for s in resources.store().summaries("transfer"):
        cfg = s.config
        if s.status != "ok" or not isinstance(cfg, TransferConfig) or cfg.task != "target":
            continue  # the digits pretraining is the backbone the runs start from, not a run of the page's table
        if cfg.strategy == "feature" and not _backbone_available(cfg):
            missing.append(cfg.label())
            continue
        key = "transfer:" + cfg.key()
        out.setdefault(key, ModelChoice(key, transfer_label(cfg),
                                        InputSpec(cfg.resolution, 3, cfg.source == "digits", STORED_SIDE),
                                        normalization(cfg), class_names(cfg), cfg))
    if not missing:
        return out, []
    return out, [f"Not listed: {'; '.join(missing)}. These feature-extraction runs store only their head, and the "
                 "backbone they were trained on (the digits pretraining or the ImageNet weights) is gone."]


def transfer_label(cfg: TransferConfig) -> str:
    """The Transfer learning page's own words for the run (TransferConfig.label), after the model's name."""
    return f"ResNet-18 transfer · {cfg.label()}"


def _backbone_available(cfg: TransferConfig) -> bool:
    if cfg.weights == "imagenet":
        return transfer_data.imagenet().ok
    return cfg.weights != "digits-pretrained" or resources.store().has(pretraining_config())


@st.cache_resource(show_spinner="Loading the stored transfer run…", max_entries=4)
def _transfer_model(cfg: TransferConfig) -> torch.nn.Module:
    """The stored run's model (eval, frozen, shared): read from the store, never retrained; a feature-extraction
    run is its backbone (the stored digits pretraining, or ImageNet's) plus its stored head."""
    run = resources.store().load(cfg)
    start = transfer_runs.backbone(cfg) if cfg.strategy == "feature" else None
    if run is None or (cfg.strategy == "feature" and start is None):
        raise LookupError(cfg.key())  # raising keeps "missing" out of the cache
    return model_of(run, len(class_names(cfg)), start).to(resources.device())


def load_model(choice: ModelChoice) -> torch.nn.Module | None:
    if choice.key.startswith(own_models.PREFIX):
        return own_models.saliency_model(choice.key)
    if choice.key == IMAGENET:
        try:
            return _imagenet_resnet(transfer_data.stamp(hub_cache_file()))
        except LookupError:
            return None
    if isinstance(choice.config, TransferConfig):
        try:
            return _transfer_model(choice.config)
        except LookupError:
            return None
    if isinstance(choice.config, TrainConfig):
        stored = resources.stored_run(choice.config)
        return None if stored is None else stored[1]
    return None


@st.cache_data(show_spinner=False, max_entries=16)
def decode(data: bytes) -> DecodedImage:
    return decode_image(data)  # UploadError is raised, not cached


def short_key(key: str) -> str:
    """A model key's short digest, for widget keys that belong to one model."""
    return hashlib.sha1(key.encode()).hexdigest()[:10]


def prepare(choice: ModelChoice, pixels: np.ndarray) -> Prepared | None:
    """What the model sees; None when a digit model finds no digit in the picture."""
    seen = model_input(pixels, choice.inputs)
    if seen is None:
        return None
    digest = hashlib.sha1((choice.key + choice.version).encode() + seen.stored.tobytes()
                          + str(seen.stored.shape).encode()).hexdigest()
    return Prepared(digest, seen.view, seen.pixels)


def seen_as(choice: ModelChoice) -> str:
    """How the picture was turned into the model's input, for the caption under it."""
    spec = choice.inputs
    side = f"{spec.side}×{spec.side}"
    resized = f", resized to {spec.side} px as in training" if spec.side != spec.stored_side else ""
    if not spec.digits:
        framed = f" to {spec.stored} px like a CIFAR-10 image" if spec.stored else ""
        return f"{side} (resized and centre-cropped{framed}{resized})"
    if not spec.stored:
        return f"{side} MNIST-style (inverted, cropped, centred)"
    return f"{side} (MNIST-style digit padded to {spec.stored} px{resized}; gray on 3 channels)"


@st.cache_data(show_spinner=False, max_entries=8)
def layers(model_key: str, input_shape: tuple[int, ...], _model: torch.nn.Module) -> LayerChoices:
    return conv_layers(_model, input_shape)


@st.cache_data(show_spinner=False, max_entries=64)
def prediction(model_key: str, digest: str, _model: torch.nn.Module, _p: Prepared,
               norm: Norm) -> Prediction:
    return predict(_model, _p.pixels, norm)


@st.cache_resource(show_spinner=False, max_entries=8)
def _twins(model_key: str, model_id: int, _model: torch.nn.Module) -> Twins:
    """One private twin pair + lock per cached model (keyed by its id too: a reloaded model gets new twins)."""
    return twins(_model)


@st.cache_data(show_spinner="Computing the attribution…", max_entries=64)
def explain(model_key: str, digest: str, spec: AttributionSpec, target: int, _model: torch.nn.Module,
            _p: Prepared, norm: Norm) -> Attribution:
    """Cached by (model, image, method settings, class) only: the view (sign, clipping, alpha) is not in the key,
    so changing it redraws the figure from this result without attributing again."""
    return attribute(_model, _p.pixels, spec, norm, target, reuse=_twins(model_key, id(_model), _model))
