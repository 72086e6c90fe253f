"""App-wide setup and the sidebar status every page shows."""
from __future__ import annotations

import streamlit as st

from core.config import HOME_ENV, device_label
from ui import resources

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


def sidebar_status() -> None:
    data = resources.mnist()
    with st.sidebar:
        st.caption("**Device** · " + device_label(resources.device()))
        st.caption("**Data** · " + data.description)
        if data.note:
            st.caption(":material/warning: " + data.note)
        st.caption(f"**Runs stored in** · `{resources.paths().runs}` (set `{HOME_ENV}` to move it)")


def ensure_navigation() -> None:
    """Call first in every page. On a freshly started server, Streamlit treats `pages/` as legacy
    auto-discovered pages until some session has run `st.navigation`, so a first visit straight to
    a page's URL would run that page alone, with a different sidebar. Here the page switches the
    server to the app's own navigation and reruns, which then runs streamlit_app.py for this page."""
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
