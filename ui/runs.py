"""Training runs page widgets: every stored run (any kind) in one table, curves overlaid, open / export / delete /
import a run, and two runs' settings side by side.

Each run is shown through its kind's entry in the one run-kind table (core.runs.kinds.KINDS): its model family,
a short settings summary, its data, and the page (with its settings in the address) that made it.
"""
from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core.figures.training import X_TITLES, Curve, run_curves
from core.fmt import num, when
from core.runs.archive import ArchiveError, export_run, import_run
from core.runs.kinds import KINDS, RunKind
from core.runs.names import MAX_NAME, RunNames
from core.runs.store import RunSummary, StoreNotWritable
from core.training.record import STATUS_LABELS
from core.zips import MAX_ARCHIVE_BYTES
from ui import resources
from ui.text import md

K = "runs"  # widget-key prefix

COLUMNS = {  # table column -> (heading, help)
    "name": ("Name", "Click to rename; the default is a summary of the settings"),
    "model": ("Model", None), "config": ("Config", "optimizer and learning rate (seed when not 0); all in Compare"),
    "batch": ("Batch", "batch size"), "epochs": ("Ep", "epochs"),
    "data": ("Data", "MNIST sample (4,000 digits) or full MNIST; the transfer page's data"),
    "device": ("Device", None), "acc": ("Acc %", "test accuracy after the last epoch"),
    "wall": ("Time s", "wall time of the whole run"),
    "alongside": ("Trained", "alone, or with N other runs training at the same time (its time then includes theirs)"),
    "date": ("Date", None),
}
WIDTHS = {"name": 150, "model": 100, "config": 84, "batch": 46, "epochs": 34, "data": 54, "device": 46, "acc": 50,
          "wall": 50, "alongside": 62, "date": 76}  # px: together they fit the page at 1280 px with the sidebar
SORTS = {"Date": "created", "Name": "name", "Model": "model", "Config": "config", "Batch size": "batch",
         "Data": "data", "Device": "device", "Epochs": "epochs", "Accuracy": "acc", "Wall time": "wall_s",
         "Trained alone/with": "alongside"}


def view(s: RunSummary) -> RunKind:
    return KINDS[s.kind]


def names() -> RunNames:
    return RunNames(resources.store().root)


def default_name(s: RunSummary) -> str:
    v = view(s)
    text = f"{v.model(s.config)} {v.settings(s.config)}"
    return text + ("" if s.status == "ok" else f" ({STATUS_LABELS[s.status]})")


def _alongside(metrics: dict) -> str:
    n = metrics.get("concurrent_runs")
    return "?" if n is None else "alone" if n == 1 else f"with {n - 1}"


def _device(metrics: dict) -> str:
    device = str(metrics.get("device", "?"))
    return "GPU" if device.startswith("CUDA") else device.split(" · ")[0]


def _percent(metrics: dict) -> float | None:
    acc = metrics.get("test_acc")
    return None if acc is None else round(100 * float(acc), 2)


def table(summaries: list[RunSummary]) -> pd.DataFrame:
    """One row per run, indexed by run key (pure: no widgets). Numbers and dates are written by core.fmt (never
    309 digits, never a traceback for a date); `wall_s` and `created` stay numbers for sorting."""
    given = names().all()
    rows = []
    for s in summaries:
        v, m = view(s), s.metrics
        rows.append({"key": s.key, "family": v.family(s.config), "name": given.get(s.key) or default_name(s),
                     "model": v.model(s.config), "config": v.settings(s.config), "data": v.data(s.config),
                     "batch": getattr(s.config, "batch_size", None), "device": _device(m),
                     "epochs": len(s.history.val_loss),
                     "acc": _percent(m), "wall": num(m.get("wall_s", float("nan")), 1),
                     "wall_s": float(m.get("wall_s", 0.0)), "alongside": _alongside(m), "date": when(s.created),
                     "created": s.created})
    return pd.DataFrame(rows).set_index("key")


def _selected(summaries: list[RunSummary]) -> list[str]:
    """Keys ticked for the plot; on the first visit the three newest runs that learned, ticked in the table."""
    keys = {s.key for s in summaries}
    if "runs_selected" not in st.session_state:
        st.session_state.runs_selected = [s.key for s in summaries if s.status == "ok"][:3]
    return [k for k in st.session_state.runs_selected if k in keys]


def filter_and_sort(df: pd.DataFrame) -> pd.DataFrame:
    """Model filter (none ticked = all), sort by any column."""
    c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
    families = sorted(df["family"].unique())
    chosen = c1.multiselect("Models", families, key=f"{K}_models", placeholder="All models")
    by = c2.selectbox("Sort by", list(SORTS), key=f"{K}_sort")
    descending = c3.toggle("Descending", value=True, key=f"{K}_desc")
    shown = df[df["family"].isin(chosen)] if chosen else df
    return shown.sort_values(SORTS[by], ascending=not descending, kind="stable")


def run_table(shown: pd.DataFrame, summaries: list[RunSummary]) -> list[str]:
    """The editable table (tick Plot, rename); returns the ticked keys in table order."""
    selected = set(_selected(summaries))
    base = shown.assign(show=[k in selected for k in shown.index])[["show", *COLUMNS]]
    config = {"show": st.column_config.CheckboxColumn("Plot", width=56, help="overlay its curves below")}
    for col, (heading, tip) in COLUMNS.items():
        config[col] = st.column_config.Column(heading, help=tip, disabled=col != "name", width=WIDTHS[col])
    config["name"] = st.column_config.TextColumn("Name", max_chars=MAX_NAME, help=COLUMNS["name"][1],
                                                 width=WIDTHS["name"], disabled=bool(resources.store().unwritable))
    config["wall"] = st.column_config.Column(COLUMNS["wall"][0], help=COLUMNS["wall"][1], disabled=True,
                                             width=WIDTHS["wall"], alignment="right")  # text from core.fmt.num
    for col, fmt in (("acc", "%.1f"), ("batch", "localized"), ("epochs", "%d")):
        config[col] = st.column_config.NumberColumn(COLUMNS[col][0], help=COLUMNS[col][1], format=fmt, disabled=True,
                                                    width=WIDTHS[col])
    version = st.session_state.setdefault("runs_table_version", 0)
    edited = st.data_editor(base, key=f"{K}_table_{version}", hide_index=True, column_config=config,
                            width="stretch", height=min(38 + 35 * len(base), 400))
    changed = False
    for key in base.index:
        if bool(edited.at[key, "show"]) != bool(base.at[key, "show"]):
            selected ^= {key}
            changed = True
        if edited.at[key, "name"] != base.at[key, "name"]:
            s = next(s for s in summaries if s.key == key)
            new = str(edited.at[key, "name"] or "")
            try:
                names().set(key, "" if new.strip() == default_name(s) else new)
            except OSError as e:  # the store's folder cannot be written (read-only, full)
                st.session_state.runs_notice = ("error", f"Not renamed: {md(e, 600)}")
            changed = True
    if changed:  # apply, then start the editor afresh so its edits never land on re-sorted rows
        st.session_state.runs_selected = [k for k in st.session_state.get("runs_selected", []) if k in selected] + \
            [k for k in base.index if k in selected and k not in st.session_state.get("runs_selected", [])]
        st.session_state.runs_table_version = version + 1
        st.rerun()
    return [k for k in shown.index if k in selected]


def curves(keys: list[str], shown: pd.DataFrame, summaries: list[RunSummary]) -> None:
    by_key = {s.key: s for s in summaries}
    c1, c2, c3 = st.columns([5, 4, 2], vertical_alignment="bottom")
    x = c1.radio("x-axis", list(X_TITLES), format_func=X_TITLES.get, index=1, horizontal=True, key=f"{K}_x")
    smoothing = c2.slider("Smoothing (train loss)", 0.0, 0.99, 0.9, 0.01, key=f"{K}_smooth",
                          help="exponential moving average, debiased so it starts at the first value (as TensorBoard)")
    log_y = c3.toggle("Log-scale loss", key=f"{K}_log")
    if not keys:
        st.info("Tick **Plot** in the table to overlay a run's curves.", icon=":material/check_box:")
        return
    picked = [Curve.of(shown.at[k, "name"], by_key[k].history, float(by_key[k].metrics.get("train_s", 0.0)))
              for k in keys]
    st.plotly_chart(run_curves(picked, x, smoothing, log_y), key=f"{K}_curves")
    if x == "wall":
        st.caption("Training time spreads each run's steps evenly over its measured train time.")


def _flat(d: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = f"{v:g}" if isinstance(v, float) else str(v)  # :g is never wider than 12
    return out


def compare(shown: pd.DataFrame, summaries: list[RunSummary], ticked: list[str]) -> None:
    """Two runs' settings and results side by side; the rows that differ are highlighted."""
    by_key = {s.key: s for s in summaries}
    keys = list(shown.index)
    if len(keys) < 2:
        st.caption("Compare needs two runs in the table.")
        return
    first = (ticked + [k for k in keys if k not in ticked])[:2]
    c1, c2 = st.columns(2)
    a = c1.selectbox("Run A", keys, index=keys.index(first[0]), format_func=shown["name"].get, key=f"{K}_cmp_a")
    b = c2.selectbox("Run B", keys, index=keys.index(first[1]), format_func=shown["name"].get, key=f"{K}_cmp_b")

    def facts(k: str) -> dict[str, str]:
        s = by_key[k]
        acc = shown.at[k, "acc"]
        return {"kind": s.kind, **_flat(s.config.to_dict()), "data": shown.at[k, "data"],
                "device": str(s.metrics.get("device", "?")), "test accuracy (%)": "—" if pd.isna(acc) else num(acc, 2),
                "wall time (s)": shown.at[k, "wall"], "trained": shown.at[k, "alongside"],
                "status": STATUS_LABELS[s.status], "date": shown.at[k, "date"]}

    fa, fb = facts(a), facts(b)
    order = list(fa) + [f for f in fb if f not in fa]
    differ = [f for f in order if fa.get(f) != fb.get(f)]
    lines = ["| setting | A | B |", "|---|---|---|"]
    for f in order:
        va, vb = (md(d.get(f, "—"), 60) or "—" for d in (fa, fb))  # escaped: pipes and brackets stay text too
        lines.append(f"| **{md(f)}** | :orange-background[{va}] | :orange-background[{vb}] |" if f in differ
                     else f"| {md(f)} | {va} | {vb} |")
    st.markdown("\n".join(lines))
    st.caption(f"{len(differ)} differ (highlighted){': ' + md(', '.join(differ), 400) if differ else ''}.")


def manage(shown: pd.DataFrame, summaries: list[RunSummary]) -> None:
    """Open a run on its page with its settings, export it, or delete it (after a confirmation)."""
    by_key = {s.key: s for s in summaries}
    keys = list(shown.index)
    key = st.selectbox("Run", keys, format_func=shown["name"].get, key=f"{K}_pick")
    s = by_key[key]
    c1, c2, c3 = st.columns(3, vertical_alignment="center")
    link = view(s).link(s.config)
    if link is not None:
        c1.link_button("Open on its page", page_url(*link), icon=":material/open_in_new:",
                       help="opens the page that trained it, with its settings in the address (a new tab)")
    else:
        c1.caption("No page trains this kind of run.")
    c2.download_button("Export (.zip)", data=lambda: _export(s), file_name=f"run-{key}.zip",
                       mime="application/zip", icon=":material/download:", key=f"{K}_export", on_click="ignore",
                       help="weights as safetensors + run.json (config, history, metrics); Import reads it back")
    if c3.button("Delete…", icon=":material/delete:", key=f"{K}_delete", disabled=bool(resources.store().unwritable),
                 help="the run store cannot be written (see above)" if resources.store().unwritable else None):
        st.session_state.runs_confirm = key
    if st.session_state.get("runs_confirm") == key:
        st.warning(f"Delete **{md(shown.at[key, 'name'])}**? Its weights and history are removed from disk; the same "
                   "settings can be trained again.", icon=":material/warning:")
        y, n, _ = st.columns([1, 1, 4])
        if y.button("Delete", type="primary", key=f"{K}_delete_yes"):
            st.session_state.pop("runs_confirm", None)
            try:
                resources.store().delete(s.config)
                names().forget(key)
            except OSError as e:  # StoreNotWritable, or the names file's folder (read-only, full)
                st.session_state.runs_notice = ("error", f"Not deleted: {md(e, 600)}")
            else:
                st.session_state.runs_notice = ("success", f"Deleted {md(shown.at[key, 'name'])}.")
            resources.forget_stored_runs()
            st.session_state.runs_table_version = st.session_state.get("runs_table_version", 0) + 1
            st.rerun()
        if n.button("Cancel", key=f"{K}_delete_no"):
            st.session_state.pop("runs_confirm", None)
            st.rerun()


def page_url(page: str, settings: dict[str, str]) -> str:
    """The address of a page (relative to the app) with its URL settings: "fully_connected?hidden=64&lr=0.01"."""
    return page + ("?" + urlencode(settings) if settings else "")


def _export(s: RunSummary) -> bytes:
    run = resources.store().load(s.config)
    if run is None:
        raise RuntimeError(f"the stored run could not be read: {resources.store().last_problem(s.config)}")
    return export_run(run, s.created)


def import_box() -> None:
    """Import a run exported by the app; a bad file gets a message and changes nothing."""
    locked = resources.store().unwritable
    up = st.file_uploader("Import a run exported by this app (.zip)", type=["zip"], key=f"{K}_import",
                          max_upload_size=MAX_ARCHIVE_BYTES >> 20, disabled=bool(locked),
                          help="the run store cannot be written (see above)" if locked else None)
    if up is not None and st.session_state.get("runs_imported") != up.file_id:
        st.session_state.runs_imported = up.file_id
        try:
            run = import_run(resources.store(), up.getvalue())
        except ArchiveError as e:
            st.session_state.runs_notice = ("error", f"Not imported: {md(e, 400)}")
        except StoreNotWritable as e:
            st.session_state.runs_notice = ("error", f"Not imported: {md(e, 600)}")
        else:
            st.session_state.runs_selected = [run.config.key(), *st.session_state.get("runs_selected", [])]
            st.session_state.runs_table_version = st.session_state.get("runs_table_version", 0) + 1
            st.session_state.runs_notice = ("success", f"Imported {md(run.config.label())}.")
        st.rerun()


def empty_store() -> None:
    st.info("No stored runs yet. Train a network on the **Fully connected net** or **Convolutions** page, or import "
            "a run below, and it appears here.", icon=":material/inbox:")
    try:
        st.page_link("pages/fully_connected.py", label="Go to the Fully connected net page", icon=":material/hub:")
    except st.errors.StreamlitAPIException:  # the page run on its own (tests): no navigation to link into
        pass


def notice() -> None:
    """The outcome of the last delete, rename or import, shown once; and, on every visit, that the store cannot be
    written when it cannot (the import, rename and delete controls are disabled)."""
    if resources.store().unwritable:
        st.warning(md(resources.store().unwritable, 600), icon=":material/lock:")
    kind, text = st.session_state.pop("runs_notice", (None, ""))
    if kind == "success":
        st.success(text, icon=":material/check_circle:")
    elif kind == "error":
        st.error(text, icon=":material/error:")


def training_elsewhere(summaries: list[RunSummary]) -> None:
    """While runs are training (another page, tab or process), say so and rerun the page when one is stored."""
    busy = tuple(resources.store().busy_keys())
    if busy:
        _watch(tuple(s.key for s in summaries), busy)


def trained_runs() -> list[RunSummary]:
    """Every trained run in the store, of every kind (stored backbone features are a step of a run, not a run)."""
    return [s for s in resources.store().summaries(kind=None) if KINDS[s.kind].listed]


@st.fragment(run_every=2.0)
def _watch(listed: tuple[str, ...], busy: tuple[str, ...]) -> None:
    store = resources.store()
    if tuple(s.key for s in trained_runs()) != listed or tuple(store.busy_keys()) != busy:
        st.rerun(scope="app")
    st.info(f"{len(busy)} run{'s are' if len(busy) > 1 else ' is'} training or being written right now; each "
            "appears here once it is complete and stored (nothing half-trained is listed).",
            icon=":material/hourglass_top:")
