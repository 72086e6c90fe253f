"""Saliency page: what a first visit is offered (train the default digit model, download ImageNet's ResNet-18),
what a digit model says about a photo, and the controls whose state must follow the picture and the model.

Streamlit keeps a keyed widget's value and ignores a new default, and forgets a widget's state when a run ends before
drawing it. So the class to explain is one widget per (model, picture), and the model, the methods, their settings and
the view live in the page address and the session (ui.address: a run that stopped early, with no picture yet, puts
them back from the values it kept).
"""
from __future__ import annotations

import streamlit as st

from core.attribution.methods import BASELINES, METHODS, LayerChoices, Prediction
from core.figures.attribution import SIGNS
from core.training.config import TrainConfig, default_config
from ui import address, downloads, resources, training, transfer_data
from ui.saliency import IMAGENET, K, ModelChoice, Prepared, seen_as, short_key

DEFAULT_METHODS = ("saliency", "grad_cam")  # a first visit draws two maps side by side (Grad-CAM where it can run)
PICKED = f"{K}_picked"  # {digest of (model, picture): class the learner chose to explain}
METHODS_KEPT = f"{K}_methods_kept"  # the methods the learner chose, those this model cannot run included


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
    problem = transfer_data.missing().get(IMAGENET)
    if problem is not None:
        with st.container(border=True):
            st.markdown("**A model that knows photos.** To explain your own photos, get ImageNet's ResNet-18:")
            downloads.offer(IMAGENET, "saliency", problem)


def choose_model(choices: dict[str, ModelChoice]) -> ModelChoice:
    """The model selectbox, in the page address (?model=imagenet-resnet18, or a stored run's key); a first visit
    opens on ImageNet's ResNet-18 when its weights are here. A model that went away (its run deleted) is not kept."""
    here = address.Address(K, {"model": address.choice("model", "model", list(choices))})
    widget = here.key("model")
    if widget in st.session_state and st.session_state[widget] not in choices:
        del st.session_state[widget]  # the address, the kept choice or the default picks again
    first = IMAGENET if IMAGENET in choices else next(iter(choices))
    picked = st.selectbox("Model", list(choices), format_func=lambda k: choices[k].label,
                          key=here.controls({"model": first})["model"])
    here.mirror({"model": picked})
    return choices[picked]


def use_model(key: str) -> None:
    """Callback of the 'explain it with ...' buttons: the model selectbox takes this model on the next run."""
    st.session_state[f"{K}_model"] = key


def photo_model_buttons(photo_models: dict[str, ModelChoice], where=st) -> None:
    """A button per model that knows photos; or what to do when there is none."""
    for key, c in photo_models.items():
        where.button(f"Explain it with {c.label}", key=f"{K}_use_{short_key(key)}", on_click=use_model, args=(key,),
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


# ---------------------------------------------------------------- controls that follow the picture and the model
def settings_address(choice: ModelChoice, layers: LayerChoices) -> address.Address:
    """The methods, their settings and the view in the page address (?methods=saliency,grad_cam&ig_steps=50...).
    The occlusion window is one widget per image size and the Grad-CAM layer one per model: the address offers
    this model's range and layers only."""
    return address.Address(K, {
        "methods": address.several("methods", "methods", list(METHODS)),
        "steps": address.slider("ig_steps", "steps", 5, 200, whole=True),
        "baseline": address.choice("ig_base", "baseline", list(BASELINES)),
        "samples": address.slider("sg_n", "samples", 2, 100, whole=True),
        "noise": address.slider("sg_noise", "noise", 0.0, 0.5),
        "layer": address.choice("cam_layer", f"layer_{short_key(choice.key)}", list(layers.names)),
        "relu": address.flag("cam_relu", "relu"),
        "window": address.slider("occ_win", f"win_{choice.side}", 2, max(3, choice.side // 2), whole=True),
        "sign": address.choice("sign", "sign", list(SIGNS)),
        "clip": address.slider("clip", "clip", 90.0, 100.0),
        "alpha": address.slider("alpha", "alpha", 0.0, 1.0)})


def setting_keys(here: address.Address, choice: ModelChoice, layers: LayerChoices) -> dict[str, str]:
    """Restore the method settings and the view (before the expander, so an ignored address value is said where
    it shows) -> their widget keys."""
    layer = layers.default or (layers.names[0] if layers.names else None)
    return here.controls({"steps": 50, "baseline": "black", "samples": 25, "noise": 0.15, "layer": layer,
                          "relu": True, "window": max(2, choice.side // 7), "sign": SIGNS[0], "clip": 99.0,
                          "alpha": 0.6})


def keep_settings(here: address.Address, layers: LayerChoices, values: dict[str, object]) -> None:
    """Keep the controls drawn in this run and write them, with the chosen methods, into the address (the Grad-CAM
    layer only when this model has one)."""
    chosen = {"methods": list(st.session_state.get(METHODS_KEPT, DEFAULT_METHODS))}
    here.mirror({**chosen, **{k: v for k, v in values.items() if k != "layer" or layers.names}})


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


def chosen_methods(usable: list[str], here: address.Address) -> list[str]:
    """The methods multiselect: what the learner chose stays chosen across pictures and models (a method this model
    cannot run is left out while it is chosen, and comes back with a model that can). A new visit, or a run after
    one that stopped early, starts from the address or the choice kept there (`keep_settings`)."""
    key = here.key("methods")
    if key not in st.session_state:
        here.restore({"methods": list(DEFAULT_METHODS)})
        st.session_state[METHODS_KEPT] = list(st.session_state[key])
    kept = list(st.session_state.get(METHODS_KEPT, DEFAULT_METHODS))
    shown = [m for m in kept if m in usable]
    if kept and not shown:  # none of them runs on this model: its first method, until the learner chooses
        shown = usable[:1]
    if st.session_state.get(key) != shown:
        st.session_state[key] = shown

    def remember() -> None:
        st.session_state[METHODS_KEPT] = list(st.session_state[key]) + [m for m in kept if m not in usable]

    return st.multiselect("Methods", usable, key=key, on_change=remember, format_func=lambda m: METHODS[m].label)
