"""AppTest: the Layer shapes page with presets, a broken stack from the URL, edits, a fix, and ResNet-18."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import layers as L

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "layer_shapes.py")


def run(at: AppTest) -> AppTest:
    at.run(timeout=180)
    assert not at.exception, [e.message for e in at.exception]
    return at


def page(stack: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    if stack is not None:
        at.query_params["stack"] = stack
    return run(at)


def test_default_stack_measures_and_shows_code():
    at = page()
    assert "Output per sample: [10]" in at.success[0].value
    assert at.query_params["stack"] == L.encode(L.PRESETS["cnn"].stack)
    assert "nn.Conv2d(1, 16, 3, padding=1),  # (B, 16, 28, 28)" in at.code[0].value
    table = at.dataframe[0].value
    assert list(table["type"]) == [layer.kind for layer in L.PRESETS["cnn"].stack.layers]
    assert int(table["params"].sum()) == 206_922  # CNNDemo h128, from the live model
    at.selectbox(key="ls_pick").set_value(7)
    run(at)
    assert "1568·128 + 128 = **200,832**" in "\n".join(m.value for m in at.markdown)


def test_broken_stack_from_the_url_shows_where_and_the_fix_repairs_it():
    at = page(L.encode(L.PRESETS["broken"].stack))
    assert "in_features should be 1568 = 32·7·7" in at.error[0].value and "Layer 7" in at.error[0].value
    assert len(at.dataframe[0].value) == 7  # the partial table up to the failing layer
    assert "# <- does not fit" in at.code[0].value
    at.button(key="ls_fix").click()
    run(at)
    assert not at.error and "Output per sample: [10]" in at.success[0].value
    assert "l1568.128" in at.query_params["stack"]


def test_editing_a_kernel_too_large_and_a_bad_link():
    at = page("i1.8.8_c1.4.3_r")
    v = at.session_state["ls_version"]
    at.number_input(key=f"ls_0_Conv2d_{v}_kernel_size").set_value(11)
    run(at)
    assert "kernel_size should be at most 8" in at.error[0].value
    assert at.query_params["stack"] == "i1.8.8_c1.4.11_r"
    bad = page("i1.28.28_c1.16.99")
    assert "kernel_size = 99 is outside 1…31" in bad.warning[0].value and bad.success  # falls back to CNNDemo


def test_presets_and_resnet_tab():
    at = page()
    at.selectbox(key=f"ls_preset_{at.session_state['ls_version']}").set_value("lenet5")
    run(at)
    assert at.query_params["stack"] == L.encode(L.PRESETS["lenet5"].stack)
    at.select_slider(key="ls_rn_side").set_value(32)
    at.slider(key="ls_rn_depth").set_value(3)
    run(at)
    resnet = at.dataframe[1].value
    assert int(resnet[resnet["depth"] == 1]["params"].sum()) == 11_181_642  # 10 classes
    assert "BasicBlock" in set(resnet["type"])
