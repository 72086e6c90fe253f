"""Shared training widgets: config controls, the Train / progress / stored-run panel,
run overlays. Used by every page that trains a model."""
from __future__ import annotations

import time

import streamlit as st
import torch

from core.config import ConfigError
from core.figures.training import Curve, live_loss, run_curves
from core.fmt import num
from core.models.registry import Arch, ModelConfig, architecture
from core.optimizers import OPTIMIZER_LABELS
from core.runs.jobs import STOPPED
from core.runs.store import RunSummary
from core.training.analysis import Note, overfitting
from core.training.config import ADDRESS, TRAIN_BOUNDS, TrainConfig, default_config
from core.training.estimate import (
    TIMINGS_FILE,
    Estimate,
    Overheads,
    estimate,
    load_start_times,
    past_run,
    save_start_times,
    time_eval,
    time_steps,
    worker_wait,
)
from core.training.loop import REPORT_S, check_config, diagnose
from core.training.record import STATUS_LABELS, Run
from core.training.validation import curve_split, held_out, split_text
from ui import address, resources
from ui.text import md

HIDDEN_CHOICES = [16, 32, 64, 128, 256, 512]
LR_CHOICES = [1e-4, 3e-4, 1e-3, 3e-3, 5e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
BATCH_CHOICES = [16, 32, 64, 128, 256, 512, 1024, 4096, 8192]


# Session-state keys, defined once. The training settings themselves are kept by ui.address (session + URL).
ESTIMATES_STATE = "estimates"  # {config key: (estimated seconds, time of the Train press)} of this learner's runs
LATEST_STATE = "latest_runs"  # {arch: config key of the run this learner trained or looked at last}
TRAINED_HERE_STATE = "trained_here"  # {config key: "you pressed Train at 10:02:03"} of runs trained for this learner
REFRESH_S = REPORT_S  # the progress line redraws as often as the worker reports (core.training.loop.REPORT_S)
# The live curve redraws once a second: building its figure is most of a watching session's tick (bench/NOTES.md).
CURVE_REFRESH_S = 1.0

# TrainConfig field (hidden: of its ModelConfig) -> its control; the address names come from core (ADDRESS), so the
# Training runs page's links (core.training.config.address) and these controls read the same parameters.
SETTINGS: dict[str, address.Setting] = {
    "hidden": address.choice(ADDRESS["hidden"], "hidden", HIDDEN_CHOICES, int),
    "optimizer": address.choice(ADDRESS["optimizer"], "optimizer", list(OPTIMIZER_LABELS)),
    "lr": address.choice(ADDRESS["lr"], "lr", LR_CHOICES, float, address.number),
    "batch_size": address.choice(ADDRESS["batch_size"], "batch", BATCH_CHOICES, int),
    "epochs": address.slider(ADDRESS["epochs"], "epochs", *TRAIN_BOUNDS.epochs, whole=True),
    "seed": address.slider(ADDRESS["seed"], "seed", *TRAIN_BOUNDS.seed, whole=True),
}


@st.cache_data(show_spinner="Timing a few training steps for the estimate…", max_entries=64)
def step_seconds(model: ModelConfig, optimizer: str, batch_size: int, device_name: str) -> float:
    """Measured seconds per optimizer step for this model and batch (a few real steps on random data)."""
    return time_steps(model, optimizer, batch_size, torch.device(device_name))


@st.cache_data(show_spinner=False, max_entries=64)
def eval_seconds(model: ModelConfig, device_name: str) -> float:
    """Measured seconds per example of an evaluation pass of this model."""
    return time_eval(model, torch.device(device_name))


@st.cache_resource
def overheads() -> Overheads:
    """What this server has learned from the runs it watched land (core.training.estimate.Overheads)."""
    return Overheads()


def pool():
    """The server's worker pool (ui.resources.jobs)."""
    return resources.jobs()


@st.cache_resource
def _start_times() -> dict:
    """Worker start times: those saved by earlier servers on this machine, and how many of this pool's are saved."""
    return {"saved": load_start_times(resources.paths().root / TIMINGS_FILE), "mine": 0}


def wait_s() -> float:
    """What a run submitted now waits for a training worker to finish starting: as long as workers took to start
    on this machine (this server's, then earlier servers'), less the time the starting one has had."""
    jobs, known = pool(), _start_times()
    mine = list(jobs.start_s)
    if len(mine) > known["mine"]:  # a worker started since: remembered for the next server too
        known["mine"] = len(mine)
        save_start_times(resources.paths().root / TIMINGS_FILE, known["saved"] + mine)
    return worker_wait(jobs.starting_s(), known["saved"] + mine)


def seconds(s: float) -> str:
    """An estimate's seconds: whole above 10 ("~23"), one decimal below ("~2.9")."""
    return f"{s:.0f}" if s >= 10 else f"{s:.1f}"


def estimate_for(cfg: TrainConfig) -> Estimate:
    """What pressing Train on `cfg` will cost, from timed steps, this machine's stored runs and the landings seen."""
    data, dev = resources.mnist(), resources.device()
    n_val = held_out(data.train.labels)
    n_train = len(data.train) - n_val
    step_s = step_seconds(cfg.model, cfg.optimizer, min(cfg.batch_size, n_train), str(dev))
    past = [past_run(s.config, s.metrics) for s in resources.stored_runs(cfg.model.arch)
            if s.metrics.get("device") == str(dev)]
    return estimate(cfg, n_train, n_val, len(data.test), step_s, eval_seconds(cfg.model, str(dev)), past,
                    wait_s(), overheads().setup_s())


def config_controls(arch: Arch, key: str, model: ModelConfig | None = None) -> TrainConfig:
    """Hyperparameter widgets (explicit keys, so tests can drive them) -> the TrainConfig they describe.

    `model`: the spec to train (default: the entry's default spec); the hidden-units control appears only for
    entries whose model it changes. The settings follow the learner across pages (session state) and are
    mirrored in the page URL, so a link, bookmark or reload reproduces them exactly (ui.address)."""
    data = resources.mnist()
    d = default_config(arch, data.source, model)
    uses_hidden = architecture(arch).uses_hidden
    here = address.Address(key, SETTINGS)
    defaults = {"hidden": d.model.hidden, "optimizer": d.optimizer, "lr": d.lr, "batch_size": d.batch_size,
                "epochs": d.epochs, "seed": d.seed}
    if not uses_hidden:
        del defaults["hidden"]
    w = here.controls(defaults)
    with st.container(border=True):
        st.markdown("**Training settings** — moving a control never retrains; press **Train** to train.")
        c1, c2, c3 = st.columns(3)
        hidden = c1.select_slider("Hidden units (fc1)", HIDDEN_CHOICES, key=w["hidden"]) if uses_hidden \
            else d.model.hidden
        optimizer = c2.selectbox("Optimizer", SETTINGS["optimizer"].choices, format_func=OPTIMIZER_LABELS.get,
                                 key=w["optimizer"])
        lr = c3.select_slider("Learning rate", LR_CHOICES, key=w["lr"], format_func=lambda v: f"{v:g}")
        batch = c1.select_slider("Batch size", BATCH_CHOICES, key=w["batch_size"])
        epochs = c2.slider("Epochs", *TRAIN_BOUNDS.epochs, key=w["epochs"])
        seed = c3.number_input("Seed", *TRAIN_BOUNDS.seed, key=w["seed"])
    spec = ModelConfig(arch=arch, hidden=int(hidden)) if uses_hidden else d.model
    cfg = TrainConfig(model=spec, optimizer=optimizer, lr=float(lr), batch_size=int(batch), epochs=int(epochs),
                      seed=int(seed), data_source=data.source)
    values = {"hidden": cfg.model.hidden, "optimizer": cfg.optimizer, "lr": cfg.lr, "batch_size": cfg.batch_size,
              "epochs": cfg.epochs, "seed": cfg.seed}
    here.mirror({n: values[n] for n in defaults})
    return cfg


def _waiting_text(ahead: int) -> str:
    if ahead == 0:
        return "Waiting for a free training worker: this run is next in line."
    return f"Waiting for a free training worker: {ahead} run{'s' if ahead > 1 else ''} ahead of this one."


def _eta_text(job) -> str:
    """A live estimate from the steps this run actually took (replaces the pre-run estimate)."""
    done = len(job.step_loss)
    if not done or job.elapsed_s <= 0:
        return ""
    left = job.elapsed_s / done * (job.total_steps - done)
    return f" · about {left:.0f} s left" if left >= 1 else " · finishing"


@st.fragment(run_every=REFRESH_S)
def _progress_view(cfg: TrainConfig, key: str) -> None:
    jobs = pool()
    job = jobs.get(cfg)
    landed = resources.stored_run(cfg) is not None  # even if a worker's message was lost (stored_run stats first)
    if job is None or job.done.is_set() or landed:
        st.rerun()  # the whole page now shows the finished run (or the failure)
        return
    # Trained now for this learner too, whether their Train press started the job or met it running (six
    # learners pressing Train on one config make one job; the page shows them all its progress, not a button)
    trained_here = st.session_state.setdefault(TRAINED_HERE_STATE, {})
    trained_here.setdefault(cfg.key(), f"you watched it train from {time.strftime('%X')}")
    watched = st.session_state.get(ESTIMATES_STATE, {}).get(cfg.key())
    if watched is not None:
        watched["seen_running"] = time.time()  # the landing this page sees next is timely (it was watching)
    ahead = jobs.position(job)
    if ahead is not None:
        st.info(_waiting_text(ahead), icon=":material/hourglass_top:")
    elif not job.total_steps:
        st.progress(0.0, text="Starting: the training worker is getting the model and data ready…")
    else:
        label = f"Epoch {job.epoch}/{cfg.epochs} · step {len(job.step_loss)}/{job.total_steps}"
        if job.val_acc:
            label += f" · validation accuracy {100 * job.val_acc[-1]:.1f}%"
        st.progress(job.fraction, text=label + _eta_text(job))
    if st.button("Stop training", key=f"{key}_stop", icon=":material/stop_circle:"):
        jobs.stop(job)  # kills its worker at once; nothing is stored
        trained_here.pop(cfg.key(), None)
        st.rerun()


@st.fragment(run_every=CURVE_REFRESH_S)
def _live_curve(cfg: TrainConfig, key: str) -> None:
    """The loss so far, below the progress line (which reruns the page once the run has ended)."""
    job = resources.jobs().get(cfg)
    if job is not None and job.step_loss:
        st.plotly_chart(live_loss(list(job.step_loss), job.total_steps), key=f"{key}_live")


def remember_latest(cfg: TrainConfig) -> None:
    """This learner's latest run of cfg's architecture: the default of every "pick a stored run" control."""
    st.session_state.setdefault(LATEST_STATE, {})[cfg.model.arch] = cfg.key()


def _stored_banner(cfg: TrainConfig, run: Run) -> None:
    m = run.metrics  # numbers through core.fmt and the device escaped: the record is a file, and files are hostile
    facts = (f"test accuracy **{num(100 * m['test_acc'], 2)}%**, trained in {num(m['train_s'], 1)} s "
             f"on {md(m['device'])} ({num(m['samples_per_s'], 0)} samples/s)")
    trained_here = st.session_state.get(TRAINED_HERE_STATE, {}).get(cfg.key())
    if run.status == "did-not-learn":
        st.warning(f"Stored run loaded, marked **did not learn**: {facts}. Pages that pick a trained model for "
                   f"you skip it.", icon=":material/trending_flat:")
    elif trained_here is not None:
        st.success(f"Trained now ({trained_here}): {facts}. It is stored, so every page can use "
                   f"it.", icon=":material/check_circle:")
    else:
        st.success(f"Trained run loaded from the store: {facts}.", icon=":material/save:")


def quiet_notes(notes: list[Note], key: str) -> None:
    """Each remark as one sentence; their details together in one closed expander (two long warnings pushed
    Draw's results below the fold)."""
    for note in notes:
        st.warning(note.headline, icon=":material/warning:")
    details = [n.details for n in notes if n.details]
    if details:
        with st.expander("Why, and what to try", icon=":material/help:"):
            st.markdown("\n\n".join(details))


def estimate_vs_actual(cfg, run: Run) -> None:
    """Once this learner's run of `cfg` (any run kind) has landed: the estimate given before the Train press against
    the time from the press to this result; a landing this page was watching also teaches the server's overheads."""
    mine = st.session_state.get(ESTIMATES_STATE, {}).get(cfg.key())
    if mine is None:
        return
    if "actual" not in mine:
        now = time.time()
        mine["actual"] = now - mine["clicked"]
        if mine["warm"] and now - mine.get("seen_running", 0.0) <= 2 * REFRESH_S + 2:  # watched to the end
            overheads().observe(mine["clicked"], now, float(run.metrics["wall_s"]))
    est, actual = mine["estimate"], mine["actual"]
    st.caption(f"Estimated **~{seconds(est)} s** before you pressed Train; it took **{actual:.1f} s** from your "
               f"click to this result ({100 * (actual - est) / max(est, 1e-9):+.0f}%). The next estimates learn from "
               "it.")


def training_panel(cfg: TrainConfig, key: str, remember: bool = True) -> tuple[Run, torch.nn.Module] | None:
    """Stored run -> returned at once. Running job -> live progress. Else: estimate and a Train button.

    `remember`: showing a stored run makes it this learner's latest (pages that merely offer a picked run
    pass False; pressing Train always counts)."""
    stored = resources.stored_run(cfg)
    if stored is not None:
        run = stored[0]
        if remember:
            remember_latest(cfg)
        _stored_banner(cfg, run)
        estimate_vs_actual(cfg, run)
        notes = diagnose(run.history)
        overfit = overfitting(run.history.val_loss)
        if overfit is not None:
            notes.append(overfit.note(curve_split(run.metrics)))
        quiet_notes(notes, key)
        return stored
    problem = resources.store().last_problem(cfg)
    if problem:  # it quotes the stored files: outside text
        st.warning(md(problem, 600), icon=":material/report:")
    try:
        check_config(cfg)
    except ConfigError as e:
        st.error(f"These settings can't be trained: {e}.")
        return None
    job = resources.jobs().get(cfg)
    if job is not None and not job.done.is_set():
        _progress_view(cfg, key)
        _live_curve(cfg, key)
        return None
    if job is not None and job.error == STOPPED:
        st.info(job.error, icon=":material/stop_circle:")  # the learner's own choice: no error
    elif job is not None and job.error:
        st.error(md(job.error, 600), icon=":material/error:")
    est = estimate_for(cfg)
    st.info(f"Not trained yet. Estimated training time, from pressing Train to the result: "
            f"**~{seconds(est.total)} s** on {resources.device().type.upper()} ({est.parts()}; training speed from "
            f"{est.basis}). A live estimate "
            "from the real steps replaces it once training starts.", icon=":material/timer:")
    if store_locked():
        st.button("Train", type="primary", key=f"{key}_train", disabled=True)
        return None
    if st.button("Train", type="primary", key=f"{key}_train"):
        submit(cfg, est.total)
        st.rerun()
    return None


def untrained(cfg: TrainConfig) -> bool:
    """Neither stored nor being trained, and a Train press would start it (the store can be written)."""
    job = resources.jobs().get(cfg)
    return resources.stored_run(cfg) is None and (job is None or job.done.is_set()) and not resources.store().unwritable


def store_locked() -> bool:
    """Say so, and where to point PTCE_HOME, when the run store cannot be written (nothing can be trained)."""
    problem = resources.store().unwritable
    if problem:
        st.warning(md(problem, 600), icon=":material/lock:")
    return bool(problem)


def submit(cfg: TrainConfig, estimated_s: float | None = None) -> None:
    """The learner asked to train `cfg`: it trains in a worker process (this page only watches), and the
    panels say it was trained now, not loaded, once it lands (with the estimate against the actual time)."""
    if estimated_s is not None:
        expect(cfg, estimated_s)
    pool().submit(cfg)
    st.session_state.setdefault(TRAINED_HERE_STATE, {})[cfg.key()] = f"you pressed Train at {time.strftime('%X')}"
    remember_latest(cfg)


def expect(cfg, estimated_s: float, teaches: bool = True) -> None:
    """Remember the estimate of a run this learner is starting, and when, to compare once it lands. A run that first
    waits for a worker to start (or for another run: `teaches` False) says nothing about the set-up: not observed."""
    st.session_state.setdefault(ESTIMATES_STATE, {})[cfg.key()] = {
        "estimate": estimated_s, "clicked": time.time(), "warm": teaches and pool().starting_s() is None}


def summary_label(s: RunSummary) -> str:
    """A stored run's label, marked when it did not learn."""
    return s.config.label() + ("" if s.status == "ok" else f" · {STATUS_LABELS[s.status]}")


def pick_stored_run(arch: Arch, key: str) -> TrainConfig | None:
    """A selectbox over the stored runs of `arch` on the active data, defaulting to this learner's latest
    (else the newest); runs that did not learn are left out unless the learner asks for them. The pick is in the
    page address (?run=<key>) and becomes the learner's latest, so it is the default wherever a run is picked."""
    runs = resources.stored_runs(arch)
    latest = st.session_state.get(LATEST_STATE, {}).get(arch)
    here = address.Address(key, {"all": address.flag("all", "all_runs"),
                                 "run": address.choice("run", "run", [s.key for s in runs], remember=False)})
    w = here.controls({"all": False})
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    include_all = c2.toggle("Include did-not-learn runs", key=w["all"])
    linked = st.query_params.get("run")
    if not include_all:
        runs = [s for s in runs if s.status == "ok" or s.key in (latest, linked)]
    if not runs:
        here.mirror({"all": include_all})
        return None
    keys = [s.key for s in runs]
    by_key = {s.key: s for s in runs}
    here = address.Address(key, {**here.settings, "run": address.choice("run", "run", keys, remember=False)})
    w |= here.controls({"run": latest if latest in keys else keys[0]})
    if st.session_state[w["run"]] not in keys:  # e.g. a did-not-learn run, then the toggle switched off
        st.session_state[w["run"]] = latest if latest in keys else keys[0]
    chosen = c1.selectbox("Stored run", keys, format_func=lambda k: summary_label(by_key[k]), key=w["run"],
                          on_change=lambda: remember_latest(by_key[st.session_state[w["run"]]].config),
                          help="Every stored run of this architecture; the default is the one you trained or "
                               "looked at last.")
    here.mirror({"all": include_all, "run": chosen})
    return by_key[chosen].config


def run_overlay(current: TrainConfig, key: str) -> None:
    """TensorBoard-style: overlay the current run with other stored runs of the same architecture."""
    summaries = resources.stored_runs(current.model.arch, current.data_source)
    others = {s.key: s for s in summaries if s.key != current.key()}
    here = address.Address(key, {"overlay": address.several("overlay", "overlay", list(others))})
    overlay_key = here.controls({"overlay": []})["overlay"]
    st.session_state[overlay_key] = [k for k in st.session_state[overlay_key] if k in others]  # e.g. now the current
    chosen = st.multiselect("Overlay other stored runs", list(others), format_func=lambda k: summary_label(others[k]),
                            key=overlay_key, placeholder="Pick runs to compare")
    here.mirror({"overlay": chosen})
    curves = []
    for s in [s for s in summaries if s.key == current.key()] + [others[k] for k in chosen]:
        curves.append(Curve.of(summary_label(s), s.history))
    if curves:
        st.plotly_chart(run_curves(curves), key=f"{key}_curves")
        data = resources.mnist()
        n_val = held_out(data.train.labels)
        older = [s for s in summaries if s.key in {current.key(), *chosen} and curve_split(s.metrics) == "test"]
        st.caption(split_text(len(data.train) - n_val, n_val, len(data.test)) + " Train loss is per batch, smoothed "
                   "like TensorBoard's." + (" Runs stored before the validation split show the test set per epoch "
                                            "instead." if older else ""))

