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

from core.attribution import (Attribution, AttributionSpec, LayerChoices, Prediction, Twins, attribute, conv_layers,
                              predict, twins)
from core.data import IMAGENET_NORM, MNIST_NORM, Norm
from core.config import ARCH_LABELS
from core.digit_photos import preprocess_photo
from core.model_inputs import model_view, to_pixels
from core.samples import available_samples, load_sample_photo
from core.uploads import DecodedImage, UploadError, decode_image
from ui import cache

DRAWN = "drawn_digit"  # the Draw page keeps the 28×28 drawing here


@dataclass(frozen=True)
class ModelChoice:
    key: str  # "mnist:<run config key>" or "imagenet-resnet18"
    label: str
    side: int  # input side in pixels
    channels: int
    norm: Norm
    classes: tuple[str, ...]
    digits: bool  # MNIST-style preprocessing (invert, crop, centre)


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
    return model.eval().requires_grad_(False).to(cache.device())


def model_choices() -> tuple[dict[str, ModelChoice], list[str]]:
    """The models that can be explained now, and notes about the ones that cannot."""
    data = cache.mnist()
    out: dict[str, ModelChoice] = {}
    for s in cache.store().summaries():
        cfg = s.config
        if cfg.data_source == data.source and cfg.model.arch in ARCH_LABELS:
            key = "mnist:" + cfg.key()
            out.setdefault(key, ModelChoice(key, f"{ARCH_LABELS[cfg.model.arch]} · {cfg.label()}", 28, 1, MNIST_NORM,
                                            tuple(str(i) for i in range(10)), True))
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
    for s in cache.store().summaries():
        if "mnist:" + s.config.key() == choice.key:
            stored = cache.stored_run(s.config)
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


def image_source(key: str) -> np.ndarray | None:
    """Upload, sample photo, MNIST test digit or the Draw page's digit -> (H, W[, 3]) uint8, or None."""
    sources = ["Upload", "Sample photo", "MNIST test digit"] + (["Drawn digit"] if DRAWN in st.session_state else [])
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
        data = cache.mnist()
        i = st.number_input("Test digit #", 0, len(data.test) - 1, 0, key=f"{key}_digit")
        st.caption(f"True label: **{int(data.test.labels[i])}**")
        return data.test.images[int(i)].numpy()
    return np.round(np.asarray(st.session_state[DRAWN], dtype=np.float32) * 255).astype(np.uint8)
