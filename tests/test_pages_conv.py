"""AppTest: the Convolutions and Draw-a-digit pages run, react to their controls, and never raise.

AppTest cannot draw on the canvas, so the Draw page's drawing path is driven by replacing
`st_canvas` (the library boundary) with a fake that returns a drawn stroke; the real canvas is
tested in Chromium (test_browser_draw.py).
"""
import conv_fixtures  # noqa: F401  (offline, temp home)

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from conv_fixtures import TINY_SEED, ensure_tiny_runs

ROOT = Path(__file__).resolve().parents[1]
CONV, DRAW = str(ROOT / "pages" / "convolutions.py"), str(ROOT / "pages" / "draw.py")
TABS = ["Shape flow", "Filters", "Feature maps & arithmetic", "Conv sandbox", "Mistakes"]


@pytest.fixture(scope="module")
def tiny():
    return ensure_tiny_runs()


def run(at: AppTest) -> AppTest:
    at.run(timeout=120)
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "info", "success", "error", "warning", "caption", "code")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def conv_page(tiny_settings: bool) -> AppTest:
    at = run(AppTest.from_file(CONV, default_timeout=120))
    if tiny_settings:
        at.select_slider(key="conv_hidden").set_value(16)
        at.slider(key="conv_epochs").set_value(1)
        at.number_input(key="conv_seed").set_value(TINY_SEED)
        run(at)
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    at.session_state["conv_tab"] = label
    return run(at)


def test_registered_in_navigation():
    src = (ROOT / "streamlit_app.py").read_text()
    assert 'st.Page("pages/convolutions.py"' in src and 'st.Page("pages/draw.py"' in src


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
    run(at)
    assert "invalid" in texts(at) and "does not fit" in texts(at) and "Kernel size can't be greater" in texts(at)
    at.slider(key="conv_sb_k").set_value(3)
    at.slider(key="conv_sb_n").set_value(7)
    at.slider(key="conv_sb_s_conv").set_value(0)
    run(at)
    assert "stride is 0" in texts(at)
    at.slider(key="conv_sb_s_conv").set_value(3)
    run(at)
    assert "never covered" in texts(at) or "never reached" in texts(at)
    at.radio(key="conv_sb_op").set_value("pool")
    at.slider(key="conv_sb_p").set_value(2)
    run(at)
    assert "half the kernel size" in texts(at)


def test_convolutions_with_stored_run(tiny):
    at = conv_page(tiny_settings=True)
    assert "loaded from the store" in texts(at)
    open_tab(at, "Filters")
    assert {c.key for c in at.get("plotly_chart")} >= {"conv_f1_init", "conv_f1_trained", "conv_f2"}
    at.toggle(key="conv_same_scale").set_value(False)
    at.radio(key="conv_f2_which").set_value("initialisation")
    run(at)
    open_tab(at, "Feature maps & arithmetic")
    assert "the same as by hand" in texts(at)
    at.number_input(key="conv_index").set_value(17)
    at.radio(key="conv_ar_layer").set_value("conv2")
    run(at)
    at.number_input(key="conv_ar_ch").set_value(31)
    at.slider(key="conv_ar_row").set_value(0)
    at.slider(key="conv_ar_col").set_value(13)
    at.number_input(key="conv_ar_in").set_value(15)
    run(at)
    assert "the same as by hand" in texts(at) and "sum over 16 input channels" in texts(at)
    at.button(key="conv_random").click()
    run(at)
    open_tab(at, "Mistakes")
    assert "misclassified" in texts(at)
    at.selectbox(key="conv_cm_true").set_value(4)
    at.selectbox(key="conv_cm_pred").set_value(9)
    run(at)
    at.selectbox(key="conv_cm_pred").set_value(4)
    run(at)
    assert "correctly classified" in texts(at)


def test_feature_maps_of_a_drawing():
    at = AppTest.from_file(CONV, default_timeout=120)
    at.session_state["drawn_digit"] = np.pad(np.ones((20, 4)), ((4, 4), (12, 12))).tolist()  # a "1"
    run(at)
    open_tab(at, "Feature maps & arithmetic")
    at.radio(key="conv_source").set_value("your drawing")
    run(at)
    assert "your drawing" in texts(at) or any("your drawing" in str(r.value) for r in at.radio)


def fake_canvas(monkeypatch, rgba: np.ndarray | None) -> None:
    """Replace the streamlit_drawable_canvas module for the page: st_canvas returns `rgba` as image_data.
    (The real module can only be imported inside a running Streamlit app: it registers a component.)"""
    def st_canvas(*args, **kwargs):
        assert kwargs.get("return_image_data") is True  # without it the real canvas hands back no pixels
        return types.SimpleNamespace(image_data=rgba, json_data={"objects": []})
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", types.SimpleNamespace(st_canvas=st_canvas))


def _stroke() -> np.ndarray:
    img = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    ImageDraw.Draw(img).line([(140, 40), (150, 240)], fill=(0, 0, 0, 255), width=20)  # a "1"
    return np.asarray(img)


def test_draw_empty_canvas_says_draw_a_digit(tiny, monkeypatch):
    fake_canvas(monkeypatch, None)
    at = run(AppTest.from_file(DRAW, default_timeout=120))
    assert "Draw a digit" in texts(at)
    assert not any("Prediction" in str(c.proto.spec) for c in at.get("plotly_chart"))
    fake_canvas(monkeypatch, np.full((280, 280, 4), 255, np.uint8))
    run(at)  # a white, untouched canvas is empty too
    assert "Draw a digit" in texts(at)


def test_draw_predicts_with_both_models(tiny, monkeypatch):
    fake_canvas(monkeypatch, _stroke())
    at = run(AppTest.from_file(DRAW, default_timeout=120))
    from core.config import default_config

    for arch in ("net2", "cnn"):  # the default settings are not trained here: the newest stored run is preselected
        assert at.selectbox(key=f"draw_{arch}_cfg").value != default_config(arch, "mnist-sample").key()
    specs = [str(c.proto.spec) for c in at.get("plotly_chart")]
    assert sum("Prediction:" in s for s in specs) == 2
    assert sum("saliency of class" in s for s in specs) == 2
    assert any("relu2" in s for s in specs) and any("centred in 28" in s for s in specs)
    assert at.session_state["drawn_digit"] is not None  # offered to the Convolutions page
    fake_canvas(monkeypatch, None)  # Clear remounts the canvas empty
    at.button(key="draw_clear").click()
    run(at)
    assert "Draw a digit" in texts(at) and "drawn_digit" not in at.session_state


def test_draw_untrained_default_offers_training(tiny, monkeypatch):
    from core.config import default_config

    fake_canvas(monkeypatch, _stroke())
    at = run(AppTest.from_file(DRAW, default_timeout=120))
    for arch in ("net2", "cnn"):  # the default settings (many epochs) are not in the test store
        at.selectbox(key=f"draw_{arch}_cfg").set_value(default_config(arch, "mnist-sample").key())
    run(at)
    assert "Not trained yet" in texts(at)
    assert {b.key for b in at.button} >= {"draw_net2_train", "draw_cnn_train"}
    assert not any("Prediction:" in str(c.proto.spec) for c in at.get("plotly_chart"))
