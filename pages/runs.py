"""Training runs: every stored run in one table, with their curves overlaid (like TensorBoard)."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

from datetime import datetime

import streamlit as st

from core.config import ARCH_LABELS, OPTIMIZER_LABELS
from core.figures.training import Curve, run_curves
from core.record import STATUS_LABELS
from ui import cache
from ui.training import summary_label

ensure_navigation()
st.title(":material/monitoring: Training runs")
st.markdown("Every run trained on any page is stored on disk with its full configuration and history. "
            "Pick runs to overlay their curves; the same configuration always loads, never retrains.")

summaries = cache.store().summaries()
if not summaries:
    st.info("No stored runs yet. Train a network on the **Fully connected net** or **Convolutions** page and it "
            "appears here.", icon=":material/inbox:")
    st.page_link("pages/fully_connected.py", label="Go to the Fully connected net page", icon=":material/hub:")
    st.stop()

archs = sorted({s.config.model.arch for s in summaries})
arch = st.radio("Model", archs, format_func=ARCH_LABELS.get, horizontal=True, key="runs_arch")
shown = [s for s in summaries if s.config.model.arch == arch]
table = [{
    "status": STATUS_LABELS[s.status],
    "optimizer": OPTIMIZER_LABELS[s.config.optimizer],
    "learning rate": s.config.lr,
    "batch": s.config.batch_size,
    "epochs": s.config.epochs,
    "hidden": s.config.model.hidden,
    "data": s.config.data_source,
    "test accuracy (%)": round(100 * float(s.metrics["test_acc"]), 2),
    "train time (s)": round(float(s.metrics["train_s"]), 1),
    "samples/s": round(float(s.metrics["samples_per_s"])),
    "device": s.metrics["device"],
    "trained": datetime.fromtimestamp(s.created).strftime("%Y-%m-%d %H:%M"),
} for s in shown]
counts = st.column_config.NumberColumn(format="localized")  # thousands separators, still sorted as numbers
event = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                     key="runs_table", column_config={"samples/s": counts, "batch": counts})
picked = event.selection.rows if event and event.selection.rows else list(range(min(3, len(shown))))
st.caption("Select rows (tick the boxes on the left) to choose which runs to overlay; the three newest are shown "
           "by default.")
curves = [Curve.of(summary_label(shown[i]), shown[i].history) for i in picked]
st.plotly_chart(run_curves(curves), key="runs_curves")
