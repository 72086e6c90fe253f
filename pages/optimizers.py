"""Optimizers: real torch.optim optimizers on 2-D loss surfaces, then on the Fully Connected net."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import dataclasses

import streamlit as st

from core.errors import InputError
from core.figures import optim as optim_figures
from core.figures.training import Curve, run_curves
from core.lessons.optim2d import (
    DEFAULT_LR,
    LEARNING_RATES,
    STILL_ON_ITS_WAY,
    SURFACE_LABELS,
    OptimSpec,
    Surface,
    check_settings,
    optim_code,
)
from core.optimizers import OPTIMIZER_LABELS
from core.optimizers import SURFACE_OPTIMIZER_LABELS as OPT_LABELS  # the 2-D surfaces offer RMSprop too
from core.training.config import default_config
from ui import address, optim, resources
from ui.code import code_panel
from ui.errors import show_input_error
from ui.path import next_step
from ui.training import LR_CHOICES, pick_stored_run, submit, training_panel, untrained

SURFACES, REAL = "opt", "optm"  # widget-key prefixes: 2-D surfaces, the real network

ensure_navigation()
st.title(":material/landscape: Optimizers")
st.caption("Paths come from `torch.optim` itself: a 2-element parameter tensor, `loss.backward()`, "
           "`optimizer.step()` — as in any training loop.")
tab_2d, tab_model = address.tabs(SURFACES, ["On a 2-D loss surface",
                                                     "On the real model (Fully Connected net)"])
LRS = [*LR_CHOICES, 100.0]  # the training controls' choices, plus one that always diverges


def _tuned(surface: str) -> None:
    """Put every learning-rate slider of `surface` back at its tuned default."""
    st.session_state.update({f"opt_lr_{surface}_{o}": DEFAULT_LR[surface][o] for o in OPT_LABELS})


@st.fragment
def surface_view() -> None:
    optim.warm_default_races()  # the other surfaces' default races, computed in the background
    w = optim.race_address(Surface()).controls({"surface": "bowl", "cond": 10.0, "momentum": 0.9,
                                                "chosen": list(OPT_LABELS)})
    c1, c2, c3, c4 = st.columns(4)
    name = c1.selectbox("Surface", list(SURFACE_LABELS), format_func=SURFACE_LABELS.get, key=w["surface"])
    cond = c2.slider("Conditioning (steep ÷ flat)", 1.0, 50.0, step=1.0, key=w["cond"], disabled=name != "bowl",
                     help="Bowl only: the ratio of the steepest to the flattest curvature.")
    momentum = c3.slider("Momentum β", 0.0, 0.99, step=0.01, key=w["momentum"],
                         help="SGD + momentum only: the share of the last step kept in the next.")
    surface = Surface(name, cond if name == "bowl" else 10.0)
    here = optim.race_address(surface)
    sx, sy = surface.default_start
    keys = optim.race_keys(name)
    w |= here.controls({"steps": surface.default_steps, "sx": sx, "sy": sy,
                        **{f"lr_{o}": DEFAULT_LR[name][o] for o in OPT_LABELS}}, keys)
    steps = c4.slider("Steps", 1, optim.MAX_STEPS, key=w["steps"])
    p1, p2 = st.columns([3, 1], vertical_alignment="bottom")
    picked = p1.pills("Optimizers", list(OPT_LABELS), selection_mode="multi", format_func=OPT_LABELS.get,
                      key=w["chosen"])  # every chosen one stays visible
    chosen = [o for o in OPT_LABELS if o in (picked or ())]  # always in the table's order
    p2.button("Tuned rates", icon=":material/tune:", key=f"{SURFACES}_tuned", on_click=_tuned, args=(name,),
              help="Every learning rate back at its tuned default for this surface.")
    lrs = {}
    for col, o in zip(st.columns(len(OPT_LABELS)), chosen):  # one learning rate per chosen optimizer, in a row
        lrs[o] = col.select_slider(f"{OPT_LABELS[o]} learning rate", LEARNING_RATES, key=w[f"lr_{o}"],
                                   format_func=lambda v: f"{v:g}")
    specs = {o: OptimSpec(o, float(lrs[o]), momentum) for o in chosen}
    s1, s2 = st.columns(2)
    start = (s1.slider("Start x", *surface.xrange, step=0.05, key=w["sx"]),
             s2.slider("Start y", *surface.yrange, step=0.05, key=w["sy"]))
    st.latex(surface.latex())
    chart = st.container()  # the paths, drawn once the step slider below them is read
    here = optim.race_address(surface, steps)
    at_key = optim.race_keys(name, steps)
    w |= here.controls({"at": steps}, at_key)
    at = st.slider("Show the race at step", 0, steps, key=w["at"],
                   help="Each optimizer's marker is where it is after this many steps; drag to replay the race.")
    shown = {"surface": name, "momentum": momentum, "chosen": chosen, "steps": steps, "sx": start[0],
             "sy": start[1], "at": at, **{f"lr_{o}": lrs[o] for o in chosen}}
    if name == "bowl":
        shown["cond"] = cond
    here.mirror(shown, at_key)
    short = [OPT_LABELS[o] for o in chosen if (name, o) in STILL_ON_ITS_WAY]
    st.caption(f"A fair race: each optimizer at its own tuned learning rate for this surface (one with which it "
               f"reaches the minimum within the default {surface.default_steps:,} steps), from the same start, for "
               "the same number of steps." + "".join(f" {o} is the exception here: even its best stable rate is still "
                                                    "on its way (see below)." for o in short))
    try:
        for spec in specs.values():
            check_settings(spec, steps, start)
        trajs = {o: optim.optim_trajectory(surface, spec, start, steps) for o, spec in specs.items()}
    except InputError as e:
        show_input_error(e, "Can't run these settings")
        return
    legend = {o: f"{OPT_LABELS[o]} · lr {specs[o].lr:g}" for o in trajs}
    xs, ys, Z = optim.surface_grid(surface)
    title = f"{SURFACE_LABELS[name]} · step {at} of {steps} · each optimizer at its own learning rate"
    chart.plotly_chart(optim_figures.contour_paths(xs, ys, Z, {legend[o]: t.path for o, t in trajs.items()},
                                                   surface.minima, name == "rosenbrock", title, at=at),
                       key=f"{SURFACES}_contour")
    if not trajs:
        st.info("Pick at least one optimizer.")
        return
    for t in trajs.values():
        verdict = optim.optim_diagnosis(surface, t, start)
        (st.warning if verdict.warn else st.caption)(verdict.text)
    losses = {legend[o]: t.losses for o, t in trajs.items()}
    st.plotly_chart(optim_figures.loss_per_step(losses, log_y=name != "saddle", at=at), key=f"{SURFACES}_losscurve")
    code_key = here.controls({"code_for": next(iter(trajs))})["code_for"]
    if st.session_state[code_key] not in trajs:  # an optimizer taken out of the race
        st.session_state[code_key] = next(iter(trajs))
    which = st.selectbox("Code for", list(trajs), format_func=OPT_LABELS.get, key=code_key)
    here.mirror({"code_for": which}, partial=True)
    code_panel(optim_code(surface, trajs[which].spec, start, steps))


def model_view() -> None:
    data = resources.mnist()
    st.markdown("The Fully Connected net (Net2) trained on MNIST with each optimizer; everything else equal to "
                "the stored run you pick. Runs are stored, so each is trained once (press **Train** under an "
                "optimizer).")
    base = pick_stored_run("net2", key=f"{REAL}_base") or default_config("net2", data.source)
    lr0 = {"sgd": 0.1, "momentum": 0.01, "adam": 0.001} | ({base.optimizer: base.lr} if base.lr in LRS else {})
    here = address.Address(REAL, {"epochs": address.slider("m_ep", "epochs", 1, 60, whole=True),
                                  "momentum": address.slider("m_mom", "momentum", 0.0, 0.99),
                                  **{f"lr_{o}": address.choice(f"m_lr_{o}", f"lr_{o}", LRS, float, address.number)
                                     for o in OPTIMIZER_LABELS}})
    defaults = {"epochs": base.epochs, "momentum": min(base.momentum, 0.99), **{f"lr_{o}": lr0[o] for o in lr0}}
    if st.session_state.get(f"{REAL}_base_applied") not in (None, base.key()):
        # the learner picked another run: the controls start again from its settings and its learning rate
        st.session_state.update({here.key(n): v for n, v in defaults.items()})
    st.session_state[f"{REAL}_base_applied"] = base.key()
    w = here.controls(defaults)
    c = st.columns(4)
    epochs = c[0].slider("Epochs", 1, 60, key=w["epochs"])
    lrs = {o: c[i].select_slider(f"{OPTIMIZER_LABELS[o]} lr", LRS, key=w[f"lr_{o}"], format_func=lambda v: f"{v:g}")
           for i, o in enumerate(OPTIMIZER_LABELS, 1)}
    momentum = c[2].slider("momentum", 0.0, 0.99, step=0.01, key=w["momentum"])
    here.mirror({"epochs": epochs, "momentum": momentum, **{f"lr_{o}": lrs[o] for o in lrs}})
    cfgs = {o: dataclasses.replace(base, optimizer=o, lr=float(lrs[o]), epochs=int(epochs),
                                 momentum=float(momentum) if o == "momentum" else base.momentum)
            for o in OPTIMIZER_LABELS}
    missing = [o for o, cfg in cfgs.items() if untrained(cfg)]
    if missing and st.button(f"Train all {len(missing)} missing", key=f"{REAL}_train_all"):
        for o in missing:
            submit(cfgs[o])
        st.rerun()
    cols = st.columns(len(cfgs))
    for col, (o, cfg) in zip(cols, cfgs.items()):
        with col:
            st.markdown(f"**{OPTIMIZER_LABELS[o]}** · lr {cfg.lr:g}")
            training_panel(cfg, key=f"{REAL}_{o}", remember=False)
    curves = []
    for o, cfg in cfgs.items():
        stored = resources.stored_run(cfg)
        if stored is not None:
            marked = "" if stored[0].status == "ok" else " · did not learn"
            curves.append(Curve.of(f"{OPTIMIZER_LABELS[o]} lr {cfg.lr:g}{marked}", stored[0].history))
    if curves:
        st.plotly_chart(run_curves(curves), key=f"{REAL}_curves")
    st.caption("RMSprop is on the 2-D tab only: the app's training engine offers SGD, SGD + momentum and Adam.")


with tab_2d:
    surface_view()
with tab_model:
    model_view()

next_step(__file__)
