"""Saliency page: the models it can explain, its cached calls (models, decoded uploads, attributions) and the
controls whose state must follow the picture and the model (ui/saliency_inputs.py: where the picture comes from).

Cache keys are small frozen specs and digests, never tensors or modules (those are passed `_`-prefixed).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from core.attribution.methods import (
    METHODS,
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
from core.training.config import TrainConfig, default_config
from core.transfer.config import TransferConfig
from core.transfer.features import normalization
from core.transfer.model import model_of
from core.transfer.pretrained import hub_cache_file
from core.transfer.tasks import class_names, pretraining_config
from ui import downloads, resources, training
from ui import transfer as transfer_ui

K = "sal"  # widget-key prefix
IMAGENET = "imagenet-resnet18"  # the ImageNet model's choice key (and its asset's key in core.transfer.assets)
STORED_SIDE = 32  # the transfer runs' stored images: digits padded from 28 px, CIFAR-10 photos (core.transfer)
DEFAULT_METHODS = ("saliency", "grad_cam")  # a first visit draws two maps side by side (Grad-CAM where it can run)
PICKED = f"{K}_picked"  # {digest of (model, picture): class the learner chose to explain}
KEPT = f"{K}_kept"  # the learner's controls, restored when a run that stopped early dropped their widget state
METHODS_KEPT = f"{K}_methods_kept"
CONTROLS = ("source", "sample", "digit", "steps", "baseline", "samples", "noise", "relu", "sign", "clip", "alpha")


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

    weights = transfer_ui.imagenet()
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
    if transfer_ui.imagenet().ok:
        from torchvision.models import ResNet18_Weights

        cats = tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
        out[IMAGENET] = ModelChoice(IMAGENET, "ResNet-18 (ImageNet, 1,000 classes)", InputSpec(224, 3, False),
                                    IMAGENET_NORM, cats, version=str(transfer_ui.stamp(hub_cache_file())))
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
        return transfer_ui.imagenet().ok
    return cfg.weights != "digits-pretrained" or resources.store().has(pretraining_config())


@st.cache_resource(show_spinner="Loading the stored transfer run…", max_entries=4)
def _transfer_model(cfg: TransferConfig) -> torch.nn.Module:
    """The stored run's model (eval, frozen, shared): read from the store, never retrained; a feature-extraction
    run is its backbone (the stored digits pretraining, or ImageNet's) plus its stored head."""
    run = resources.store().load(cfg)
    start = transfer_ui.backbone(cfg) if cfg.strategy == "feature" else None
    if run is None or (cfg.strategy == "feature" and start is None):
        raise LookupError(cfg.key())  # raising keeps "missing" out of the cache
    return model_of(run, len(class_names(cfg)), start).to(resources.device())


def load_model(choice: ModelChoice) -> torch.nn.Module | None:
    if choice.key == IMAGENET:
        try:
            return _imagenet_resnet(transfer_ui.stamp(hub_cache_file()))
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


# ---------------------------------------------------------------- no empty first visit
def first_model_cfg() -> TrainConfig:
    """The digit model a first visit offers to train: the CNN with its default settings on the data in use."""
    return default_config("cnn", resources.mnist().source)


def offers(choices: dict[str, ModelChoice]) -> None:
    """What a learner with few models can do right here: train the default digit model (the job system, its time
    estimated, progress shown) when none is stored; download ImageNet's ResNet-18 when its weights are missing."""
    has_digit_model = any(k.startswith("mnist:") for k in choices)
    if not has_digit_model:
        box = st.container(border=True) if not choices else st.expander(
            "No digit model is trained yet: train the default CNN here", icon=":material/model_training:")
        with box:
            st.markdown("**Train a digit model here.** The default `CNNDemo` of the Convolutions page learns the "
                        "MNIST digits; once stored, every page can explain and reuse it.")
            training.training_panel(first_model_cfg(), f"{K}_first", remember=False)
    problem = transfer_ui.missing().get(IMAGENET)
    if problem is not None:
        with st.container(border=True):
            st.markdown("**A model that knows photos.** To explain your own photos, get ImageNet's ResNet-18:")
            downloads.offer(IMAGENET, "saliency", problem)


def choose_model(choices: dict[str, ModelChoice]) -> ModelChoice:
    """The model selectbox; a first visit opens on ImageNet's ResNet-18 when its weights are here."""
    key = f"{K}_model"
    if st.session_state.get(key) not in choices:
        st.session_state[key] = IMAGENET if IMAGENET in choices else next(iter(choices))
    return choices[st.selectbox("Model", list(choices), format_func=lambda k: choices[k].label, key=key)]


def use_model(key: str) -> None:
    """Callback of the 'explain it with ...' buttons: the model selectbox takes this model on the next run."""
    st.session_state[f"{K}_model"] = key


def _short(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:10]


def photo_model_buttons(photo_models: dict[str, ModelChoice], where=st) -> None:
    """A button per model that knows photos; or what to do when there is none."""
    for key, c in photo_models.items():
        where.button(f"Explain it with {c.label}", key=f"{K}_use_{_short(key)}", on_click=use_model, args=(key,),
                     icon=":material/photo_camera:")
    if not photo_models:
        where.caption("No model that knows photos is here yet: download ImageNet's ResNet-18 (above), or train the "
                      "CIFAR-10 route on the Transfer learning page.")


def not_a_digit(choice: ModelChoice, picture, prepared: Prepared | None, photo_models: dict[str, ModelChoice]) -> None:
    """A digit model given a photo (or a picture with no digit in it): the exact input it would get, why its answer
    would mean nothing, and the models that know photos. Nothing is explained."""
    c_in, c_say = st.columns([1, 2])
    if prepared is not None:
        c_in.image(prepared.view, caption=f"What this model would see: {seen_as(choice)}", width=220, clamp=True)
    if picture.photo:
        c_say.warning("**This model only knows handwritten digits 0-9.** It turns the photo into the "
                      f"{choice.side}×{choice.side} on the left"
                      + (", a blob that is no digit," if prepared is not None else "")
                      + " and would still have to answer with a digit: its answer about a photo, and any map of "
                      "that answer, would mean nothing. Explain photos with a model that knows photos:",
                      icon=":material/pin:")
    else:
        c_say.error("No digit stands out from the paper in this picture. For a digit model, photograph one dark "
                    "digit on white paper, filling most of the frame; for any other photo, use a model that knows "
                    "photos:", icon=":material/error:")
    photo_model_buttons(photo_models, c_say)


def digits_only_caution(choice: ModelChoice, photo_models: dict[str, ModelChoice]) -> None:
    """Under an upload explained by a digit model: what its answer is worth if the picture is not a digit."""
    st.caption(":material/pin: This model only knows handwritten digits 0-9: if your picture is one dark digit on "
               "light paper, the answer below is about that digit; if it is anything else (a cat, a cup), the model "
               "still answers with a digit, and that answer means nothing.")
    photo_model_buttons(photo_models)


def layer_key(choice: ModelChoice) -> str:
    """The Grad-CAM layer selectbox's key: one per model (each has its own layers)."""
    return f"{K}_layer_{_short(choice.key)}"


# ---------------------------------------------------------------- controls that follow the picture and the model
def restore_controls() -> None:
    """Put back the controls a run that stopped early (no picture yet, no digit found) dropped: Streamlit forgets a
    widget's state when a run ends before drawing it, which reset the methods and settings after an upload."""
    for k, v in st.session_state.get(KEPT, {}).items():
        if k not in st.session_state:
            st.session_state[k] = v


def keep_controls() -> None:
    """Remember the controls drawn in this run (call before any stop and at the end): the fixed ones and the
    per-model Grad-CAM layer and per-size occlusion window."""
    kept = st.session_state.setdefault(KEPT, {})
    names = [f"{K}_{n}" for n in CONTROLS] + [k for k in st.session_state
                                             if isinstance(k, str) and k.startswith((f"{K}_layer_", f"{K}_win_"))]
    for k in names:
        if k in st.session_state:
            kept[k] = st.session_state[k]


def class_to_explain(choice: ModelChoice, prepared: Prepared, pred: Prediction) -> int:
    """The class selectbox, one widget per (model, picture): a new picture, source or model starts on the new
    prediction, and a class the learner picked for this same picture comes back when the picture does. (One keyed
    widget kept the previous picture's class and the panels lagged a step behind the selector.)"""
    picked: dict[str, int] = st.session_state.setdefault(PICKED, {})
    key = f"{K}_target_{prepared.digest[:16]}"

    def remember() -> None:
        value = st.session_state[key]
        picked.pop(prepared.digest, None)
        if value != pred.predicted:
            picked[prepared.digest] = value
            while len(picked) > 64:  # bounded: the oldest picks go first
                picked.pop(next(iter(picked)))

    classes = list(range(len(choice.classes)))
    start = picked.get(prepared.digest, pred.predicted)
    return st.selectbox("Explain the class", classes, index=start if start in classes else pred.predicted, key=key,
                        on_change=remember, format_func=lambda c: f"{choice.classes[c]} ({100 * pred.probs[c]:.1f}%)"
                        + (" · predicted" if c == pred.predicted else ""))


def chosen_methods(usable: list[str]) -> list[str]:
    """The methods multiselect: what the learner chose stays chosen across pictures and models (a method this model
    cannot run is left out while it is chosen, and comes back with a model that can)."""
    key = f"{K}_methods"
    kept = list(st.session_state.get(METHODS_KEPT, DEFAULT_METHODS))
    shown = [m for m in kept if m in usable]
    if kept and not shown:  # none of them runs on this model: its first method, until the learner chooses
        shown = usable[:1]
    if st.session_state.get(key) != shown:
        st.session_state[key] = shown

    def remember() -> None:
        st.session_state[METHODS_KEPT] = list(st.session_state[key]) + [m for m in kept if m not in usable]

    return st.multiselect("Methods", usable, key=key, on_change=remember, format_func=lambda m: METHODS[m].label)


@st.cache_data(show_spinner=False, max_entries=16)
def decode(data: bytes) -> DecodedImage:
    return decode_image(data)  # UploadError is raised, not cached


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
