"""Playground page widgets: TensorFlow Playground's controls (kept in the page address and the session), the
session's live network with its Play / Step / Reset, and what to try. Its pictures: ui.playground_board.

Where the network lives: each session's `Playground` (model, optimizer, data, history) sits in one process-wide
`Pool` (core.lessons.playground.pool), looked up by a random id the session keeps in its state. Session state holds
only UI state (the settings, that id, whether it plays); the pool is bounded (32 networks, idle ones dropped after
30 minutes) and nothing in it is shared between sessions. Rebuilding the network from (settings, epoch) on every
redraw was the other way: it costs the whole training again each time. The pool's one trainer thread trains the
playing networks; a redraw (a `run_every` fragment) only copies the weights and draws them.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict

import streamlit as st
import torch
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.config import ConfigError
from core.lessons.playground.address import RUN_PARAM, address, parse_address
from core.lessons.playground.config import (
    ACTIVATION_LABELS,
    BATCH_SIZES,
    DATASETS,
    DEFAULT_DATASET,
    FEATURES,
    LEARNING_RATES,
    LOSS_LABELS,
    MAX_LAYERS,
    MAX_NEURONS,
    NOISE_LEVELS,
    OPTIMIZER_CHOICES,
    PROBLEM_LABELS,
    REG_RATES,
    REGULARIZATION_LABELS,
    SEEDS,
    TRAIN_PERCENTS,
    PlaygroundConfig,
    View,
    batch_label,
)
from core.lessons.playground.live import Playground, replay
from core.lessons.playground.pool import Pool
from core.lessons.playground.run import PlaygroundRun
from core.lessons.playground.tries import TRIES
from core.optimizers import OPTIMIZER_LABELS
from ui import resources
from ui.text import md

# Session-state keys, defined once (widget keys are f"{K}_<name>"; the pictures' own: ui.playground_board)
K = "pg"
SESSION = f"{K}_session"  # this session's id in the pool
PLAYING = f"{K}_playing"
SETTINGS = f"{K}_settings"  # {"config": ..., "view": ...}: the settings last used here, restored on coming back
PENDING = f"{K}_pending"  # "reset" or "step", asked for by a button and done by the next run
OPEN_RUN = f"{K}_open_run"  # a stored run to open (from the address), once
HAD_NETWORK = f"{K}_had_network"  # this session had a network in the pool (so a missing one was dropped)
NOTICE = f"{K}_notice"  # (kind, text) shown once
VIEW_WIDGETS = {"show_test": f"{K}_show_test", "discretize": f"{K}_discretize", "edges": f"{K}_edges"}


@st.cache_resource
def pool() -> Pool:
    """The process's playground networks, one per session, and their trainer thread."""
    return Pool()


def session_id() -> str:
    return st.session_state.setdefault(SESSION, uuid.uuid4().hex)


# ---------------------------------------------------------------- settings: address, session, widgets
def _start() -> None:
    """On a session's first run here: the settings from the page address (a link, a reload), warning about any
    value that is not one of the page's, else TFP's defaults. Later runs keep the session's own settings."""
    if SETTINGS in st.session_state:
        return
    params = {k: st.query_params[k] for k in st.query_params}
    cfg, view, warnings = parse_address(params)
    for w in warnings:
        st.warning(f"Ignored {md(w, 300)}; using the default instead.", icon=":material/link_off:")
    key = params.get(RUN_PARAM)
    if key is not None:
        run = _stored_playground(key)
        if run is None:
            st.warning("The stored network named in the page address is not in this app's store (it may have been "
                       "deleted); starting a new one with the address's settings.", icon=":material/link_off:")
        else:
            cfg = run.config
            st.session_state[OPEN_RUN] = key
    _keep(cfg, view)


def _keep(cfg: PlaygroundConfig, view: View) -> None:
    st.session_state[SETTINGS] = {"config": cfg.to_dict(), "view": asdict(view)}


def _kept() -> tuple[PlaygroundConfig, View]:
    d = st.session_state[SETTINGS]
    try:
        return PlaygroundConfig.from_dict(d["config"]), View(**d["view"])
    except (ConfigError, TypeError, KeyError):  # an older session's settings: start again from the defaults
        return PlaygroundConfig(), View()


def _widget_values(cfg: PlaygroundConfig) -> dict[str, object]:
    """Every control's widget key -> its value for `cfg` (the view's toggles aside)."""
    values: dict[str, object] = {
        f"{K}_problem": cfg.problem, f"{K}_noise": cfg.noise, f"{K}_train": cfg.train_pct, f"{K}_batch": cfg.batch_size,
        f"{K}_seed": cfg.seed, f"{K}_act": cfg.activation, f"{K}_lr": cfg.lr, f"{K}_reg": cfg.regularization,
        f"{K}_rate": cfg.reg_rate, f"{K}_opt": cfg.optimizer, f"{K}_loss": cfg.loss, f"{K}_layers": len(cfg.hidden)}
    for problem in PROBLEM_LABELS:
        values[f"{K}_data_{problem}"] = cfg.dataset if DATASETS[cfg.dataset].problem == problem \
            else DEFAULT_DATASET[problem]
    values.update({f"{K}_f_{f}": f in cfg.features for f in FEATURES})
    values.update({f"{K}_n{i}": cfg.hidden[i] if i < len(cfg.hidden) else 2  # TFP adds layers of 2
                   for i in range(MAX_LAYERS)})
    return values


def _seed_widgets(cfg: PlaygroundConfig, view: View) -> None:
    """Give every widget that has no value yet (first run, a widget not drawn last run) the kept settings' value."""
    for key, value in _widget_values(cfg).items():
        st.session_state.setdefault(key, value)
    for name, key in VIEW_WIDGETS.items():
        st.session_state.setdefault(key, getattr(view, name))


def view_from_widgets() -> View:
    s = st.session_state
    return View(bool(s[VIEW_WIDGETS["show_test"]]), bool(s[VIEW_WIDGETS["discretize"]]), s[VIEW_WIDGETS["edges"]])


def controls(top, left) -> PlaygroundConfig:
    """TFP's controls -> the config they describe: Play / Step / Reset and the settings TFP puts in its top bar
    (learning rate, activation, regularization) in `top`, the problem type, data, features and layers in `left`.
    The settings follow the learner in the session and the page address."""
    _start()
    cfg0, view0 = _kept()
    _seed_widgets(cfg0, view0)
    with top:
        c = st.columns([1.15, 1.05, 1.1, 1.3, 1.2, 1.35, 1.15], vertical_alignment="bottom")
        play_buttons(c[:3])
        lr = c[3].select_slider("Learning rate", LEARNING_RATES, key=f"{K}_lr", format_func=lambda v: f"{v:g}",
                                help="Changes take effect from the next epoch, without a reset (as in TFP).")
        activation = c[4].selectbox("Activation", list(ACTIVATION_LABELS), format_func=ACTIVATION_LABELS.get,
                                    key=f"{K}_act", help="Of every hidden neuron. A change starts a new network.")
        reg = c[5].selectbox("Regularization", list(REGULARIZATION_LABELS), format_func=REGULARIZATION_LABELS.get,
                             key=f"{K}_reg")
        rate = c[6].select_slider("Reg. rate", REG_RATES, key=f"{K}_rate", format_func=lambda v: f"{v:g}",
                                  disabled=reg == "none", help="Regularization adds a penalty on the weights to the "
                                  "loss: L1 rate·Σ|w|, L2 rate·½Σw². Both change from the next epoch, no reset.")
    with left:
        problem = st.selectbox("Problem type", list(PROBLEM_LABELS), format_func=PROBLEM_LABELS.get,
                               key=f"{K}_problem")
        st.markdown("**Data**")
        names = [d for d, info in DATASETS.items() if info.problem == problem]
        dataset = st.radio("Data set", names, format_func=lambda d: DATASETS[d].label, key=f"{K}_data_{problem}",
                           label_visibility="collapsed")
        train_pct = st.select_slider("Training data (%)", TRAIN_PERCENTS, key=f"{K}_train",
                                     help="The rest are the test points.")
        noise = st.select_slider("Noise (%)", NOISE_LEVELS, key=f"{K}_noise")
        batch = st.select_slider("Batch size", BATCH_SIZES, key=f"{K}_batch", format_func=batch_label)
        seed = st.number_input("Seed", SEEDS[0], SEEDS[1], key=f"{K}_seed",
                               help="The data, the initial weights and the order of the points each epoch.")
        st.button("New data", key=f"{K}_regenerate", on_click=_regenerate, icon=":material/refresh:", width="stretch",
                  help="TFP's Regenerate: the next seed, so new points and new initial weights.")
        st.markdown("**Features**")
        fc = st.columns(2)
        features = tuple(f for i, f in enumerate(FEATURES) if fc[i % 2].checkbox(FEATURES[f].label, key=f"{K}_f_{f}"))
        st.markdown("**Hidden layers**")
        layers = int(st.number_input("Hidden layers", 0, MAX_LAYERS, key=f"{K}_layers", label_visibility="collapsed",
                                     help=f"0 to {MAX_LAYERS} (TFP's limits)"))
        hidden = tuple(int(st.number_input(f"Neurons in layer {i + 1}", 1, MAX_NEURONS, key=f"{K}_n{i}"))
                       for i in range(layers))
        optimizer = st.selectbox("Optimizer", OPTIMIZER_CHOICES, key=f"{K}_opt",
                                 format_func=lambda o: OPTIMIZER_LABELS[o] + (" (TFP's)" if o == "sgd" else ""))
        loss = "mse"
        if problem == "classification":
            loss = st.selectbox("Loss", list(LOSS_LABELS), format_func=LOSS_LABELS.get, key=f"{K}_loss",
                                help="TFP's: ½·(tanh output − label)² with labels ±1. Cross-entropy: "
                                     "BCEWithLogitsLoss on the output as a logit, labels 0/1.")
    cfg = PlaygroundConfig(problem=problem, dataset=dataset, noise=int(noise), train_pct=int(train_pct),
                           batch_size=int(batch), features=features, hidden=hidden, activation=activation,
                           lr=float(lr), regularization=reg, reg_rate=float(rate), optimizer=optimizer, loss=loss,
                           seed=int(seed))
    view = view_from_widgets()
    _keep(cfg, view)
    st.query_params.from_dict(address(cfg, view))
    return cfg


def _regenerate() -> None:
    st.session_state[f"{K}_seed"] = (int(st.session_state.get(f"{K}_seed", 0)) + 1) % (SEEDS[1] + 1)


def apply_settings(cfg: PlaygroundConfig) -> None:
    """Put `cfg` in every control (from a button's callback) and start a new network with it, paused."""
    for key in _widget_values(cfg):
        st.session_state.pop(key, None)  # seeded again from the kept settings on the next run
    _keep(cfg, _kept()[1])
    st.session_state[PENDING] = "reset"
    st.session_state[PLAYING] = False


# ---------------------------------------------------------------- the session's network
def _stored_playground(key: str) -> PlaygroundRun | None:
    """The stored playground run with this key, if the store has one (the key from an address is only compared)."""
    for s in resources.store().summaries(kind="playground"):
        if s.key == key:
            return s.config
    return None


def _open(run: PlaygroundRun) -> Playground:
    """A stored run's network, trained again from its seed (the same numbers: training here is deterministic)."""
    bar = st.progress(0.0, text=f"Opening the stored network: training its {run.epochs:,} epochs again…")
    every = max(1, run.epochs // 50)

    def progress(epoch: int, total: int) -> None:
        if epoch % every == 0 or epoch == total:
            bar.progress(epoch / total, text=f"Opening the stored network: epoch {epoch:,} of {total:,}…")

    pg = replay(run, progress)
    bar.empty()
    stored = resources.store().load(run)
    if stored is not None and not all(torch.allclose(pg.model.state_dict()[k], v, atol=1e-5)
                                      for k, v in stored.state.items()):
        pg.load_weights(stored.state)  # another machine or PyTorch version rounds differently: the stored ones win
        st.session_state[NOTICE] = ("info", "Trained again here, this network came out slightly different from the "
                                            "stored one (another machine or PyTorch version); the stored weights "
                                            "are shown, the curves are this machine's.")
    return pg


def _owner() -> str:
    """The server's id of this session's connection ("" outside a server)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def _sweep(p: Pool) -> None:
    """Drop the networks of sessions that closed (a tab closed a minute ago) so memory stays flat."""
    if Runtime.exists():
        p.sweep(Runtime.instance().is_active_session)


def network(cfg: PlaygroundConfig) -> Playground:
    """The session's network for `cfg`: the same one while only the live settings change (they are applied from
    its next epoch), a new one (paused) when anything else changes or Reset was pressed."""
    sid, p = session_id(), pool()
    _sweep(p)
    pg = p.get(sid)
    pending = st.session_state.pop(PENDING, None)
    if pg is None and st.session_state.get(HAD_NETWORK):
        st.session_state[NOTICE] = ("info", "This network was idle for a long time (or the server made room for "
                                            "others) and was set aside: it starts again from epoch 0.")
    opening = st.session_state.pop(OPEN_RUN, None)
    if opening is not None and (run := _stored_playground(opening)) is not None and run.config == cfg:
        pg = _open(run)
        p.put(sid, pg, _owner())
        st.session_state[PLAYING] = False
    elif pg is None or pending == "reset" or pg.cfg.structure() != cfg.structure():
        pg = Playground(cfg)
        p.put(sid, pg, _owner())
        st.session_state[PLAYING] = False
    else:
        pg.set_live(cfg)
    st.session_state[HAD_NETWORK] = True
    if pending == "step":
        p.pause(sid)
        st.session_state[PLAYING] = False
        pg.train(1)
    return pg


def _play() -> None:
    st.session_state[PLAYING] = True


def _pause() -> None:
    st.session_state[PLAYING] = False
    pool().pause(session_id())


def _ask(what: str) -> None:
    st.session_state[PENDING] = what
    _pause()


def play_buttons(cols) -> None:
    """Play / Pause, Step and Reset (TFP's three buttons), one per column."""
    playing = st.session_state.setdefault(PLAYING, False)
    if playing:
        cols[0].button("Pause", key=f"{K}_pause", on_click=_pause, icon=":material/pause:", width="stretch")
    else:
        cols[0].button("Play", key=f"{K}_play", on_click=_play, icon=":material/play_arrow:", type="primary",
                       width="stretch")
    cols[1].button("Step", key=f"{K}_step", on_click=_ask, args=("step",), icon=":material/skip_next:",
                   width="stretch", help="Pause, and train one epoch.")
    cols[2].button("Reset", key=f"{K}_reset", on_click=_ask, args=("reset",), icon=":material/restart_alt:",
                   width="stretch", help="A new network from the seed: the same initial weights, epoch 0.")


# ---------------------------------------------------------------- what to try
def what_to_try() -> None:
    """TFP's classic lessons, one button each: the settings go into the controls; press Play."""
    for t in TRIES:
        c1, c2 = st.columns([1, 3], vertical_alignment="center")
        c1.button(t.title, key=f"{K}_try_{t.key}", on_click=apply_settings, args=(t.config,), width="stretch")
        c2.markdown(t.text)

