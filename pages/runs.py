"""Training runs: every stored run in one table, their curves overlaid (like TensorBoard), open / compare /
export / delete / import."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from ui import runs
from ui.path import next_step, stop_here

ensure_navigation()
st.title(":material/monitoring: Training runs")
st.markdown("Every run trained on any page is stored on disk with its full configuration and history. Tick "
            "**Plot** to overlay runs, click a name to rename it, sort and filter with the controls above the table.")
runs.notice()

summaries = runs.trained_runs()
runs.training_elsewhere(summaries)
if not summaries:
    runs.empty_store()
    runs.import_box()
    stop_here(__file__)

shown = runs.filter_and_sort(runs.table(summaries))
ticked = runs.run_table(shown, summaries)
st.caption(f"{len(shown)} of {len(summaries)} runs listed · {len(ticked)} shown below. **Trained** says whether a "
           "run had the machine to itself: a run trained alongside others reports their time too.")

st.subheader("Curves")
runs.curves(ticked, shown, summaries)

st.subheader("Open, export or delete a run")
runs.manage(shown, summaries)

st.subheader("Compare two runs")
runs.compare(shown, summaries, ticked)

st.subheader("Import a run")
runs.import_box()

next_step(__file__)
