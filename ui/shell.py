"""App-wide setup and the sidebar status every page shows."""
from __future__ import annotations

import os

import streamlit as st
import torch

from core.config import HOME_ENV, device_label
from ui import cache

THREADS_ENV = "PTCE_THREADS"


@st.cache_resource
def configure_process() -> int:
    """Once per server process: one intra-op thread pool sized to the machine (sessions share it)."""
    threads = int(os.environ.get(THREADS_ENV, 0)) or max(1, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    return threads


def sidebar_status() -> None:
    data = cache.mnist()
    with st.sidebar:
        st.caption("**Device** · " + device_label(cache.device()))
        st.caption("**Data** · " + data.description)
        if data.note:
            st.caption("⚠️ " + data.note)
        st.caption(f"**Runs stored in** · `{cache.paths().runs}` (set `{HOME_ENV}` to move it)")
