"""Playground page pictures: the epoch counter, network diagram, output and loss curve, redrawn by a `run_every`
fragment while playing (one session's redraw at a time, at its own period), typing an edge's weight, and saving the
network as a run. The controls and the session's network: ui.playground.
"""
from __future__ import annotations

import random
import time
from functools import partial

import streamlit as st
import torch

from core.config import device_label
from core.errors import InputError
from core.figures import playground as figures
from core.fmt import num
from core.lessons.playground.address import address
from core.lessons.playground.advice import verdicts
from core.lessons.playground.code import program
from core.lessons.playground.config import PlaygroundConfig
from core.lessons.playground.live import Playground, Snapshot
from core.lessons.playground.run import WEIGHT_LIMIT, Edit
from core.runs.playground import playground_run
from ui import resources
from ui.code import code_panel
from ui.playground import NOTICE, PLAYING, VIEW_WIDGETS, K, pool, session_id, view_from_widgets
from ui.plotly_select import clicked_point

TICK_S = 0.5  # while playing the page redraws at least twice a second (a redraw: about 30 ms of server time)
# Each session redraws at its own period in [TICK_S - TICK_SPREAD_S, TICK_S]: timers of one period keep their phase,
# so sessions that pressed Play in the same instant would ask at the same moments for ever; apart, they drift.
TICK_SPREAD_S = 0.08

# Session-state keys of the pictures (the page's others: ui.playground)
PERIOD = f"{K}_period"  # this session's seconds between two redraws while playing
WEIGHT = f"{K}_weight"  # the weight box's number


# ---------------------------------------------------------------- the pictures (redrawn live while playing)
def board(pg: Playground) -> None:
    """The epoch counter, losses, network diagram, output and loss curve: redrawn about twice a second while
    playing."""
    kind, text = st.session_state.pop(NOTICE, (None, ""))
    if kind:
        st.info(text, icon=":material/info:")
    if st.session_state.get(PLAYING):
        period = st.session_state.setdefault(PERIOD, TICK_S - random.uniform(0.0, TICK_SPREAD_S))
        with pool().drawing():  # before the fragment starts its timer: pages that pressed Play together queue here
            st.fragment(_ticking, run_every=period)()
    else:
        _still()


def _ticking() -> None:
    _draw(playing=True)


@st.fragment
def _still() -> None:
    _draw(playing=False)


def _clicked(key: str, pick: str, edge_pick: str) -> None:
    """A click on the diagram: a neuron ([layer, index]) is enlarged, an edge ([layer, neuron, source]) is chosen to
    type its weight."""
    point = clicked_point(key)
    if point is not None and len(point) == 2:
        st.session_state[pick] = point
    elif point is not None and len(point) == 3:
        st.session_state[edge_pick] = point
        _edge_chosen(edge_pick)


def _edge_chosen(edge_pick: str) -> None:
    """Start the weight box at the chosen edge's weight now."""
    edge, pg = st.session_state.get(edge_pick), pool().get(session_id())
    if edge is not None and pg is not None:
        layer, neuron, source = edge
        st.session_state[WEIGHT] = round(float(pg.snapshot().state[f"{2 * layer}.weight"][neuron, source]), 4)


def _type_weight(edge_pick: str) -> None:
    edge, pg = st.session_state.get(edge_pick), pool().get(session_id())
    if edge is not None and pg is not None:
        pg.set_weight(Edit(*edge, float(st.session_state[WEIGHT])))


def weight_box(cfg: PlaygroundConfig, edge_pick: str) -> None:
    """TFP's "click an edge to type a weight": the edge (clicked, or picked here) and its new weight."""
    edges = [(layer, j, i) for layer in range(len(cfg.sizes) - 1) for j in range(cfg.sizes[layer + 1])
             for i in range(cfg.sizes[layer])]
    if st.session_state.get(edge_pick) is not None and tuple(st.session_state[edge_pick]) not in edges:
        del st.session_state[edge_pick]
    edge = st.selectbox("Type a weight", edges, index=None, key=edge_pick, placeholder="Click an edge, or pick one…",
                        format_func=lambda e: f"{figures.node_name(e[0], e[2], cfg)} → "
                                              f"{figures.node_name(e[0] + 1, e[1], cfg)}",
                        on_change=_edge_chosen, args=(edge_pick,))
    if edge is None:
        return
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    c1.number_input("New weight", -WEIGHT_LIMIT, WEIGHT_LIMIT, step=0.1, format="%.3f", key=WEIGHT)
    c2.button("Set", key=f"{K}_set_weight", on_click=_type_weight, args=(edge_pick,), width="stretch",
              help="Into the network now; replaying the run (and the program below) types it too.")


def _status(snap: Snapshot) -> None:
    """TFP's counters: the epoch, the training and test loss (and test accuracy)."""
    acc = f" · test accuracy **{100 * snap.test_acc[-1]:.1f}%**" if snap.cfg.problem == "classification" else ""
    st.markdown(f"#### Epoch {snap.epoch:07,d}\ntraining loss **{snap.train_loss[-1]:.3f}** · test loss "
                f"**{snap.test_loss[-1]:.3f}**{acc}",
                help="One epoch = every training point once, in batches (TFP's step). Losses over all training "
                     "and all test points.")


def _draw(playing: bool) -> None:
    with pool().drawing() as since:
        _draw_all(playing, since)


def _draw_all(playing: bool, since: float) -> None:
    """`since`: when this run asked to draw (the caption's time counts the wait for other sessions' redraws)."""
    sid, p = session_id(), pool()
    pg = p.get(sid)
    if pg is None:  # set aside meanwhile: the full page makes a new one
        st.rerun(scope="app")
    if playing:
        if pg.stopped:
            st.session_state[PLAYING] = False
            st.rerun(scope="app")
        p.play(sid)
    snap = pg.snapshot()
    cfg = snap.cfg
    _status(snap)
    look = pg.viewer.look(cfg, snap.state, pg.data)
    train = (pg.data.train_xy.numpy(), pg.data.train_y[:, 0].numpy())
    test = (pg.data.test_xy.numpy(), pg.data.test_y[:, 0].numpy())
    pick = f"{K}_neuron_{cfg.structure().key()}"  # keyed by the network's shape: its neurons and edges
    edge_pick = f"{K}_edge_{cfg.structure().key()}"
    nodes = [(layer, i) for layer, n in enumerate(cfg.sizes) for i in range(n)]
    if st.session_state.get(pick) is not None and tuple(st.session_state[pick]) not in nodes:
        del st.session_state[pick]
    net, out = st.columns([1.35, 1], gap="medium")
    with net:
        if st.session_state[VIEW_WIDGETS["edges"]] is None:  # a segmented control can be clicked off
            st.session_state[VIEW_WIDGETS["edges"]] = "weight"
        view = view_from_widgets()
        st.plotly_chart(figures.network(look, cfg, view, st.session_state.get(pick), st.session_state.get(edge_pick),
                                        edge_points=not playing),
                        key=f"{K}_network", on_select=partial(_clicked, f"{K}_network", pick, edge_pick),
                        selection_mode="points", config={"displayModeBar": False})  # its toolbar hid the headings
        st.segmented_control("Edges show", ["weight", "gradient"], key=VIEW_WIDGETS["edges"],
                             format_func={"weight": "weight w", "gradient": "gradient ∂loss/∂w"}.get)
        edges = ("Edges: width |w|, red positive, blue negative." if view.edges == "weight" else
                 "Edges: width |∂loss/∂w| over all training points (what backward() hands the optimizer), red "
                 "positive (the next step lowers that weight), blue negative.")
        st.caption("Each square is one neuron's output over the whole input plane (the plane of the output picture, "
                   f"−6 to 6), blue negative, red positive. {edges} Hover for numbers; click a neuron to enlarge it"
                   + (" (pause to read or type an edge's weight)." if playing else ", an edge to type its weight."))
        chosen = st.selectbox("Enlarge a neuron", nodes, index=None, key=pick, placeholder="Pick a neuron…",
                              format_func=lambda n: figures.node_name(n[0], n[1], cfg))
        if chosen is not None:
            st.plotly_chart(figures.neuron(look, cfg, chosen[0], chosen[1], train), key=f"{K}_neuron_big")
        if not playing:  # typing a weight is done paused: its list has an entry per edge (up to 384)
            weight_box(cfg, edge_pick)
    with out:
        st.plotly_chart(figures.boundary(look, cfg, view, train, test, title="Output" + (
            " (its sign)" if view.discretize else "")), key=f"{K}_boundary")
        st.toggle("Show test data", key=VIEW_WIDGETS["show_test"], help="The test points, with a black outline.")
        st.toggle("Discretize output", key=VIEW_WIDGETS["discretize"], help="Only the output's sign: the class.")
        st.caption("Colour: the output, blue −1, white 0, red +1. Points: training (white outline)"
                   + (", test (black outline)" if view.show_test else "")
                   + (". Black line: the decision boundary, output 0." if cfg.problem == "classification" else "."))
        st.plotly_chart(figures.loss_curves(snap.train_loss, snap.test_loss, snap.baseline), key=f"{K}_curve")
    st.query_params.update({k: v for k, v in address(cfg, view).items() if k in ("test", "discretize", "edges")})
    for verdict in verdicts(snap, look):
        {"error": st.error, "warning": st.warning, "info": st.info}[verdict.level](
            verdict.text, icon={"error": ":material/error:", "warning": ":material/warning:",
                                "info": ":material/info:"}[verdict.level])
    if playing:  # both describe one epoch, and the epoch changes twice a second
        st.caption("Pause to save this network as a run or to see its PyTorch program.")
    else:
        save_panel(snap)
        code_panel(program(cfg, snap.segments), caption="Run as is, it makes the same points and trains the same "
                   "network, and prints the losses shown above (the page and the program share the data recipe).")
    st.caption(f"Redrawn in {1000 * (time.perf_counter() - since):.0f} ms"
               + (f" · training at {snap.rate:.0f} epochs/s" if playing and snap.rate else "")
               + f" · {snap.train_s:.1f} s spent training")


# ---------------------------------------------------------------- a stored run
def save_panel(snap: Snapshot) -> None:
    """Save the network as a run (Training runs lists it; its link opens it here again)."""
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    if c1.button("Save as a run", key=f"{K}_save", icon=":material/save:",
                 help="Store this network (weights, losses, settings) in the run store: Training runs lists it."):
        try:
            run = playground_run(snap, device_label(torch.device("cpu")))
            resources.store().save(run)
        except InputError as e:
            c2.warning(str(e), icon=":material/warning:")
        except OSError as e:  # a read-only or full disk: say so, the network stays as it is
            c2.error(f"Not saved: the run store cannot be written ({e.strerror or type(e).__name__}). The network "
                     "is still here; free some space or set PTCE_HOME to a writable folder.", icon=":material/error:")
        else:
            c2.success(f"Saved: {snap.epoch:,} epochs, test loss {num(run.metrics['test_loss'])}. Training runs "
                       "lists it; its link opens it here again.", icon=":material/check_circle:")
