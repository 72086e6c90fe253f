"""The Transfer page's third route, "Your own classes" (Teachable Machine's idea, in real PyTorch): the learner's
classes and photos (ui/own_data.py), training from the ImageNet ResNet-18, the k-fold verdict, and live predictions on
a new photo that open on the Saliency page with the learner's model (ui/own_models.py: the models, and the hook).

Where a run trains: a feature-extraction head in this process (about a second on features computed once per
photo: a worker's round trip and queue would cost more than the training, and could wait behind a minutes-long run);
fine-tuning the last stage in the worker pool like every other run (tens of seconds to minutes; stoppable).
Every control is in the page address and the session through ui.address (`here`: ?own_strategy=...).
"""
from __future__ import annotations

import math

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from core.data.samples import available_samples, load_sample_photo
from core.data.uploads import UploadError
from core.figures.attribution import top_classes
from core.figures.training import Curve, confusion, run_curves
from core.training.record import Run
from core.transfer.own import dataset as own
from core.transfer.own.config import ADDRESS, OWN_STRATEGY_LABELS, OwnClassesConfig, config_for
from core.transfer.own.crossval import verdict, wilson
from core.transfer.own.features import stored_features
from core.transfer.own.fit import estimate_seconds, score_of, train_own
from core.transfer.own.fit import own_data as load_data
from core.transfer.own.photos import AUGMENTATION_LABELS, AUGMENTATIONS, framed, from_upload, photo_name, png
from ui import address, downloads, own_data, own_models, resources, transfer_data
from ui.own_data import K
from ui.text import md

SALIENCY_PAGE = "pages/saliency.py"

HEAD_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
BACKBONE_LRS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)
MAX_EPOCHS = 100
DEFAULTS = {"feature": {"epochs": 30, "head_lr": 1e-2}, "finetune": {"epochs": 5, "head_lr": 1e-3}}


# ---------------------------------------------------------------- controls in the address and the session
TRY_SOURCES = ("Upload", "Camera", "Sample photo")


def here() -> address.Address:
    """The route's controls in the page address (core's ADDRESS, ?own_try=, ?own_sample=) and the session, with the
    working dataset (written here, opened by `open_from_address`). An address never turns the camera on (a link that
    opens someone's camera): it may name the other two sources; the learner's own Camera choice is kept."""
    return address.Address(K, {
        "dataset": address.Setting(ADDRESS["dataset"], "dataset"),
        "strategy": address.choice(ADDRESS["strategy"], "strategy", list(OWN_STRATEGY_LABELS)),
        "augment": address.choice(ADDRESS["augment"], "aug", list(AUGMENTATIONS)),
        "epochs": address.slider(ADDRESS["epochs"], "epochs", 1, MAX_EPOCHS, whole=True),
        "head_lr": address.choice(ADDRESS["head_lr"], "hlr", HEAD_LRS, float, address.number),
        "backbone_lr": address.choice(ADDRESS["backbone_lr"], "blr", BACKBONE_LRS, float, address.number),
        "seed": address.slider(ADDRESS["seed"], "seed", 0, 9999, whole=True),
        "try_source": address.Setting("own_try", "try_source", choices=[s for s in TRY_SOURCES if s != "Camera"],
                                      unlinked=("Camera",)),
        "try_sample": address.choice("own_sample", "try_sample", list(available_samples()))})


def per_strategy(strategy: str) -> dict[str, str]:
    """The widget keys of epochs and the head's rate: one per strategy, each with its own default."""
    return {"epochs": f"{K}_epochs_{strategy}", "head_lr": f"{K}_hlr_{strategy}"}


def controls(addr: address.Address) -> dict[str, object]:
    """The training controls -> their OwnClassesConfig settings (backbone_lr only when fine-tuning)."""
    keys = addr.controls({"strategy": "feature", "augment": "none"})
    c1, c2 = st.columns([2, 3])
    strategy = c1.radio("Strategy", list(OWN_STRATEGY_LABELS), format_func=OWN_STRATEGY_LABELS.get,
                        key=keys["strategy"])
    augment = c2.selectbox("Augmentation (fixed extra views of each photo)", list(AUGMENTATIONS),
                           format_func=AUGMENTATION_LABELS.get, key=keys["augment"],
                           help="The extra views train the model; every held-out score uses the centre view only, "
                                "and a held-out photo's views are all held out with it.")
    d = DEFAULTS[strategy]
    keys = addr.controls({"epochs": d["epochs"], "head_lr": d["head_lr"], "seed": 0}, per_strategy(strategy))
    c3, c4, c5, c6 = st.columns(4)
    epochs = c3.slider("Epochs", 1, MAX_EPOCHS, key=keys["epochs"])
    head_lr = c4.select_slider("Head learning rate", HEAD_LRS, key=keys["head_lr"], format_func=address.number)
    settings: dict[str, object] = {"strategy": strategy, "augment": augment, "epochs": int(epochs),
                                   "head_lr": float(head_lr)}
    if strategy == "finetune":
        settings["backbone_lr"] = float(c5.select_slider("layer4 learning rate", BACKBONE_LRS,
                                                         key=addr.controls({"backbone_lr": 1e-4})["backbone_lr"],
                                                         format_func=address.number))
    else:
        c5.caption("layer4 stays frozen: only the head trains.")
    settings["seed"] = int(c6.number_input("Seed", 0, 9999, key=keys["seed"],
                                           help="the folds, the initialization and the shuffling"))
    return settings


def open_from_address() -> None:
    """A page address naming another dataset (a link from Training runs, a bookmark): open that saved set, the
    working one kept as a saved set; one sentence when it is not on this machine."""
    url = ADDRESS["dataset"]
    raw = st.query_params.get(url)
    written = st.session_state.setdefault(address.WRITTEN, {}).setdefault(K, {})  # the address mechanism's record
    if raw is None or raw == written.get(url):
        return
    written[url] = raw  # handled once
    store = own_data.store()
    if raw == store.dataset()[0].digest():
        return
    saved = store.saved_set(raw)
    if saved is None:
        st.warning(f"The page address names a set of classes ({md(f'{url}={raw}', 60)}) that is not on this machine: "
                   "import its .zip (under Save, share or restore) to open it. Showing your current classes.",
                   icon=":material/link_off:")
        return
    try:
        store.replace(saved.dataset)
    except OSError as e:
        st.error(f"The classes in the address could not be opened: the store can't be written ({e.strerror or e}).")
        return
    own_data.note("info", f"Opened the classes of the address ({', '.join(saved.dataset.names)}; "
                          f"{saved.dataset.n_photos} photos). The classes you had are under Saved sets.")


# ---------------------------------------------------------------- training
def train_here(cfg: OwnClassesConfig, ds: own.Dataset, b: own_models.Backbone) -> Run:
    """Feature extraction in this process: the features (cached per photo and view), then k + 1 heads."""
    store = own_data.store()
    store.save_set(ds)  # the run's dataset, kept as it is now
    data = load_data(ds, store.photo)
    views = AUGMENTATIONS[cfg.augment]
    with st.spinner("Features of every view of every photo (computed once, then read back)…"):
        feats, _ = stored_features(store, b.fingerprint, b.model, data.images, data.photos, views)
    with st.spinner(f"Training {cfg.folds + 1} heads: one per fold, then the final one…"):
        run, _ = resources.store().get_or_train(cfg, lambda: train_own(cfg, data, b.state, resources.device(),
                                                                       features=feats))
    return run


def running(cfg: OwnClassesConfig) -> bool:
    job = resources.jobs().get(cfg)
    return job is not None and not job.done.is_set() and not resources.store().has(cfg)


@st.fragment(run_every=0.5)
def progress_view(cfg: OwnClassesConfig) -> None:
    """The fine-tuning's progress (k folds, then the final model) until it lands in the store."""
    if not running(cfg):
        st.rerun()
        return
    pool = resources.jobs()
    job = pool.get(cfg)
    ahead = pool.position(job) if job is not None else None
    if job is None:
        return
    if ahead is not None:
        st.caption(f"Waiting for a free training worker ({ahead} ahead).")
    elif not job.total_steps:
        st.progress(0.0, text="The worker reads your photos and runs layer3 once over each view…")
    else:
        st.progress(job.fraction, text=f"Fine-tuning: {cfg.folds} folds, then the final model · "
                                       f"{len(job.step_loss):,} of {job.total_steps:,} steps")
    if st.button("Stop training", key=f"{K}_stop", icon=":material/stop_circle:"):
        pool.stop(job)
        st.rerun()


def train_panel(cfg: OwnClassesConfig, ds: own.Dataset, b: own_models.Backbone) -> Run | None:
    """Train, or the stored run of these classes and settings."""
    run = own_models.trained(cfg)
    if run is not None:
        return run
    if running(cfg):
        progress_view(cfg)
        return None
    job = resources.jobs().get(cfg)
    if job is not None and job.done.is_set() and job.error:
        st.error(job.error, icon=":material/error:")
    store = own_data.store()
    missing = sum(1 for p, _ in ds.rows() for v in AUGMENTATIONS[cfg.augment]
                  if v not in store.cached_features(b.fingerprint, p))
    seconds = estimate_seconds(cfg, missing, own_models.per_photo(b.fingerprint, str(resources.device())))
    n_views = len(AUGMENTATIONS[cfg.augment])
    photos = f"{ds.n_photos} photos × {n_views} view{'s' if n_views > 1 else ''}"
    if cfg.strategy == "feature":
        how = (f"here: {photos}, {missing} feature{'s' if missing != 1 else ''} still to compute (the others are "
               f"stored), then {cfg.folds} fold heads and the final one")
    else:
        how = (f"in a training worker: layer3 once over {photos}, then layer4 and the head trained {cfg.folds + 1} "
               f"times ({cfg.folds} folds and the final model), {cfg.epochs} epochs each")
    st.caption(f"Not trained yet. Estimated time **~{max(1, math.ceil(seconds))} s** {how}; batch {cfg.batch_size}, "
               "measured on this machine just now.")
    with st.form(f"{K}_train", border=False):
        go = st.form_submit_button("Train", icon=":material/play_arrow:", type="primary")
    if not go:
        return None
    try:
        if cfg.strategy == "feature":
            run = train_here(cfg, ds, b)
            if run.status != "ok":
                st.error(run.reason, icon=":material/error:")
                return None
        else:
            store.save_set(ds)
            resources.jobs().submit(cfg)  # trains in a worker process; this page only watches
    except own.OwnDataError as e:
        st.error(str(e), icon=":material/error:")
        return None
    except OSError as e:
        st.error(f"Training could not store its result: the store can't be written ({e.strerror or e}).",
                 icon=":material/error:")
        return None
    st.rerun()


# ---------------------------------------------------------------- results
def results(run: Run) -> None:
    """The k-fold verdict: held-out accuracy with its interval, per class, the confusion matrix, the curves and the
    photos the model got wrong when they were held out."""
    cfg: OwnClassesConfig = run.config  # type: ignore[assignment]
    names = cfg.names()
    score = score_of(run)
    st.markdown(verdict(score, len(names), cfg.folds))
    rows = []
    for name, (right, n) in zip(names, score.per_class(len(names))):
        lo, hi = wilson(right, n)
        rows.append({"class": name, "photos": n, "right when held out": right, "accuracy %": round(100 * right / n),
                     "95% interval %": f"{100 * lo:.0f}–{100 * hi:.0f}"})
    st.dataframe(rows, hide_index=True, width="stretch", key=f"{K}_per_class")
    c1, c2 = st.columns(2)
    c1.plotly_chart(confusion(score.confusion(len(names)).numpy(), labels=names,
                              title=f"Held-out confusion ({cfg.folds}-fold)"), key=f"{K}_cm")
    c2.plotly_chart(run_curves([Curve.of("your model", run.history)], chance=100 / len(names)), key=f"{K}_curves")
    st.caption(f"Validation is held out: each epoch's point averages the {cfg.folds} fold models on the photos "
               f"each never trained on. Train loss is the final model's (trained on every photo). "
               f"Trained in {run.metrics['wall_s']:.1f} s on {run.metrics['device']}.")
    wrong(run)


def wrong(run: Run) -> None:
    cfg: OwnClassesConfig = run.config  # type: ignore[assignment]
    score, names = score_of(run), cfg.names()
    saved = own_data.store().saved_set(cfg.dataset)
    if saved is None:
        return
    rows = saved.dataset.rows()
    bad = [i for i in range(score.n) if int(score.predicted[i]) != int(score.labels[i])]
    if not bad:
        st.caption("Every photo was classified right when it was held out.")
        return
    root = str(own_data.store().root)
    shown = [(i, own_data.thumbnail(rows[i][0], root)) for i in bad[:24]]
    st.markdown(f"**Photos it got wrong when held out** ({len(bad)}): true class → predicted.")
    st.image([t for _, t in shown if t is not None],
             caption=[f"{names[int(score.labels[i])]} → {names[int(score.predicted[i])]} "
                      f"({100 * float(score.probs[i].max()):.0f}%)" for i, t in shown if t is not None],
             width=96)


# ---------------------------------------------------------------- live predictions
def _try_photo(addr: address.Address, values: dict[str, object]) -> np.ndarray | None:
    """A new photo to ask the model about: an upload, a camera frame or a sample photo -> (256, 256, 3). The source
    and the sample are controls like the others (`values`: what `route` writes into the address)."""
    source = values["try_source"] = st.radio("A new photo", TRY_SOURCES, horizontal=True,
                                             key=addr.controls({"try_source": TRY_SOURCES[0]})["try_source"])
    data = None
    if source == "Upload":
        f = st.file_uploader("A photo to classify", type=own_data.PHOTO_TYPES, key=f"{K}_try_upload",
                             max_upload_size=own_data.PHOTO_MB)
        data = None if f is None else f.getvalue()
    elif source == "Camera":
        f = st.camera_input("Take a photo to classify", key=f"{K}_try_camera")
        st.caption("If the browser blocks the camera, allow it in the address bar or upload a photo instead.")
        data = None if f is None else f.getvalue()
    else:
        samples = available_samples()
        if not samples:
            st.info("scikit-image is not installed, so there are no sample photos.")
            return None
        k = values["try_sample"] = st.selectbox("Sample", list(samples), format_func=lambda s: samples[s].label,
                                                key=addr.controls({"try_sample": next(iter(samples))})["try_sample"])
        return framed(load_sample_photo(k).pixels)
    if data is None:
        return None
    try:
        photo, _ = from_upload(data)
    except UploadError as e:
        st.error(str(e), icon=":material/error:")
        return None
    return photo


def _open_saliency(key: str) -> None:
    st.session_state[own_models.HANDOFF] = key


def try_it(run: Run, addr: address.Address, values: dict[str, object]) -> None:
    """Section 3: a new photo's class probabilities at once, and the way to Saliency with this model."""
    cfg: OwnClassesConfig = run.config  # type: ignore[assignment]
    photo = _try_photo(addr, values)
    if photo is None:
        st.caption("Give it a photo it has not seen to see its answer at once.")
        return
    probs = own_models.predict(cfg, photo_name(photo), photo)
    if probs is None:
        st.error("Your model could not be built from its stored run (the ImageNet weights changed?).")
        return
    st.session_state[own_models.PHOTO] = png(photo)
    names = cfg.names()
    c1, c2 = st.columns([1, 2])
    c1.image(photo[16:240, 16:240], caption="What the model sees (224×224, the centre)", width=200)
    top = [(int(c), float(probs[c])) for c in np.argsort(-probs, kind="stable")]  # most probable first
    c2.plotly_chart(top_classes(top, names, target=top[0][0], height=60 + 36 * len(names)), key=f"{K}_probs")
    c2.markdown(f"Prediction: **{names[top[0][0]]}** ({100 * top[0][1]:.1f}%).")
    c2.button("See why on the Saliency page", key=f"{K}_to_saliency", icon=":material/center_focus_strong:",
              on_click=_open_saliency, args=(own_models.PREFIX + cfg.key(),),
              help="opens Saliency on your model and this photo: every method, the same honest display")
    if st.session_state.get(own_models.HANDOFF) == own_models.PREFIX + cfg.key():
        try:
            st.switch_page(SALIENCY_PAGE)
        except (st.errors.StreamlitAPIException, StreamlitPageNotFoundError):  # run alone (tests): no navigation
            st.caption("Open the Saliency page: your model and this photo are picked there.")


# ---------------------------------------------------------------- the route
def weights_missing() -> None:
    """What this route needs that is not here, and its download (no fake backbone stands in)."""
    with st.container(border=True):
        st.markdown("**Training needs ResNet-18's ImageNet weights, and they are not on this machine.** Your classes "
                    "and photos are kept meanwhile; once the weights are here, this section trains.")
        downloads.offer("imagenet-resnet18", "own", transfer_data.missing().get("imagenet-resnet18", ""))


def route() -> None:
    """Everything of the route, in three sections: your classes, train, try your model; then the controls shown
    (and the working dataset) go into the address."""
    addr, values = here(), dict[str, object]()
    _route(addr, values)
    addr.mirror(values, per_strategy(str(values.get("strategy"))))


def _route(addr: address.Address, values: dict[str, object]) -> None:
    st.markdown("Teach ResNet-18 **your own classes**: name 2–10 classes, give each at least "
                f"{own.MIN_PHOTOS} photos (upload many at once, or use the camera), and train a new head on the "
                "features ImageNet taught it, or fine-tune its last stage too. With a few photos a class there is no "
                "test set to spare: every photo is scored once by a model that never saw it (k-fold).")
    open_from_address()
    own_data.show_notes()
    b = own_models.backbone()
    st.subheader("1 · Your classes")
    ds = own_data.editor(own_models.keep_features if b is not None else None)
    values["dataset"] = ds.digest()
    own_data.tools(ds)
    st.subheader("2 · Train")
    if b is None:
        weights_missing()
        return
    st.caption(f"ImageNet's ResNet-18 at 224×224 (the centre of each kept 256×256 photo, normalized with the "
               f"weights' own mean and std), batch {OwnClassesConfig.batch_size}, Adam, {OwnClassesConfig.folds}"
               f"-fold cross-validation.")
    settings = controls(addr)
    values.update(settings)
    problems = ds.problems()
    if problems:
        st.info("Before training:\n" + "\n".join(f"- {p}" for p in problems), icon=":material/checklist:")
        return
    cfg = config_for(ds, b.fingerprint, **settings)
    run = train_panel(cfg, ds, b)
    if run is None:
        return
    st.success(f"Trained: {cfg.label()}. Stored with every run (Training runs lists it).",
               icon=":material/save:")
    results(run)
    st.subheader("3 · Try your model")
    try_it(run, addr, values)
