"""Draw a digit: your drawing, made MNIST-like step by step, through the fully connected net and the CNN."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.data.digits import downsample_for_display, drawing_notes, preprocess_canvas
from core.data.normalization import MNIST_MEAN, MNIST_STD
from core.figures import conv as conv_figures
from core.figures.images import probability_bars
from core.figures.images import steps as steps_figure
from core.models.registry import ARCH_LABELS
from core.training.config import default_config
from ui import address, draw, resources
from ui.conv import feature_map_grid
from ui.path import next_step
from ui.session import set_drawn_digit
from ui.training import training_panel

K = "draw"


def _clear() -> None:
    st.session_state[f"{K}_canvas_n"] = st.session_state.get(f"{K}_canvas_n", 0) + 1
    set_drawn_digit(None)


ensure_navigation()
st.title(":material/draw: Draw a digit")
st.markdown("Draw one digit, 0–9, big and in the middle. It is turned into a 28×28 image the way MNIST's digits "
            "were made, then both of your models classify it.")

data = resources.mnist()
c_canvas, c_steps = st.columns([2, 3])
with c_canvas:
    st.space("small")  # room for the canvas toolbar, which floats above the canvas, clear of the sentence above
    drawing = st_canvas(stroke_width=20, stroke_color="#000000", background_color="#FFFFFF", height=280, width=280,
                        drawing_mode="freedraw", return_image_data=True,
                        key=f"{K}_canvas_{st.session_state.get(f'{K}_canvas_n', 0)}")
    st.button("Clear", icon=":material/ink_eraser:", on_click=_clear, key=f"{K}_clear")
    st.caption("The canvas toolbar has **Undo**, **Redo** and **Reset**. Each stroke updates the predictions.")
steps = preprocess_canvas(drawing.image_data)

with c_steps:
    if steps is None:
        st.info("**Draw a digit** on the canvas: nothing is predicted for an empty canvas.", icon=":material/draw:")
    else:
        set_drawn_digit(steps.centred)  # the Convolutions page offers it for its feature maps
        t, b, le, ri = steps.bbox
        st.plotly_chart(steps_figure([
            ("1 · grayscale (ink)", downsample_for_display(steps.gray)),
            (f"2 · cropped {b - t}×{ri - le}", downsample_for_display(steps.cropped)),
            (f"3 · scaled {steps.scaled.shape[0]}×{steps.scaled.shape[1]}", steps.scaled),
            ("4 · centred in 28×28", steps.centred),
            ("5 · normalized", steps.normalized()),
        ]), key=f"{K}_steps")
        st.caption("1: ink amount, 0 = paper, 1 = black. 2: cut to the ink's bounding box. 3: longer side scaled to "
                   "20 pixels, keeping the shape (anti-aliased, so edges turn gray). 4: pasted into 28×28 so the "
                   f"ink's centre of mass is at the middle, as in MNIST. 5: (x − {MNIST_MEAN}) / {MNIST_STD}, the "
                   "training data's mean and standard deviation: this tensor (1×1×28×28) is what the models see.")
        for note in drawing_notes(steps):
            st.warning(note, icon=":material/warning:")

st.divider()
results = {}
cols = st.columns(2)
for col, arch in zip(cols, ("net2", "cnn")):
    with col:
        st.subheader(ARCH_LABELS[arch])
        default = default_config(arch, data.source)
        stored = [s.config for s in resources.stored_runs(arch) if s.status == "ok"]  # did-not-learn: never offered
        options = {default.key(): default} | {c.key(): c for c in stored}  # stored: newest first
        # Preselect the default settings when they are trained, else the most recently trained run.
        default_key = default.key()
        first = default_key if default_key in {c.key() for c in stored} or not stored else stored[0].key()
        here = address.Address(K, {arch: address.choice(arch, f"{arch}_cfg", list(options))})
        choice = st.selectbox("Model", list(options), key=here.controls({arch: first})[arch],
                              format_func=lambda k, d=default_key, o=options:
                              ("Default settings · " if k == d else "Stored · ") + o[k].label())
        here.mirror({arch: choice}, partial=True)
        cfg = options[choice]
        loaded = training_panel(cfg, f"{K}_{arch}")
        if loaded is not None and steps is not None:
            model = loaded[1]
            probs = draw.probabilities(model, steps)  # (10,)
            results[arch] = model
            pred = int(probs.argmax())
            st.plotly_chart(probability_bars(probs, f"Prediction: {pred} (probability {100 * probs[pred]:.0f}%)",
                                             height=230, show_values=True), key=f"{K}_{arch}_probs")
        elif steps is None:
            st.caption("Waiting for a drawing.")
if results:
    st.caption("The bars are softmax probabilities: they always add up to 100%, and a model can give a high one to "
               "a scribble that is no digit at all. They say which class the model prefers, not how likely it is "
               "to be right.")

if steps is not None and results:
    st.divider()
    st.subheader("What the models look at")
    st.markdown("**Saliency** (Captum `Saliency`): how much the predicted class's score (its logit) changes when "
                "one input pixel gets a little more ink. Red: more ink there would raise the score; blue: lower "
                "it; white: no effect. The sign is kept, not squared away.")
    cols = st.columns(len(results))
    for col, (arch, model) in zip(cols, results.items()):
        sal = draw.saliency(model, steps)
        col.plotly_chart(conv_figures.saliency(sal.map2d(), sal.limit, f"{ARCH_LABELS[arch]}: saliency of class "
                                               f"{sal.target}"), key=f"{K}_{arch}_sal")
    if "cnn" in results:
        acts = draw.feature_maps(results["cnn"], steps)
        st.markdown("**The CNN's feature maps** for your drawing (after ReLU: 0 is white, stronger red is a "
                    "stronger response). Open the Convolutions page to take any of them apart.")
        feature_map_grid(acts, ("relu1", "relu2"), K)

next_step(__file__)
