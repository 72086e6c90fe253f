"""App-wide setup and the sidebar status every page shows."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.config import HOME_ENV, device_label
from ui import downloads, resources

ICON = str(Path(__file__).with_name("icon.png"))  # the browser tab's icon, served by this server

# A page with tabs keeps room below its content: opening a shorter tab then never shortens the page under the
# window (the browser would scroll up and the click land on whatever slid under the pointer, bench/NOTES.md),
# and a short tab is followed at once by what comes after it, not by a window's height of blank panel.
LAYOUT_CSS = """<style>
[data-testid='stMainBlockContainer']:has([data-testid='stTabs']) { padding-bottom: calc(100vh - 12rem); }
</style>"""


def layout_rules() -> None:
    """App-wide CSS, once per run from the entry script. Style-only st.html goes to Streamlit's event container,
    so it takes no place among the page's elements."""
    st.html(LAYOUT_CSS)


def data_line(source: str, n_train: int, n_test: int, note: str) -> str:
    """The sidebar's one line about the data in use (details are one click away, never on every page)."""
    name = "Full MNIST" if source == "mnist-full" else "MNIST sample"
    return f"**Data** · {name}, {n_train:,} + {n_test:,} digits" + (" (full set not here)" if note else "")


def sidebar_status() -> None:
    """Quiet by default: device, data and the store's folder in one line each, a progress line per running
    download; the data's origin, why full MNIST is missing and the download buttons in a details panel."""
    data = resources.mnist()
    with st.sidebar:
        st.caption("**Device** · " + device_label(resources.device()))
        st.caption(data_line(data.source, len(data.train), len(data.test), data.note))
        downloads.sidebar()
        with st.expander("Data details and downloads", icon=":material/database:"):
            st.caption(data.description)
            if data.note:
                st.caption(data.note)
            downloads.sidebar_offers()
        st.caption(f"**Runs stored in** · `{resources.paths().runs}` (set `{HOME_ENV}` to move it)")
        if resources.store().unwritable:
            st.caption(":material/lock: It cannot be written: stored runs open, nothing new is trained or stored.")


def ensure_navigation() -> None:
    """Call first in every page. On a freshly started server, Streamlit treats `pages/` as legacy
    auto-discovered pages until some session has run `st.navigation`, so a first visit straight to
    a page's URL would run that page alone, with a different sidebar. Here the page switches the
    server to the app's own navigation and reruns, which then runs streamlit_app.py for this page."""
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
