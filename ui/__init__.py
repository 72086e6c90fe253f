"""Streamlit glue: the only package that calls st.cache_*; shared widgets that return configs."""
import os

# Sessions share the cores: OpenMP's default busy-waiting collapses when they do (bench/NOTES.md). Set before
# torch is imported, so every page imports `ui` first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
