"""The learner's models on the Transfer page's route "Your own classes", as every session shares them: the ImageNet
backbone (frozen, shared, used under inference mode only), each new photo's feature, the stored runs, the
learner's trained ResNet-18 and its predictions; and the one hook the Saliency page calls to list and load those
models and the photo last tried (`saliency_entries`, `saliency_model`, `photo_sources`, `saliency_photo`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch

from core.data.model_inputs import InputSpec
from core.data.normalization import IMAGENET_NORM
from core.data.uploads import UploadError, decode_image
from core.training.record import Run
from core.transfer.own.config import OwnClassesConfig
from core.transfer.own.features import fingerprint, frozen_model, stored_features
from core.transfer.own.fit import own_model, probabilities, time_per_photo
from core.transfer.own.photos import as_tensor
from core.transfer.pretrained import hub_cache_file
from ui import own_data, resources, transfer_data
from ui.own_data import K

PREFIX = "own:"  # the Saliency page's model keys of the learner's runs
SOURCE = "Your photo (Transfer learning)"  # the Saliency page's image source of the photo tried here
PHOTO = f"{K}_photo"  # PNG bytes of the last photo tried on this page (Saliency's SOURCE)
HANDOFF = f"{K}_saliency_pending"  # the model key the Saliency page opens on, once
SALIENCY_MODEL, SALIENCY_SOURCE = "sal_model", "sal_source"  # the Saliency page's widget keys


# ---------------------------------------------------------------- the backbone and the learner's models
@dataclass(frozen=True)
class Backbone:
    state: dict[str, torch.Tensor]  # ImageNet ResNet-18 weights (CPU)
    fingerprint: str
    model: torch.nn.Module  # frozen, eval, shared: used under inference mode only


@st.cache_resource(max_entries=1, show_spinner="Reading the ImageNet weights…")
def _backbone(stamp: tuple) -> Backbone:
    weights = transfer_data.imagenet()
    if not weights.ok:
        raise LookupError(weights.reason)  # raising keeps "missing" out of the cache
    return Backbone(weights.state, fingerprint(weights.state), frozen_model(weights.state, resources.device()))


def backbone() -> Backbone | None:
    """The ImageNet ResNet-18 this route starts from, or None when its weights are not here."""
    if not transfer_data.imagenet().ok:
        return None
    try:
        return _backbone(transfer_data.stamp(hub_cache_file()))
    except LookupError:
        return None


def keep_features(photos: list[str]) -> None:
    """The backbone's feature of each new photo, computed now (one forward pass each) and kept in the store."""
    b = backbone()
    if b is None or not photos:
        return
    store = own_data.store()
    pixels = [store.photo(p) for p in photos]
    named = [(p, x) for p, x in zip(photos, pixels) if x is not None]
    if named:
        with st.spinner(f"ResNet-18 reads {len(named)} new photo{'s' if len(named) > 1 else ''}…"):
            try:
                stored_features(store, b.fingerprint, b.model, as_tensor(np.stack([x for _, x in named])),
                                tuple(p for p, _ in named), ("centre",))
            except OSError:
                pass  # a cache: computed again when it is needed


def trained(cfg: OwnClassesConfig) -> Run | None:
    return resources.stored(cfg)


@st.cache_resource(max_entries=4, show_spinner="Building your model…")
def _learner_model(cfg: OwnClassesConfig, weights: str) -> torch.nn.Module:
    """The learner's trained ResNet-18 (eval, frozen, shared by every session; never trained in place)."""
    run, b = trained(cfg), backbone()
    if run is None or b is None or b.fingerprint != weights:
        raise LookupError(cfg.key())
    return own_model(run, b.state).to(resources.device())


def learner_model(cfg: OwnClassesConfig) -> torch.nn.Module | None:
    try:
        return _learner_model(cfg, cfg.backbone)
    except LookupError:
        return None


@st.cache_data(max_entries=64, show_spinner=False)
def predict(cfg: OwnClassesConfig, photo_sha: str, _photo: np.ndarray) -> np.ndarray | None:
    """(C,) class probabilities of a kept-size photo (256, 256, 3) under the learner's model."""
    model = learner_model(cfg)
    return None if model is None else probabilities(model, as_tensor(_photo[None]))[0].numpy()


@st.cache_data(max_entries=8, show_spinner="Timing ResNet-18 on this machine…")
def per_photo(weights: str, device: str) -> tuple[float, float]:
    b = backbone()
    return time_per_photo(b.model) if b is not None else (0.0, 0.0)


# ---------------------------------------------------------------- the Saliency page's hook
def saliency_entries() -> dict[str, dict]:
    """{model key: ModelChoice fields} of the learner's stored own-class runs that can be rebuilt here (their
    ImageNet weights are here). A pending "See why on the Saliency page" selects that model and this page's photo."""
    b = backbone()
    out: dict[str, dict] = {}
    if b is not None:
        for s in resources.store().summaries("own-classes"):
            cfg = s.config
            if s.status == "ok" and isinstance(cfg, OwnClassesConfig) and cfg.backbone == b.fingerprint:
                out[PREFIX + cfg.key()] = {
                    "label": f"ResNet-18 on your classes ({', '.join(cfg.names())}) · {cfg.label()}",
                    "inputs": InputSpec(224, 3, False), "norm": IMAGENET_NORM, "classes": cfg.names()}
    pending = st.session_state.pop(HANDOFF, None)
    if pending in out:
        st.session_state[SALIENCY_MODEL] = pending
        if PHOTO in st.session_state:
            st.session_state[SALIENCY_SOURCE] = SOURCE
    return out


def saliency_model(key: str) -> torch.nn.Module | None:
    """The learner's model for a key of `saliency_entries` (None when it can't be read)."""
    for s in resources.store().summaries("own-classes"):
        if PREFIX + s.config.key() == key:
            return learner_model(s.config)
    return None


def photo_sources() -> list[str]:
    """The Saliency page's extra image source: the photo last tried on the Transfer page, if any."""
    return [SOURCE] if PHOTO in st.session_state else []


def saliency_photo() -> np.ndarray | None:
    """That photo (256, 256, 3): the Saliency page's ImageNet recipe turns it into exactly what was predicted here."""
    try:
        return decode_image(st.session_state[PHOTO]).pixels
    except (KeyError, UploadError):
        return None
