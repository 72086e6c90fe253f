"""Saliency page: its cached calls (models, decoded uploads, attributions) and the image-source widget.

Cache keys are small frozen specs and digests, never tensors or modules (those are passed `_`-prefixed).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from core.attribution import (
    Attribution,
    AttributionSpec,
    LayerChoices,
    Prediction,
    Twins,
    attribute,
    conv_layers,
    predict,
    twins,
)
from core.config import ARCH_LABELS, TrainConfig
from core.data import IMAGENET_NORM, MNIST_NORM, Norm
from core.digit_photos import preprocess_photo
from core.figures.images import mosaic
from core.figures.training import confusion
from core.inspection import confusion_matrix
from core.model_inputs import model_view, to_pixels
from core.samples import available_samples, load_sample_photo
from core.uploads import DecodedImage, UploadError, decode_image
from ui import resources
from ui.plotly_select import clicked_cell
from ui.predictions import test_probabilities
from ui.session import drawn_digit


@dataclass(frozen=True)
class ModelChoice:
    key: str  # "mnist:<run config key>" or "imagenet-resnet18"
    label: str
    side: int  # input side in pixels
    channels: int
    norm: Norm
    classes: tuple[str, ...]
    digits: bool  # MNIST-style preprocessing (invert, crop, centre)
    config: TrainConfig | None = None  # the stored run's config (MNIST models): its confusion matrix


@dataclass(frozen=True)
class Prepared:
    digest: str  # of what the model sees: with the model key, it keys every cached result
    view: np.ndarray  # (H, W) or (H, W, 3) uint8: the model's input, un-normalized
    pixels: torch.Tensor  # (1, C, H, W) in [0, 1]


def imagenet_weights() -> Path:
    from torchvision.models import ResNet18_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(ResNet18_Weights.IMAGENET1K_V1.url).name


@st.cache_resource(show_spinner="Loading ResNet-18…", max_entries=1)
def _imagenet_resnet() -> torch.nn.Module:
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    model.load_state_dict(torch.load(imagenet_weights(), map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False).to(resources.device())


def model_choices() -> tuple[dict[str, ModelChoice], list[str]]:
    """The models that can be explained now, and notes about the ones that cannot."""
    data = resources.mnist()
    out: dict[str, ModelChoice] = {}
    for s in resources.store().summaries():
        cfg = s.config
        if cfg.data_source == data.source and cfg.model.arch in ARCH_LABELS:
            key = "mnist:" + cfg.key()
            out.setdefault(key, ModelChoice(key, f"{ARCH_LABELS[cfg.model.arch]} · {cfg.label()}", 28, 1, MNIST_NORM,
                                            tuple(str(i) for i in range(10)), True, cfg))
    notes = [] if out else ["No MNIST model is trained yet: train one on the Fully connected or Convolutions page."]
    if imagenet_weights().is_file():
        from torchvision.models import ResNet18_Weights

        cats = tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
        out["imagenet-resnet18"] = ModelChoice("imagenet-resnet18", "ResNet-18 (ImageNet, 1,000 classes)", 224, 3,
                                               IMAGENET_NORM, cats, False)
    else:
        notes.append(f"ImageNet ResNet-18 is not available: its weights are not at `{imagenet_weights()}` (this app "
                     "does not download them). Put `resnet18-f37072fd.pth` from download.pytorch.org there to use it.")
    return out, notes


def load_model(choice: ModelChoice) -> torch.nn.Module | None:
    if choice.key == "imagenet-resnet18":
        return _imagenet_resnet()
    for s in resources.store().summaries():
        if "mnist:" + s.config.key() == choice.key:
            stored = resources.stored_run(s.config)
            return None if stored is None else stored[1]
    return None


@st.cache_data(show_spinner=False, max_entries=16)
def decode(data: bytes) -> DecodedImage:
    return decode_image(data)  # UploadError is raised, not cached


def prepare(choice: ModelChoice, pixels: np.ndarray) -> Prepared | None:
    """What the model sees; None when a digit model finds no digit in the picture."""
    if choice.digits:
        if pixels.shape[:2] == (28, 28) and pixels.ndim == 2:  # already an MNIST digit (test set, drawing)
            view = pixels
        else:
            steps = preprocess_photo(pixels)
            if steps is None:
                return None
            view = np.round(steps.centred * 255).astype(np.uint8)
    else:
        view = model_view(pixels, choice.side)
    digest = hashlib.sha1(choice.key.encode() + view.tobytes() + str(view.shape).encode()).hexdigest()
    return Prepared(digest, view, to_pixels(view, choice.channels))


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


MISCLASSIFIED = "Misclassified digit"
CELL_TILES = 16  # images of a confusion-matrix cell shown (and explained) at once


@dataclass(frozen=True)
class Cell:
    """The test digits of one off-diagonal confusion-matrix cell of a stored MNIST model."""

    true: int
    predicted: int
    indices: np.ndarray  # (n,) test-set indices, at most CELL_TILES
    count: int  # all digits in the cell


def _mistakes(cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, predictions, confusion matrix (10, 10)) of the stored run on the active test split."""
    labels = resources.mnist().test.labels.numpy()
    preds = test_probabilities(cfg).argmax(1)
    return labels, preds, confusion_matrix(torch.from_numpy(labels), torch.from_numpy(preds)).numpy()


def _cell_clicked(key: str, cells: dict[tuple[int, int], int]) -> None:
    """A click on an off-diagonal, non-empty confusion-matrix cell chooses it in the selectbox."""
    cell = clicked_cell(f"{key}_cm")
    if cell in cells:
        st.session_state[f"{key}_cell"] = cell


def chosen_cell(key: str, choice: ModelChoice) -> Cell | None:
    """The misclassified digits the learner picked: a click on the model's confusion matrix or the selectbox."""
    labels, preds, cm = _mistakes(choice.config)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")
    cells = {(int(i // 10), int(i % 10)): int(off.flat[i]) for i in order if off.flat[i] > 0}
    if not cells:
        st.success("This model classifies every test digit correctly: there are no mistakes to explain.")
        return None
    if st.session_state.get(f"{key}_cell") not in cells:  # a stale cell of another model
        st.session_state.pop(f"{key}_cell", None)
    left, right = st.columns([3, 2])
    left.plotly_chart(confusion(cm, "Confusion matrix of this model (test set): click a cell", clickable=True),
                      key=f"{key}_cm", on_select=lambda: _cell_clicked(key, cells), selection_mode="points")
    wrong = int(off.sum())
    right.markdown(f"**{wrong:,}** of {len(labels):,} test digits are misclassified. Rows: the true digit; "
                   "columns: what the model said. **Click a cell**, or pick it here:")
    t, p = right.selectbox("Mistake (true → predicted)", list(cells), key=f"{key}_cell",
                           format_func=lambda c: f"true {c[0]} → predicted {c[1]} ({cells[c]} digits)")
    return _cell(labels, preds, t, p)


def _cell(labels: np.ndarray, preds: np.ndarray, true: int, predicted: int) -> Cell:
    idx = np.nonzero((labels == true) & (preds == predicted))[0]
    return Cell(true, predicted, idx[:CELL_TILES], len(idx))


def _cell_images(cell: Cell) -> np.ndarray:
    return resources.mnist().test.images[torch.from_numpy(cell.indices)].numpy()  # (n, 28, 28) uint8


def explain_cell(key: str, choice: ModelChoice, model: torch.nn.Module, spec: AttributionSpec, label: str) -> None:
    """When the picture is a misclassified digit: `spec`'s map of the wrong class for every digit of its cell."""
    cell_now = st.session_state.get(f"{key}_cell")
    if st.session_state.get(f"{key}_source") != MISCLASSIFIED or cell_now is None or choice.config is None:
        return
    labels, preds, _ = _mistakes(choice.config)
    cell = _cell(labels, preds, *cell_now)
    maps = []
    for img in _cell_images(cell):
        prepared = prepare(choice, img)
        maps.append(explain(choice.key, prepared.digest, spec, cell.predicted, model, prepared, choice.norm).map2d())
    cell_mosaic(cell, np.empty(0), np.stack(maps), label)


def cell_mosaic(cell: Cell, images: np.ndarray, maps: np.ndarray | None = None, method: str = "") -> None:
    """The cell's digits (ink), or their attribution maps (diverging, one shared scale), one tile each."""
    titles = [f"#{i}" for i in cell.indices]
    more = f" (first {len(cell.indices)} of {cell.count})" if cell.count > len(cell.indices) else ""
    if maps is None:
        st.plotly_chart(mosaic(images, 8, titles=titles, colours="ink",
                               title=f"{cell.count} test digits that are {cell.true} but were predicted "
                                     f"{cell.predicted}{more}"), key="sal_cell_images")
    else:
        st.plotly_chart(mosaic(maps, 8, titles=titles, colorbar_title="attribution",
                               title=f"{method} of class {cell.predicted} (the wrong answer) for each{more}"),
                        key="sal_cell_maps")


def image_source(key: str, choice: ModelChoice | None = None) -> np.ndarray | None:
    """Upload, sample photo, MNIST test digit, a misclassified test digit (MNIST models) or the Draw page's digit
    -> (H, W[, 3]) uint8, or None."""
    sources = (["Upload", "Sample photo", "MNIST test digit"]
               + ([MISCLASSIFIED] if choice is not None and choice.config is not None else [])
               + (["Drawn digit"] if drawn_digit() is not None else []))
    if st.session_state.get(f"{key}_source", sources[0]) not in sources:  # e.g. misclassified, then ResNet chosen
        st.session_state.pop(f"{key}_source")
    source = st.radio("Image", sources, horizontal=True, key=f"{key}_source")
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
        st.caption(f"True label: **{int(data.test.labels[i])}**")
        return data.test.images[int(i)].numpy()
    if source == MISCLASSIFIED:
        cell = chosen_cell(key, choice)
        if cell is None:
            return None
        images = _cell_images(cell)
        cell_mosaic(cell, images.astype(np.float32) / 255)
        if st.session_state.get(f"{key}_cell_digit") not in cell.indices:  # a digit of the previous cell
            st.session_state.pop(f"{key}_cell_digit", None)
        i = st.selectbox("Explain digit", cell.indices.tolist(), key=f"{key}_cell_digit",
                         format_func=lambda i: f"test #{i}")
        return images[cell.indices.tolist().index(i)]
    return np.round(drawn_digit() * 255).astype(np.uint8)
