"""The Convolutions page in AppTest: every tab untrained and trained, the sandbox's valid and invalid
settings and its link to the builder, feature maps of a drawing."""
from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from conftest import ROOT, TINY_SEED, page_app, rerun, texts

CONV, DRAW = str(ROOT / "pages" / "convolutions.py"), str(ROOT / "pages" / "draw.py")


TABS = ["Shape flow", "Filters", "Feature maps & arithmetic", "Conv sandbox", "Mistakes"]


def conv_page(tiny_settings: bool) -> AppTest:
    at = page_app("convolutions")
    if tiny_settings:
        at.select_slider(key="conv_hidden").set_value(16)
        at.slider(key="conv_epochs").set_value(1)
        at.number_input(key="conv_seed").set_value(TINY_SEED)
        rerun(at)
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["conv_tab"] = label
    return rerun(at)


def test_convolutions_untrained_every_tab():
    at = conv_page(tiny_settings=False)
    assert "Not trained yet" in texts(at)
    assert "32·7·7" in texts(at)  # shape flow tab is open first
    for label in TABS[1:]:
        open_tab(at, label)
        assert len(at.get("plotly_chart")) >= (0 if label == "Mistakes" else 1), label
    assert "Train the model" in texts(at)  # mistakes need a trained model


def test_sandbox_controls_valid_and_invalid():
    at = open_tab(conv_page(tiny_settings=False), "Conv sandbox")
    assert "PyTorch agrees" in texts(at)
    at.slider(key="conv_sb_k").set_value(9)
    at.slider(key="conv_sb_n").set_value(3)
    rerun(at)
    assert "invalid" in texts(at) and "does not fit" in texts(at) and "Kernel size can't be greater" in texts(at)
    at.slider(key="conv_sb_k").set_value(3)
    at.slider(key="conv_sb_n").set_value(7)
    at.slider(key="conv_sb_s_conv").set_value(0)
    rerun(at)
    assert "stride is 0" in texts(at)
    at.slider(key="conv_sb_s_conv").set_value(3)
    rerun(at)
    assert "never covered" in texts(at) or "never reached" in texts(at)
    at.radio(key="conv_sb_op").set_value("pool")
    at.slider(key="conv_sb_p").set_value(2)
    rerun(at)
    assert "half the kernel size" in texts(at)


def test_sandbox_links_the_same_layer_to_the_layer_shapes_builder():
    import re
    from urllib.parse import parse_qs

    from core import conv
    from core import layers as L

    at = open_tab(conv_page(tiny_settings=False), "Conv sandbox")
    at.slider(key="conv_sb_k").set_value(5)
    at.slider(key="conv_sb_p").set_value(2)
    rerun(at)
    link = re.search(r"\]\(layer_shapes\?([^)]+)\)", texts(at))
    assert link, "no link to the Layer shapes page"
    stack = L.decode(parse_qs(link.group(1))["stack"][0]).stack
    spec = conv.ConvSpec(size=7, kernel=5, stride=1, padding=2, dilation=1, op="conv")
    assert stack == L.sandbox_stack(spec)
    assert L.propagate(stack).output_shape == (1, 7, 7) == (1, conv.check(spec).size, conv.check(spec).size)


def test_convolutions_with_stored_run(tiny):
    at = conv_page(tiny_settings=True)
    assert "loaded from the store" in texts(at)
    open_tab(at, "Filters")
    assert {c.key for c in at.get("plotly_chart")} >= {"conv_f1_init", "conv_f1_trained", "conv_f2"}
    at.toggle(key="conv_same_scale").set_value(False)
    at.radio(key="conv_f2_which").set_value("initialisation")
    rerun(at)
    open_tab(at, "Feature maps & arithmetic")
    assert "the same as by hand" in texts(at)
    at.number_input(key="conv_index").set_value(17)
    at.radio(key="conv_ar_layer").set_value("conv2")
    rerun(at)
    at.number_input(key="conv_ar_ch").set_value(31)
    at.slider(key="conv_ar_row").set_value(0)
    at.slider(key="conv_ar_col").set_value(13)
    at.number_input(key="conv_ar_in").set_value(15)
    rerun(at)
    assert "the same as by hand" in texts(at) and "sum over 16 input channels" in texts(at)
    at.button(key="conv_random").click()
    rerun(at)
    open_tab(at, "Mistakes")
    assert "misclassified" in texts(at)
    cells = at.selectbox(key="conv_cell")  # the one confusion-cell picker (ui.confusion_cells)
    t, p = cells.options[-1].split(" → ")[0].split()[-1], cells.options[-1].split(" → ")[1].split()[1]
    cells.set_value((int(t), int(p)))
    rerun(at)
    assert f"that are **{t}** but were predicted **{p}**" in texts(at)


def test_feature_maps_of_a_drawing():
    at = AppTest.from_file(CONV, default_timeout=120)
    at.session_state["drawn_digit"] = np.pad(np.ones((20, 4)), ((4, 4), (12, 12))).tolist()  # a "1"
    rerun(at)
    open_tab(at, "Feature maps & arithmetic")
    at.radio(key="conv_source").set_value("your drawing")
    rerun(at)
    assert "your drawing" in texts(at) or any("your drawing" in str(r.value) for r in at.radio)
