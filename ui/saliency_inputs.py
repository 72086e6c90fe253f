"""Saliency page: where the picture comes from (an upload, a sample photo, an MNIST test digit, a stored run's
misclassified test images, the Draw page's digit), and a confusion-matrix cell's images with their maps.

A photo model opens on a sample photo and a digit model on a test digit, so a first visit has a picture at once. The
source, the sample photo and the test digit are in the page address (?src=Sample+photo&sample=coffee); an upload's
bytes never are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from core.attribution.methods import AttributionSpec
from core.data.model_inputs import stored_pictures
from core.data.samples import available_samples, load_sample_photo
from core.data.uploads import MAX_FILE_BYTES, UploadError
from core.figures.images import mosaic
from core.models.inspection import confusion_matrix
from core.transfer.config import TransferConfig
from core.transfer.model import predict as transfer_predict
from ui import address, own_models, resources, transfer_data, transfer_runs
from ui.confusion_cells import pick_cell
from ui.saliency import K, ModelChoice, _transfer_model, decode, explain, prepare
from ui.session import drawn_digit

UPLOAD, SAMPLE, TEST_DIGIT, DRAWN = "Upload", "Sample photo", "MNIST test digit", "Drawn digit"


@dataclass(frozen=True)
class Picture:
    pixels: np.ndarray  # (H, W) or (H, W, 3) uint8
    source: str  # the image source's label: UPLOAD, SAMPLE, ...

    @property
    def photo(self) -> bool:
        """A picture known not to be a handwritten digit (a sample photo, the learner's photo of a class)."""
        return self.source in (SAMPLE, own_models.SOURCE)


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
    """(N_test,) classes the stored transfer run predicts on its task's test images (as its page evaluates it): from
    the stored backbone features for a feature-extraction run (the head alone: 10,000 images at 224 px would
    otherwise take minutes on a CPU), else through the model."""
    fast = transfer_runs.test_predictions_from_features(cfg)
    if fast is not None:
        return fast.numpy()
    return transfer_predict(_transfer_model(cfg), transfer_data.task_of(cfg).test.images, cfg).numpy()


def scored_split(choice: ModelChoice) -> ScoredSplit:
    """The test split the chosen stored run is scored on, with its predictions (cached per run)."""
    cfg = choice.config
    if isinstance(cfg, TransferConfig):
        test = transfer_data.task_of(cfg).test
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
        return transfer_data.cifar()[0] is not None  # the Transfer page's cached CIFAR-10 (None when absent)
    return True


def default_source(choice: ModelChoice | None) -> str:
    """A photo model starts on a sample photo, a digit model on a test digit: a first visit has a picture at once."""
    return SAMPLE if choice is not None and not choice.digits and available_samples() else TEST_DIGIT


def image_source(key: str, choice: ModelChoice | None = None) -> Picture | None:
    """Upload, sample photo, MNIST test digit, a misclassified test image (stored runs), the Draw page's digit or
    the photo last tried on the Transfer page's own classes -> the picture, or None."""
    sources = ([UPLOAD, SAMPLE, TEST_DIGIT] + ([misclassified_source(choice)] if has_test_split(choice) else [])
               + ([DRAWN] if drawn_digit() is not None else []) + own_models.photo_sources())
    form = address.Form(address.Address(key, {
        "source": address.choice("src", "source", sources),
        "sample": address.choice("sample", "sample", list(available_samples())),
        "digit": address.slider("digit", "digit", 0, len(resources.mnist().test) - 1, whole=True)}))
    widget = form.key("source", default_source(choice))
    if st.session_state[widget] not in sources:  # misclassified, then ResNet chosen
        st.session_state[widget] = default_source(choice)
    source = form.keep("source", st.radio("Image", sources, horizontal=True, key=widget))
    pixels = _pixels(key, source, choice, form)
    form.mirror()
    return None if pixels is None else Picture(pixels, source)


def _pixels(key: str, source: str, choice: ModelChoice | None, form: address.Form) -> np.ndarray | None:
    if source in own_models.photo_sources():  # the photo last tried on the Transfer page's "Your own classes"
        return own_models.saliency_photo()
    if source == UPLOAD:
        f = st.file_uploader("PNG, JPEG, WebP, BMP or GIF", type=["png", "jpg", "jpeg", "webp", "bmp", "gif"],
                             key=f"{key}_upload", max_upload_size=MAX_FILE_BYTES >> 20)
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
    if source == SAMPLE:
        samples = available_samples()
        if not samples:
            st.info("scikit-image is not installed, so there are no sample photos.")
            return None
        k = form.keep("sample", st.selectbox("Sample", list(samples), format_func=lambda s: samples[s].label,
                                             key=form.key("sample", next(iter(samples)))))
        return load_sample_photo(k).pixels
    if source == TEST_DIGIT:
        data = resources.mnist()
        i = form.keep("digit", st.number_input("Test digit #", 0, len(data.test) - 1, key=form.key("digit", 0)))
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
