"""Home: what the app teaches, with a link to every concept page."""
import streamlit as st

from ui.shell import ensure_navigation

ensure_navigation()

st.title("🔥 PyTorch Concept Explorer")
st.markdown(
    "Click through the ideas behind PyTorch and watch **real models** react. Every number and picture "
    "here is computed by PyTorch from the actual tensors and models, right now, on this machine."
)
