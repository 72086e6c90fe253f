"""Entry point: `streamlit run streamlit_app.py`.

Registers every page in pages/ with st.navigation, so every visit (also a first
visit straight to a page's URL) runs this script first: page config, thread
count and the sidebar status are the same everywhere.
"""
from ui.shell import layout_rules, sidebar_status  # first: sets OMP_WAIT_POLICY before torch loads

# isort: split

import streamlit as st

from ui import resources

st.set_page_config(page_title="PyTorch Concept Explorer", page_icon=":material/school:", layout="wide")
resources.configure_threads()
layout_rules()

PAGES = {
    "Start": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Concepts": [
        st.Page("pages/tensors.py", title="Tensors & autograd", icon=":material/data_array:"),
        st.Page("pages/fully_connected.py", title="Fully connected net", icon=":material/hub:"),
        st.Page("pages/convolutions.py", title="Convolutions", icon=":material/grid_on:"),
        st.Page("pages/losses.py", title="Loss functions", icon=":material/trending_down:"),
        st.Page("pages/optimizers.py", title="Optimizers", icon=":material/landscape:"),
        st.Page("pages/draw.py", title="Draw a digit", icon=":material/draw:"),
        st.Page("pages/layer_shapes.py", title="Layer shapes", icon=":material/stacks:"),
        st.Page("pages/transfer.py", title="Transfer learning", icon=":material/model_training:"),
        st.Page("pages/saliency.py", title="Saliency", icon=":material/center_focus_strong:"),
    ],
    "Your work": [
        st.Page("pages/runs.py", title="Training runs", icon=":material/monitoring:"),
    ],
}

navigation = st.navigation(PAGES)
sidebar_status()
navigation.run()
