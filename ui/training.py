"""Shared training widgets: config controls, the Train / progress / stored-run panel,
run overlays. Used by every page that trains a model."""
from __future__ import annotations

import streamlit as st
import torch

from core.config import OPTIMIZER_LABELS, Arch, ConfigError, ModelConfig, TrainConfig, default_config
from core.estimate import estimate_seconds, time_steps
from core.figures.training import Curve, live_loss, run_curves
from core.models import architecture
from core.record import STATUS_LABELS, Run
from core.run_analysis import overfitting
from core.store import RunSummary
from core.train import check_config, diagnose
from ui import resources

HIDDEN_CHOICES = [16, 32, 64, 128, 256, 512]
LR_CHOICES = [1e-4, 3e-4, 1e-3, 3e-3, 5e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0]
BATCH_CHOICES = [16, 32, 64, 128, 256, 512, 1024, 4096, 8192]


@st.cache_data(show_spinner=False, max_entries=64)
def step_seconds(model: ModelConfig, optimizer: str, batch_size: int, device_name: str) -> float:
    """Measured seconds per optimizer step for this model and batch (a few real steps on random data)."""
    return time_steps(model, optimizer, batch_size, torch.device(device_name))


def _url_value(name: str, choices: list, parse) -> object | None:
    """A setting from the page URL (?lr=0.01&bs=64...) if it is one of the allowed choices, else None."""
    raw = st.query_params.get(name)
    if raw is None:
        return None
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value not in choices:
        st.warning(f"Ignored `{name}={raw}` in the page address: it is not one of the available settings.")
        return None
    return value


def config_controls(arch: Arch, key: str, model: ModelConfig | None = None) -> TrainConfig:
    """Hyperparameter widgets (explicit keys, so tests can drive them) -> the TrainConfig they describe.

    `model`: the spec to train (default: the entry's default spec); the hidden-units control appears only for
    entries whose model it changes. The settings are mirrored in the page URL, so a link or bookmark reproduces
    them exactly."""
    data = resources.mnist()
    d = default_config(arch, data.source, model)
    uses_hidden = architecture(arch).uses_hidden
    optimizers = list(OPTIMIZER_LABELS)
    start = {
        "hidden": (_url_value("hidden", HIDDEN_CHOICES, int) if uses_hidden else None) or d.model.hidden,
        "opt": _url_value("opt", optimizers, str) or d.optimizer,
        "lr": _url_value("lr", LR_CHOICES, float) or d.lr,
        "bs": _url_value("bs", BATCH_CHOICES, int) or d.batch_size,
        "ep": _url_value("ep", list(range(1, 61)), int) or d.epochs,
        "seed": _url_value("seed", list(range(10_000)), int),
    }
    with st.container(border=True):
        st.markdown("**Training settings** — moving a control never retrains; press **Train** to train.")
        c1, c2, c3 = st.columns(3)
        hidden = c1.select_slider("Hidden units (fc1)", HIDDEN_CHOICES, value=start["hidden"],
                                  key=f"{key}_hidden") if uses_hidden else d.model.hidden
        optimizer = c2.selectbox("Optimizer", optimizers, format_func=OPTIMIZER_LABELS.get,
                                 index=optimizers.index(start["opt"]), key=f"{key}_optimizer")
        lr = c3.select_slider("Learning rate", LR_CHOICES, value=start["lr"], key=f"{key}_lr",
                              format_func=lambda v: f"{v:g}")
        batch = c1.select_slider("Batch size", BATCH_CHOICES, value=start["bs"], key=f"{key}_batch")
        epochs = c2.slider("Epochs", 1, 60, start["ep"], key=f"{key}_epochs")
        seed = c3.number_input("Seed", 0, 9999, start["seed"] if start["seed"] is not None else d.seed,
                               key=f"{key}_seed")
    spec = ModelConfig(arch=arch, hidden=int(hidden)) if uses_hidden else d.model
    cfg = TrainConfig(model=spec, optimizer=optimizer, lr=float(lr), batch_size=int(batch), epochs=int(epochs),
                      seed=int(seed), data_source=data.source)
    st.query_params.update({"opt": cfg.optimizer, "lr": f"{cfg.lr:g}", "bs": cfg.batch_size, "ep": cfg.epochs,
                            "seed": cfg.seed, **({"hidden": cfg.model.hidden} if uses_hidden else {})})
    return cfg


def _waiting_text(ahead: int) -> str:
    if ahead == 0:
        return "Waiting for a free training worker: this run is next in line."
    return f"Waiting for a free training worker: {ahead} run{'s' if ahead > 1 else ''} ahead of this one."


@st.fragment(run_every=0.5)
def _progress_view(cfg: TrainConfig, key: str) -> None:
    pool = resources.jobs()
    job = pool.get(cfg)
    landed = resources.store().has(cfg) and resources.stored_run(cfg) is not None  # even if a worker's message was lost
    if job is None or job.done.is_set() or landed:
        st.rerun()  # the whole page now shows the finished run (or the failure)
        return
    ahead = pool.position(job)
    if ahead is not None:
        st.info(_waiting_text(ahead), icon=":material/hourglass_top:")
    elif not job.total_steps:
        st.progress(0.0, text="Starting: the training worker is getting the model and data ready…")
    else:
        label = f"Epoch {job.epoch}/{cfg.epochs} · step {len(job.step_loss)}/{job.total_steps}"
        if job.val_acc:
            label += f" · validation accuracy {100 * job.val_acc[-1]:.1f}%"
        st.progress(job.fraction, text=label)
        if job.step_loss:
            st.plotly_chart(live_loss(list(job.step_loss), job.total_steps), key=f"{key}_live")
    if st.button("Stop training", key=f"{key}_stop", icon=":material/stop_circle:"):
        pool.stop(job)  # kills its worker at once; nothing is stored
        st.rerun()


def training_panel(cfg: TrainConfig, key: str) -> tuple[Run, torch.nn.Module] | None:
    """Stored run -> returned at once. Running job -> live progress. Else: estimate and a Train button."""
    stored = resources.stored_run(cfg)
    if stored is not None:
        run = stored[0]
        facts = (f"test accuracy **{100 * run.metrics['test_acc']:.2f}%**, trained in {run.metrics['train_s']:.1f} s "
                 f"on {run.metrics['device']} ({run.metrics['samples_per_s']:,.0f} samples/s)")
        if run.status == "did-not-learn":
            st.warning(f"Stored run loaded, marked **did not learn**: {facts}. Pages that pick a trained model for "
                       f"you skip it.", icon=":material/trending_flat:")
        else:
            st.success(f"Trained run loaded from the store: {facts}.", icon=":material/save:")
        for note in diagnose(run.history):
            st.warning(note, icon=":material/warning:")
        overfit = overfitting(run.history.val_loss)
        if overfit is not None:
            st.warning(overfit.sentence(), icon=":material/trending_up:")
        return stored
    problem = resources.store().last_problem(cfg)
    if problem:
        st.warning(problem, icon=":material/report:")
    try:
        check_config(cfg)
    except ConfigError as e:
        st.error(f"These settings can't be trained: {e}.")
        return None
    job = resources.jobs().get(cfg)
    if job is not None and not job.done.is_set():
        _progress_view(cfg, key)
        return None
    if job is not None and job.error:
        st.error(job.error, icon=":material/error:")
    data = resources.mnist()
    dev = resources.device()
    step_s = step_seconds(cfg.model, cfg.optimizer, min(cfg.batch_size, len(data.train)), str(dev))
    est = estimate_seconds(cfg, len(data.train), len(data.test), step_s)
    st.info(f"Not trained yet. Estimated training time: **~{est:.0f} s** on {dev.type.upper()} "
            f"({cfg.epochs} epochs × {len(data.train):,} digits, {1000 * step_s:.1f} ms per step measured just now).",
            icon=":material/timer:")
    if st.button("Train", type="primary", key=f"{key}_train"):
        resources.jobs().submit(cfg)  # trains in a worker process; this page only watches
        st.rerun()
    return None


def summary_label(s: RunSummary) -> str:
    """A stored run's label, marked when it did not learn."""
    return s.config.label() + ("" if s.status == "ok" else f" · {STATUS_LABELS[s.status]}")


def run_overlay(current: TrainConfig, key: str) -> None:
    """TensorBoard-style: overlay the current run with other stored runs of the same architecture."""
    summaries = [s for s in resources.store().summaries()
                 if s.config.model.arch == current.model.arch and s.config.data_source == current.data_source]
    others = {s.key: s for s in summaries if s.key != current.key()}
    chosen = st.multiselect("Overlay other stored runs", list(others), format_func=lambda k: summary_label(others[k]),
                            key=f"{key}_overlay", placeholder="Pick runs to compare")
    curves = []
    for s in [s for s in summaries if s.key == current.key()] + [others[k] for k in chosen]:
        curves.append(Curve.of(summary_label(s), s.history))
    if curves:
        st.plotly_chart(run_curves(curves), key=f"{key}_curves")
        st.caption("Validation = the held-out test digits, evaluated after every epoch; the model never trains "
                   "on them. Train loss is per batch, smoothed like TensorBoard's.")

