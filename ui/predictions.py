"""The one "predictions and mistakes" panel of a stored classifier on the test digits (Fully connected and
Convolutions pages): sample predictions, confusion matrix with per-class accuracy, and a click-through
from a confusion-matrix cell (ui.confusion_cells, the one cell picker) to its misclassified digits.
Each page picks the parts it shows."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from core.figures import conv as conv_figures
from core.figures.base import ROLE
from core.figures.images import image, probability_bars
from core.figures.training import confusion, per_class_bars
from core.lessons.losses import ModelLosses, model_losses
from core.training.config import TrainConfig
from core.training.evaluation import Evaluation, evaluate
from ui import address, resources
from ui.confusion_cells import pick_cell


@st.cache_data(show_spinner="Scoring the test digits with this run…", max_entries=8)
def test_losses(cfg: TrainConfig) -> ModelLosses:
    """Each test digit's cross-entropy under the stored run for `cfg` (the shared model is only read)."""
    stored = resources.stored_run(cfg)
    if stored is None:
        raise LookupError(cfg.key())
    x, labels = resources.test_inputs(cfg.data_source)
    return model_losses(stored[1], x, labels)


def evaluation(cfg: TrainConfig) -> Evaluation:
    return evaluate(resources.test_probabilities(cfg), resources.mnist().test.labels.numpy())


def _samples(ev: Evaluation, images: np.ndarray, key: str, model_name: str) -> None:
    """Four test digits (random, or mistakes only) with their 10 probabilities."""
    st.markdown(f"**Predictions on test digits** — {ev.correct:,} of {len(ev.labels):,} correct.")
    shows = ["random digits", "mistakes only"]
    f = address.Form(address.Address(key, {"show": address.choice("show", "show", shows),
                                           "pick": address.slider("pick", "pick", 0, 9999, whole=True)}))
    show = f.keep("show", st.radio("Show", shows, horizontal=True, key=f.key("show", shows[0])))
    pool = ev.mistakes() if show == "mistakes only" else np.arange(len(ev.labels))
    pick_seed = f.keep("pick", st.number_input("Which digits (change to draw another four)", 0, 9999,
                                               key=f.key("pick", 0)))
    f.mirror()
    chosen = (np.random.default_rng(int(pick_seed)).choice(pool, size=min(4, len(pool)), replace=False)
              if len(pool) else [])
    for col, i in zip(st.columns(4), chosen):
        col.plotly_chart(image(images[i], f"true {ev.labels[i]} · predicted {ev.preds[i]}", 160),
                         key=f"{key}_digit_{i}")
        col.plotly_chart(probability_bars(ev.probs[i], true_label=int(ev.labels[i])), key=f"{key}_probs_{i}")
    st.caption("Bars: softmax of the 10 logits, as probabilities. Orange = the predicted class; green outline = the "
               "true class (the same colours on every page).")


def _overview(ev: Evaluation, images: np.ndarray, key: str, model_name: str) -> None:
    """Confusion matrix beside per-class accuracy."""
    left, right = st.columns(2)
    left.plotly_chart(confusion(ev.confusion), key=f"{key}_cm")
    right.plotly_chart(per_class_bars(ev.per_class), key=f"{key}_pca")


def _mistakes(ev: Evaluation, images: np.ndarray, key: str, model_name: str) -> None:
    """The confusion-cell picker -> the digits of the chosen (true, predicted) cell with their probabilities."""
    cell = pick_cell(key, ev.confusion, model_name=model_name)
    if cell is None:
        return
    true_c, pred_c = cell
    idx = ev.cell(true_c, pred_c)
    st.markdown(f"**{len(idx)}** test digit(s) that are **{true_c}** but were predicted **{pred_c}**, with their 10 "
                f"probabilities (<span style='color:{ROLE['predicted']}'>orange: predicted</span>, "
                f"<span style='color:{ROLE['true']}'>green: true class</span>).", unsafe_allow_html=True)
    start = 0
    if len(idx) > 8:
        start = st.slider("Show from", 0, len(idx) - 1, 0, 8, key=f"{key}_cm_start_{true_c}_{pred_c}")
    show = idx[start:start + 8]
    st.plotly_chart(conv_figures.mistakes(images[show], ev.probs[show], true_c, pred_c, show.tolist()),
                    key=f"{key}_cm_fig")


PARTS: dict[str, Callable[[Evaluation, np.ndarray, str, str], None]] = {
    "samples": _samples,
    "overview": _overview,
    "mistakes": _mistakes,
}


def predictions_panel(cfg: TrainConfig, key: str, parts: tuple[str, ...], model_name: str = "model") -> None:
    """The stored run's predictions on the test digits: the chosen `parts` of PARTS, in order."""
    ev = evaluation(cfg)
    images = resources.mnist().test.images.numpy()  # (N, 28, 28) uint8
    for part in parts:
        PARTS[part](ev, images, key, model_name)
