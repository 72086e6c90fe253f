"""Streamlit glue: the only package that calls st.cache_*; shared widgets that return configs."""
import os

# Several sessions (and the other apps on a small machine) share the cores: with OpenMP's default
# busy-waiting, two torch threads fighting one busy core run ~20x slower (measured). Must be set
# before torch is imported, so every page imports `ui` first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
