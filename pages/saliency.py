"""Saliency: why did the model predict that? Captum attributions on your own picture, honest about sign and scale."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import io

import numpy as np
import streamlit as st

from core.attribution.code import attribution_code
from core.attribution.methods import BASELINES, METHODS, AttributionSpec, MethodUnavailable, unavailable_reason
from core.figures.attribution import SIGNS, View, attribution_png, empty_note, explanation, side_by_side, top_classes
from ui import saliency, saliency_controls, saliency_inputs
from ui.path import next_step, stop_here

K = "sal"
ensure_navigation()
st.title(":material/center_focus_strong: Saliency")
st.markdown("Pick a model and a picture and see **why** the model predicted what it did: each method below asks "
            "a different question about the pixels, and each can mislead in its own way (read the notes).")

choices, notes = saliency.model_choices()
saliency_controls.offers(choices)
for note in notes:
    st.info(note, icon=":material/info:")
if not choices:
    stop_here(__file__)
choice = saliency_controls.choose_model(choices)
model = saliency.load_model(choice)
if model is None:
    st.error("This model's run could not be read from the run store (it was deleted, or its files are damaged): "
             "choose another one, or train it again.", icon=":material/error:")
    stop_here(__file__)
picture = saliency_inputs.image_source(K, choice)
if picture is None:
    stop_here(__file__)
prepared = saliency.prepare(choice, picture.pixels)
photo_models = {k: c for k, c in choices.items() if not c.digits}
if choice.digits and (picture.photo or prepared is None):
    saliency_controls.not_a_digit(choice, picture, prepared, photo_models)
    stop_here(__file__)

c_in, c_pred = st.columns([1, 2])
c_in.image(prepared.view, caption=f"What the model sees: {saliency.seen_as(choice)}", width=220, clamp=True)
pred = saliency.prediction(choice.key, prepared.digest, model, prepared, choice.norm)
if choice.digits and picture.source == saliency_inputs.UPLOAD:
    saliency_controls.digits_only_caution(choice, photo_models)
target = saliency_controls.class_to_explain(choice, prepared, pred)
c_pred.plotly_chart(top_classes(pred.top, choice.classes, target), key=f"{K}_top")

layers = saliency.layers(choice.key, (choice.channels, choice.side, choice.side), model)
usable = [m for m in METHODS if unavailable_reason(m, layers) is None]
here = saliency_controls.settings_address(choice, layers)  # methods, settings and view: the page address
key = saliency_controls.setting_keys(here, choice, layers)
methods = saliency_controls.chosen_methods(usable, here)
for m in METHODS:
    if m not in usable:
        st.caption(f"{METHODS[m].label} is off for this model: {unavailable_reason(m, layers)}")
if layers.flat and any(METHODS[m].needs_layer for m in methods):
    st.caption(f"Grad-CAM cannot use {', '.join(layers.flat)} here: at {choice.side} px its output is a single "
               f"pixel, so its map would paint the whole image one colour. The default is the last layer with a "
               f"spatial map ({layers.default}); a run at a higher resolution keeps the last stage spatial.")
with st.expander("Method settings"):
    c1, c2, c3 = st.columns(3)
    settings = {
        "steps": c1.slider("Integrated Gradients: steps", 5, 200, key=key["steps"]),
        "baseline": c1.selectbox("Integrated Gradients: baseline", list(BASELINES), key=key["baseline"]),
        "samples": c2.slider("SmoothGrad: samples", 2, 100, key=key["samples"]),
        "noise": c2.slider("SmoothGrad: noise (fraction of the pixel range)", 0.0, 0.5, step=0.01, key=key["noise"]),
        "layer": c3.selectbox("Grad-CAM layer", list(layers.names) or [None], key=key["layer"]),  # one per model
        "relu": c3.checkbox("Grad-CAM: keep only positive evidence (ReLU, as in the paper)", key=key["relu"],
                            help="Captum's LayerGradCam defaults to relu_attributions=False; the Grad-CAM paper "
                                 "applies a ReLU. Untick it to see the negative evidence too."),
        "window": c3.slider("Occlusion: window (px)", 2, max(3, choice.side // 2), key=key["window"])}
v1, v2, v3 = st.columns([2, 1.3, 1.3])  # the four sign choices fit on one line at 1280 px
view = View(v1.radio("Sign", SIGNS, horizontal=True, key=key["sign"]),
            v2.slider("Clip at percentile", 90.0, 100.0, step=0.5, key=key["clip"]),
            v3.slider("Overlay alpha", 0.0, 1.0, step=0.05, key=key["alpha"]))
saliency_controls.keep_settings(here, layers, {**settings, "sign": view.sign, "clip": view.clip,
                                               "alpha": view.alpha})

results = {}
for m in methods:
    spec = AttributionSpec(m, **settings)
    try:
        results[m] = (spec, saliency.explain(choice.key, prepared.digest, spec, target, model, prepared, choice.norm))
    except MethodUnavailable as e:
        st.warning(str(e), icon=":material/block:")
if not methods:
    st.caption("Choose one or more methods above to see their maps.")
if len(results) > 1:
    st.plotly_chart(side_by_side(prepared.view, [(METHODS[m].label, a.map2d()) for m, (_, a) in results.items()],
                                 view), key=f"{K}_compare")
if results:
    first = next(iter(results))
    saliency_inputs.explain_cell(K, choice, model, results[first][0], METHODS[first].label)
for m, (spec, a) in results.items():
    st.subheader(f"{METHODS[m].label} · class {choice.classes[a.target]} · {1000 * a.seconds:.0f} ms")
    st.markdown(f"**What it computes.** {METHODS[m].computes}  \n**When it misleads.** {METHODS[m].misleads}")
    if a.layer in layers.names:
        c, h, w = layers.shapes[layers.names.index(a.layer)]
        st.caption(f"Layer `{a.layer}` of this model: {c} maps of {h}×{w}, upsampled to {choice.side}×{choice.side}.")
    note = empty_note(a.map2d(), view, spec.relu if m == "grad_cam" else None)
    if note:
        st.info(note, icon=":material/visibility_off:")
    st.plotly_chart(explanation(prepared.view, a.map2d(), view, units="attribution (pixel units)"), key=f"{K}_{m}")
    buf = io.BytesIO()
    np.save(buf, a.values)
    c1, c2 = st.columns(2)
    c1.download_button("Attribution as .npy", buf.getvalue(), f"{m}.npy", key=f"{K}_{m}_npy",
                       icon=":material/download:")
    c2.download_button("Attribution as PNG", attribution_png(a.map2d(), view), f"{m}.png", key=f"{K}_{m}_png",
                       icon=":material/image:")
    with st.expander("PyTorch / Captum code"):
        st.code(attribution_code(spec, choice.norm, choice.side, layers.default), language="python")

next_step(__file__)
