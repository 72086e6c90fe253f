"""Loss functions: CrossEntropy taken apart (LogSoftmax + NLL), regression losses and outliers,
and the cross-entropy of real test digits under a stored Fully Connected run."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import numpy as np
import streamlit as st

from core.errors import InputError
from core.figures import losses as loss_figures
from core.figures.images import mosaic
from core.fmt import num
from core.lessons.losses import (
    CEInputs,
    best_constant,
    ce_breakdown,
    ce_code,
    ce_vs_temperature,
    parse_logits,
    regression_curves,
    targets_with_outlier,
)
from core.training.config import default_config
from ui import address, resources
from ui.code import code_panel
from ui.errors import show_input_error
from ui.path import next_step
from ui.predictions import test_losses
from ui.training import pick_stored_run, training_panel

CE, REG, MODEL = "ce", "reg", "loss"  # widget-key prefixes of the three tabs

ensure_navigation()
st.title(":material/trending_down: Loss functions")
st.caption("Every number is computed by PyTorch right now from the values you set.")
tab_ce, tab_reg, tab_model = address.tabs(MODEL, ["CrossEntropy taken apart",
                                                    "Regression losses & outliers", "On the real model"])


LOGITS = [2.0, 1.0, 0.1, -1.0, 0.5, -0.5]  # the sliders' defaults
TEMPS = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
CE_ADDRESS = address.Address(CE, {
    "typed": address.flag("typed", "typed"), "n": address.slider("n", "n", 2, 6, whole=True),
    "text": address.text("logits", "text", 120), "target": address.slider("target", "target", 0, 5, whole=True),
    **{f"z{i}": address.slider(f"z{i}", f"logit{i}", -8.0, 8.0) for i in range(len(LOGITS))},
    "temp": address.choice("T", "temp", TEMPS, float, address.number)})
DIGIT_ORDERS = ["highest loss", "lowest loss", "first 8"]
REG_ADDRESS = address.Address(REG, {
    "target": address.slider("y", "target", -3.0, 3.0), "outlier": address.flag("outlier", "outlier"),
    "beta": address.choice("beta", "beta", [0.25, 0.5, 1.0, 2.0], float, address.number)})


@st.fragment
def ce_view() -> None:
    w = CE_ADDRESS.controls({"typed": False, "n": 3, "text": "2, 1, 0.1", "target": 0, "temp": 1.0,
                             **{f"z{i}": v for i, v in enumerate(LOGITS)}})
    c1, c2, c3 = st.columns([2, 1, 1])
    typed = c1.toggle("Type the logits instead of sliders", key=w["typed"])
    n = c2.slider("Classes", 2, 6, key=w["n"], disabled=typed,
                  help="With typed logits, the number of classes is the number of values typed.")
    shown: dict[str, object] = {"typed": typed}
    if typed:
        text = c1.text_input("Logits (comma separated, e.g. 2, 1, nan)", key=w["text"])
        shown["text"] = text
        try:
            logits = parse_logits(text)
        except InputError as e:
            CE_ADDRESS.mirror(shown)
            show_input_error(e)
            return
        n = max(len(logits), 1)  # the typed logits decide the classes; the slider is disabled
    else:
        shown["n"] = n
    if st.session_state[w["target"]] >= n:  # fewer classes than the kept target
        st.session_state[w["target"]] = 0
    target = c3.selectbox("Target class", list(range(n)), key=w["target"])
    if not typed:
        sl = st.columns(n)
        logits = tuple(sl[i].slider(f"logit {i}", -8.0, 8.0, step=0.1, key=w[f"z{i}"]) for i in range(n))
        shown |= {f"z{i}": v for i, v in enumerate(logits)}
    T = st.select_slider("Temperature T (logits are divided by T: small T = confident, large T = unsure)",
                         TEMPS, key=w["temp"])
    CE_ADDRESS.mirror(shown | {"target": target, "temp": T})
    inp = CEInputs(logits=logits, target=int(target), temperature=float(T))
    try:
        r = ce_breakdown(inp)
    except InputError as e:
        show_input_error(e, "Can't compute the loss")
        return
    st.plotly_chart(loss_figures.ce_bars([str(i) for i in range(len(logits))], r.scaled, r.probs, r.log_probs,
                                                r.grad_autograd, target), key=f"{CE}_bars")
    m = st.columns(3)
    m[0].metric("−LogSoftmax(z)[target] (by hand)", f"{-r.log_probs[target]:.9g}")
    m[1].metric("NLLLoss(LogSoftmax(z), target)", f"{r.nll:.9g}")
    m[2].metric("nn.CrossEntropyLoss()(z, target)", f"{r.ce:.9g}")
    if r.exactly_equal:
        st.success("CrossEntropyLoss = NLLLoss(LogSoftmax): `torch.equal` says the two float32 values are identical "
                   "to the last bit.", icon=":material/check_circle:")
    else:
        st.warning(f"NLL(LogSoftmax) and CrossEntropy differ by {abs(r.nll - r.ce):.3g} (rounding).")
    st.dataframe({"class": list(range(len(logits))), "softmax p": r.probs, "one-hot": np.eye(len(logits))[target],
                  "p − one-hot (formula)": r.grad_formula, "∂CE/∂z (autograd)": r.grad_autograd},
                 hide_index=True, key=f"{CE}_table")
    st.caption(f"Largest difference between formula and autograd: {r.grad_max_abs_diff:.2g} (float32 rounding). "
               "The gradient pushes the target's logit up and every other logit down, in proportion to its "
               "probability.")
    grid_t = np.geomspace(0.05, 20, 120)
    st.plotly_chart(loss_figures.ce_temperature(grid_t, ce_vs_temperature(inp, grid_t), T), key=f"{CE}_tcurve")
    code_panel(ce_code(inp))


@st.fragment
def regression_view() -> None:
    w = REG_ADDRESS.controls({"target": 0.0, "beta": 1.0, "outlier": True})
    c1, c2, c3 = st.columns(3)
    target = c1.slider("Target value", -3.0, 3.0, step=0.5, key=w["target"])
    beta = c2.select_slider("SmoothL1 beta (quadratic below, linear above)", [0.25, 0.5, 1.0, 2.0], key=w["beta"])
    outlier = c3.toggle("Add an outlier (one target = 12)", key=w["outlier"])
    REG_ADDRESS.mirror({"target": target, "beta": beta, "outlier": outlier})
    preds = np.linspace(target - 4, target + 4, 161)
    st.plotly_chart(loss_figures.regression_curves(preds, regression_curves(target, preds, beta), target),
                    key=f"{REG}_curves")
    st.caption("MSE's gradient grows with the error (2 × error): one far-off point pulls hard. L1's gradient is "
               "±1 whatever the error; SmoothL1 (Huber) is MSE-like near the target and L1-like far away.")
    y = targets_with_outlier(outlier)
    bc = best_constant(y, beta)
    st.plotly_chart(loss_figures.best_constant(y, bc.grid, bc.mean_loss, bc.best), key=f"{REG}_best")
    best = (f"The best single prediction for these targets: MSE picks the mean ({num(bc.best['MSE'], 2)}), "
            f"L1 the median ({num(bc.best['L1'], 2)}).")
    if outlier:
        share = ", ".join(f"{k}: {100 * v:.0f}%" for k, v in bc.outlier_grad_share.items())
        best += (f" Share of the total gradient coming from the outlier (predicting the other targets' mean): "
                 f"**{share}**.")
    st.markdown(best)


def model_view() -> None:
    data = resources.mnist()
    cfg = pick_stored_run("net2", key=f"{MODEL}_net2") or default_config("net2", data.source)
    st.markdown(f"The MNIST classifiers train with `F.cross_entropy`. Here: each test digit's cross-entropy under "
                f"the stored Fully Connected run **{cfg.label()}**.")
    stored = training_panel(cfg, key=f"{MODEL}_net2", remember=False)
    if stored is None:
        st.caption("No stored run for these settings yet: press **Train** above (it is stored for every page).")
        return
    run, _ = stored
    if run.status != "ok":
        st.caption("This run did not learn, so its losses say nothing about cross-entropy: lower the learning rate.")
        return
    ml = test_losses(cfg)
    labels = data.test.labels
    st.plotly_chart(loss_figures.per_class_loss(ml.per_class, ml.mean), key=f"{MODEL}_per_class")
    shown = address.Address(MODEL, {"digits": address.choice("digits", "digits", DIGIT_ORDERS)})
    which = st.radio("Show test digits", DIGIT_ORDERS, horizontal=True,
                     key=shown.controls({"digits": DIGIT_ORDERS[0]})["digits"])
    shown.mirror({"digits": which})
    order = np.argsort(-ml.per_sample) if which == "highest loss" else \
        (np.argsort(ml.per_sample) if which == "lowest loss" else np.arange(len(ml.per_sample)))
    idx = order[:8]
    lab = labels.cpu().numpy()
    titles = [f"true {lab[i]} · pred {ml.predicted[i]}<br>loss {num(ml.per_sample[i], 2)}" for i in idx]
    st.plotly_chart(mosaic(data.test.images[idx].numpy(), len(idx), titles=titles,
                           colours="ink", tile_label="digit", gap=4, height=200), key=f"{MODEL}_digit_grid")
    st.caption("Above each digit: its true class, the predicted class and its loss = −log p(true class): a "
               "confident wrong answer costs a lot, a confident right one almost 0.")


with tab_ce:
    ce_view()
with tab_reg:
    regression_view()
with tab_model:
    model_view()

next_step(__file__)
