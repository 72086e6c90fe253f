"""Entry point: `streamlit run streamlit_app.py`.

Registers every page of the one page table (ui/path.py) with st.navigation, so every visit (also a first
visit straight to a page's URL) runs this script first: page config, thread
count and the sidebar status are the same everywhere.
"""
from ui.shell import ICON, layout_rules, sidebar_status  # first: sets OMP_WAIT_POLICY before torch loads

# isort: split

import streamlit as st

from ui import path, resources, stale_reruns

# The tab's icon is a file served by this server: a `:material/…:` favicon is fetched from fonts.gstatic.com, and the
# browser should ask no other host for anything (tests/test_outside_text.py).
st.set_page_config(page_title="PyTorch Concept Explorer", page_icon=ICON, layout="wide")
resources.configure_threads()
stale_reruns.install()  # a fragment's rerun from a page the learner left must not blank the new one
layout_rules()

navigation = st.navigation(path.navigation())
sidebar_status()
navigation.run()
