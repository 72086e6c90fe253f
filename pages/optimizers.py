"""Optimizers: real torch.optim optimizers on 2-D loss surfaces, then on the Fully Connected net."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import dataclasses

import streamlit as st

from core.config import default_config
from core.errors import InputError
from core.figures import optim as optim_figures
from core.figures.training import Curve, run_curves
from core.optim2d import SURFACE_LABELS, OptimSpec, Surface, check_settings, optim_code
from core.optimizers import OPTIMIZER_LABELS
from core.optimizers import SURFACE_OPTIMIZER_LABELS as OPT_LABELS  # the 2-D surfaces offer RMSprop too
from ui import optim, resources
from ui.code import code_panel
from ui.errors import show_input_error
from ui.training import LR_CHOICES, training_panel

ensure_navigation()
st.title(":material/landscape: Optimizers")
st.caption("Paths come from `torch.optim` itself: a 2-element parameter tensor, `loss.backward()`, "
           "`optimizer.step()` — as in any training loop.")
tab_2d, tab_model = st.tabs(["On a 2-D loss surface", "On the real model (Fully Connected net)"])
LRS = [*LR_CHOICES, 100.0]  # the training controls' choices, plus one that always diverges


@st.fragment
def surface_view() -> None:
    c1, c2, c3 = st.columns(3)
    name = c1.selectbox("Surface", list(SURFACE_LABELS), format_func=SURFACE_LABELS.get, key="opt_surface")
    cond = c1.slider("Conditioning (steep ÷ flat curvature)", 1.0, 50.0, 10.0, 1.0, key="opt_cond",
                     disabled=name != "bowl")
    surface = Surface(name, cond if name == "bowl" else 10.0)
    chosen = c2.multiselect("Optimizers", list(OPT_LABELS), default=list(OPT_LABELS), format_func=OPT_LABELS.get,
                            key="opt_chosen")
    lr = c2.select_slider("Learning rate", LRS, value=0.001 if name == "rosenbrock" else 0.1, key=f"opt_lr_{name}",
                          format_func=lambda v: f"{v:g}")
    momentum = c3.slider("Momentum β (SGD + momentum)", 0.0, 0.99, 0.9, 0.01, key="opt_momentum")
    steps = c3.slider("Steps", 1, 500, 100, key="opt_steps")
    sx, sy = surface.default_start
    s1, s2 = st.columns(2)
    start = (s1.slider("Start x", *surface.xrange, sx, 0.05, key=f"opt_sx_{name}"),
             s2.slider("Start y", *surface.yrange, sy, 0.05, key=f"opt_sy_{name}"))
    st.latex(surface.latex())
    try:
        for o in chosen:
            check_settings(OptimSpec(o, lr, momentum), steps, start)
        trajs = {OPT_LABELS[o]: optim.optim_trajectory(surface, OptimSpec(o, lr, momentum), start, steps)
                 for o in chosen}
    except InputError as e:
        show_input_error(e, "Can't run these settings")
        return
    xs, ys, Z = optim.surface_grid(surface)
    title = f"{SURFACE_LABELS[name]} · lr {lr:g} · {steps} steps"
    st.plotly_chart(optim_figures.contour_paths(xs, ys, Z, {k: t.path for k, t in trajs.items()}, surface.minima,
                                     name == "rosenbrock", title), key="opt_contour")
    if not trajs:
        st.info("Pick at least one optimizer.")
        return
    for t in trajs.values():
        msg = optim.optim_explanation(surface, t, start)
        (st.warning if t.diverged_at or "left the plotted" in msg else st.caption)(msg)
    losses = {k: t.losses for k, t in trajs.items()}
    st.plotly_chart(optim_figures.loss_per_step(losses, log_y=name != "saddle"), key="opt_losscurve")
    which = st.selectbox("Code for", list(trajs), key="opt_code_for")
    code_panel(optim_code(surface, trajs[which].spec, start, steps))


def model_view() -> None:
    data = resources.mnist()
    base = default_config("net2", data.source)
    st.markdown("The Fully Connected net (Net2) trained on MNIST with each optimizer; everything else equal. "
                "Runs are stored, so each is trained once (press **Train** under an optimizer).")
    c = st.columns(4)
    epochs = c[0].slider("Epochs", 1, 60, base.epochs, key="optm_epochs")
    lrs = {"sgd": c[1].select_slider("SGD lr", LRS, 0.1, key="optm_lr_sgd", format_func=lambda v: f"{v:g}"),
           "momentum": c[2].select_slider("SGD + momentum lr", LRS, 0.01, key="optm_lr_momentum",
                                          format_func=lambda v: f"{v:g}"),
           "adam": c[3].select_slider("Adam lr", LRS, base.lr, key="optm_lr_adam", format_func=lambda v: f"{v:g}")}
    momentum = c[2].slider("momentum", 0.0, 0.99, 0.9, 0.01, key="optm_momentum")
    cfgs = {o: dataclasses.replace(base, optimizer=o, lr=float(lrs[o]), epochs=int(epochs),
                                 momentum=float(momentum) if o == "momentum" else base.momentum)
            for o in OPTIMIZER_LABELS}
    missing = [o for o, cfg in cfgs.items() if resources.stored_run(cfg) is None and
               (resources.jobs().get(cfg) is None or resources.jobs().get(cfg).done.is_set())]
    if missing and st.button(f"Train all {len(missing)} missing", key="optm_train_all"):
        for o in missing:
            resources.jobs().submit(cfgs[o])
        st.rerun()
    cols = st.columns(len(cfgs))
    for col, (o, cfg) in zip(cols, cfgs.items()):
        with col:
            st.markdown(f"**{OPTIMIZER_LABELS[o]}** · lr {cfg.lr:g}")
            training_panel(cfg, key=f"optm_{o}")
    curves = []
    for o, cfg in cfgs.items():
        stored = resources.stored_run(cfg)
        if stored is not None:
            marked = "" if stored[0].status == "ok" else " · did not learn"
            curves.append(Curve.of(f"{OPTIMIZER_LABELS[o]} lr {cfg.lr:g}{marked}", stored[0].history))
    if curves:
        st.plotly_chart(run_curves(curves), key="optm_curves")
    st.caption("RMSprop is on the 2-D tab only: the app's training engine offers SGD, SGD + momentum and Adam.")


with tab_2d:
    surface_view()
with tab_model:
    model_view()
