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


def ensure_navigation() -> None:
    """Call first in every page. On a freshly started server, Streamlit treats `pages/` as legacy
    auto-discovered pages until some session has run `st.navigation`, so a first visit straight to
    a page's URL would run that page alone, with a different sidebar. Here the page switches the
    server to the app's own navigation and reruns, which then runs streamlit_app.py for this page."""
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
