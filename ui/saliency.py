"""Saliency page: its cached calls (models, decoded uploads, attributions) and the image-source widget.

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
from core.data.model_inputs import InputSpec, model_input, stored_pictures
from core.data.normalization import IMAGENET_NORM, MNIST_NORM, Norm
from core.data.samples import available_samples, load_sample_photo
from core.data.uploads import DecodedImage, UploadError, decode_image
from core.figures.images import mosaic
from core.models.inspection import confusion_matrix
from core.models.registry import ARCH_LABELS
from core.training.config import TrainConfig
from core.transfer.config import TransferConfig
from core.transfer.features import normalization
from core.transfer.model import model_of
from core.transfer.model import predict as transfer_predict
from core.transfer.tasks import class_names, pretraining_config
from ui import own_models, resources
from ui import transfer as transfer_ui
from ui.confusion_cells import pick_cell
from ui.session import drawn_digit

K = "sal"  # widget-key prefix

STORED_SIDE = 32  # the transfer runs' stored images: digits padded from 28 px, CIFAR-10 photos (core.transfer.tasks)


@dataclass(frozen=True)
class ModelChoice:
    key: str  # "mnist:<run config key>", "transfer:<run config key>" or "imagenet-resnet18"
    label: str
    inputs: InputSpec  # how the model sees a picture: side, channels, digit or photo, its stored image size
    norm: Norm
    classes: tuple[str, ...]
    config: TrainConfig | TransferConfig | None = None  # a stored run's config: its test set and confusion matrix

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
def _imagenet_resnet() -> torch.nn.Module:
    """torchvision's ResNet-18 with the ImageNet weights the Transfer page uses (checked key by key on load)."""
    from torchvision.models import resnet18

    weights = transfer_ui.imagenet()
    if not weights.ok:
        raise LookupError(weights.reason)
    model = resnet18(weights=None)
    model.load_state_dict(weights.state)
    return model.eval().requires_grad_(False).to(resources.device())


def model_choices() -> tuple[dict[str, ModelChoice], list[str]]:
    """The models that can be explained now, and notes about the ones that cannot."""
    out: dict[str, ModelChoice] = {}
    for s in resources.stored_runs():
        cfg = s.config
        key = "mnist:" + cfg.key()
        out.setdefault(key, ModelChoice(key, f"{ARCH_LABELS[cfg.model.arch]} · {cfg.label()}",
                                        InputSpec(28, 1, True), MNIST_NORM, tuple(str(i) for i in range(10)), cfg))
    notes = [] if out else ["No MNIST model is trained yet: train one on the Fully connected or Convolutions page."]
    transfer, transfer_notes = transfer_choices()
    out.update(transfer)
    out.update({k: ModelChoice(k, **fields) for k, fields in own_models.saliency_entries().items()})
    notes += transfer_notes
    weights = transfer_ui.imagenet()
    if weights.ok:
        from torchvision.models import ResNet18_Weights

        cats = tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
        out["imagenet-resnet18"] = ModelChoice("imagenet-resnet18", "ResNet-18 (ImageNet, 1,000 classes)",
                                               InputSpec(224, 3, False), IMAGENET_NORM, cats)
    else:
        notes.append(f"ImageNet ResNet-18 is not available: {weights.reason} {weights.how_to}")
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
    if choice.key.startswith(own_models.PREFIX):
        return own_models.saliency_model(choice.key)
    if choice.key == "imagenet-resnet18":
        return _imagenet_resnet()
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


def prepare(choice: ModelChoice, pixels: np.ndarray) -> Prepared | None:
    """What the model sees; None when a digit model finds no digit in the picture."""
    seen = model_input(pixels, choice.inputs)
    if seen is None:
        return None
    digest = hashlib.sha1(choice.key.encode() + seen.stored.tobytes() + str(seen.stored.shape).encode()).hexdigest()
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


MISCLASSIFIED = "Misclassified"  # the image source's label starts with this: "Misclassified digit" / "... image"
CELL_TILES = 16  # images of a confusion-matrix cell shown (and explained) at once


def misclassified_source(choice: ModelChoice) -> str:
    return f"{MISCLASSIFIED} {'digit' if choice.digits else 'image'}"


@dataclass(frozen=True)
class ScoredSplit:
    """A stored run's test split and its predictions, as the Saliency page explains them."""

    images: np.ndarray  # (N, H, W) or (N, H, W, 3) uint8: pictures prepare() turns into exactly the model's input
    labels: np.ndarray  # (N,) true classes
    preds: np.ndarray  # (N,) the stored model's predicted classes
    noun: str  # "digits" or "images"

    def confusion(self, classes: int) -> np.ndarray:
        return confusion_matrix(torch.from_numpy(self.labels), torch.from_numpy(self.preds), classes).numpy()


@dataclass(frozen=True)
class Cell:
    """The test images of one off-diagonal confusion-matrix cell of a stored model."""

    true: int
    predicted: int
    indices: np.ndarray  # (n,) test-set indices, at most CELL_TILES
    count: int  # all images in the cell


@st.cache_data(show_spinner="Scoring the test images with this run…", max_entries=8)
def _transfer_predictions(cfg: TransferConfig) -> np.ndarray:
    """(N_test,) classes the stored transfer run predicts on its task's test images (as its page evaluates it)."""
    return transfer_predict(_transfer_model(cfg), transfer_ui.task_of(cfg).test.images, cfg).numpy()


def scored_split(choice: ModelChoice) -> ScoredSplit:
    """The test split the chosen stored run is scored on, with its predictions (cached per run)."""
    cfg = choice.config
    if isinstance(cfg, TransferConfig):
        test = transfer_ui.task_of(cfg).test
        return ScoredSplit(stored_pictures(test.images, choice.digits), test.labels.numpy(),
                       _transfer_predictions(cfg), "digits" if choice.digits else "images")
    test = resources.mnist().test
    return ScoredSplit(test.images.numpy(), test.labels.numpy(), resources.test_probabilities(cfg).argmax(1), "digits")


def chosen_cell(key: str, choice: ModelChoice) -> Cell | None:
    """The misclassified test images the learner picked in the confusion-cell picker (a click or the selectbox)."""
    ts = scored_split(choice)
    cell = pick_cell(key, ts.confusion(len(choice.classes)), choice.classes, noun=ts.noun)
    return None if cell is None else _cell(ts, *cell)


def _cell(ts: ScoredSplit, true: int, predicted: int) -> Cell:
    idx = np.nonzero((ts.labels == true) & (ts.preds == predicted))[0]
    return Cell(true, predicted, idx[:CELL_TILES], len(idx))


def explain_cell(key: str, choice: ModelChoice, model: torch.nn.Module, spec: AttributionSpec, label: str) -> None:
    """When the picture is a misclassified one: `spec`'s map of the wrong class for every image of its cell."""
    cell_now = st.session_state.get(f"{key}_cell")
    if st.session_state.get(f"{key}_source") != misclassified_source(choice) or cell_now is None \
            or choice.config is None:
        return
    ts = scored_split(choice)
    cell = _cell(ts, *cell_now)
    maps = []
    for img in ts.images[cell.indices]:
        prepared = prepare(choice, img)
        maps.append(explain(choice.key, prepared.digest, spec, cell.predicted, model, prepared, choice.norm).map2d())
    cell_mosaic(choice, cell, ts.noun, np.empty(0), np.stack(maps), label)


def cell_mosaic(choice: ModelChoice, cell: Cell, noun: str, images: np.ndarray, maps: np.ndarray | None = None,
                method: str = "") -> None:
    """The cell's images (ink; photos in gray), or their attribution maps (diverging, one shared scale)."""
    titles = [f"#{i}" for i in cell.indices]
    more = f" (first {len(cell.indices)} of {cell.count})" if cell.count > len(cell.indices) else ""
    true, predicted = choice.classes[cell.true], choice.classes[cell.predicted]
    if maps is None:
        gray = images.mean(-1) if images.ndim == 4 else images  # (n, H, W)
        st.plotly_chart(mosaic(gray, 8, titles=titles, colours="ink",
                               title=f"{cell.count} test {noun} that are {true} but were predicted "
                                     f"{predicted}{more}" + (", in gray" if images.ndim == 4 else "")),
                        key=f"{K}_cell_images")
    else:
        st.plotly_chart(mosaic(maps, 8, titles=titles, colorbar_title="attribution",
                               title=f"{method} of class {predicted} (the wrong answer) for each{more}"),
                        key=f"{K}_cell_maps")


def has_test_split(choice: ModelChoice | None) -> bool:
    """Whether the chosen model is a stored run whose test images are on this machine (CIFAR-10 may be gone)."""
    if choice is None or choice.config is None:
        return False
    if isinstance(choice.config, TransferConfig) and choice.config.source == "cifar10":
        return transfer_ui._cifar()[0] is not None  # the Transfer page's cached CIFAR-10 (None when absent)
    return True


def image_source(key: str, choice: ModelChoice | None = None) -> np.ndarray | None:
    """Upload, sample photo, MNIST test digit, a misclassified test image (stored runs) or the Draw page's digit
    -> (H, W[, 3]) uint8, or None."""
    sources = (["Upload", "Sample photo", "MNIST test digit"]
               + ([misclassified_source(choice)] if has_test_split(choice) else [])
               + (["Drawn digit"] if drawn_digit() is not None else []) + own_models.photo_sources())
    if st.session_state.get(f"{key}_source", sources[0]) not in sources:  # e.g. misclassified, then ResNet chosen
        st.session_state.pop(f"{key}_source")
    source = st.radio("Image", sources, horizontal=True, key=f"{key}_source")
    if source in own_models.photo_sources():
        return own_models.saliency_photo()
    if source == "Upload":
        f = st.file_uploader("PNG, JPEG, WebP, BMP or GIF", type=["png", "jpg", "jpeg", "webp", "bmp", "gif"],
                             key=f"{key}_upload")
        last = f"{key}_last_upload"
        if f is not None:
            try:
                img = decode(f.getvalue())
                st.session_state[last] = f.getvalue()
                for note in img.notes:
                    st.caption(f"The upload was {note}.")
                return img.pixels
            except UploadError as e:
                st.error(str(e), icon=":material/error:")
                if last in st.session_state:
                    st.caption("Showing your previous image.")
                    return decode(st.session_state[last]).pixels
                return None
        return None
    if source == "Sample photo":
        samples = available_samples()
        if not samples:
            st.info("scikit-image is not installed, so there are no sample photos.")
            return None
        k = st.selectbox("Sample", list(samples), format_func=lambda s: samples[s].label, key=f"{key}_sample")
        return load_sample_photo(k).pixels
    if source == "MNIST test digit":
        data = resources.mnist()
        i = st.number_input("Test digit #", 0, len(data.test) - 1, 0, key=f"{key}_digit")
        label = str(int(data.test.labels[i]))
        unknown = choice is not None and label not in choice.classes
        st.caption(f"True label: **{label}**" + (f" — not a class this model knows: it can only answer "
                                                  f"{', '.join(choice.classes)}" if unknown else ""))
        return data.test.images[int(i)].numpy()
    if source.startswith(MISCLASSIFIED):
        cell = chosen_cell(key, choice)
        if cell is None:
            return None
        ts = scored_split(choice)
        images = ts.images[cell.indices]
        cell_mosaic(choice, cell, ts.noun, images.astype(np.float32) / 255)
        if st.session_state.get(f"{key}_cell_digit") not in cell.indices:  # an image of the previous cell
            st.session_state.pop(f"{key}_cell_digit", None)
        i = st.selectbox(f"Explain {ts.noun[:-1]}", cell.indices.tolist(), key=f"{key}_cell_digit",
                         format_func=lambda i: f"test #{i}")
        return images[cell.indices.tolist().index(i)]
    return np.round(drawn_digit() * 255).astype(np.uint8)
