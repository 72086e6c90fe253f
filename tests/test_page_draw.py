"""The Draw a digit page: AppTest cannot draw on the canvas, so the drawing path is driven by replacing
`st_canvas` (the library boundary) with a fake that returns a stroke; the real canvas is drawn on in Chromium."""
from __future__ import annotations

import io
import sys
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest

from core.models.registry import ModelConfig
from core.runs.store import RunStore
from support import ARTIFACTS, ROOT, rerun, texts
from tools.browser import draw_stroke
from tools.fake_runs import STORE_CFG, make_run

TALL = {"width": 1400, "height": 2600}  # Streamlit scrolls inside the page: a tall viewport shows it all


def _draw(page, points: list[tuple[float, float]]) -> None:
    """`draw_stroke` once the canvas has settled."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(state="visible", timeout=60_000)
    # Like a person, don't draw in the first instant: on a cold first load the component can still
    # re-initialise right after it appears, which wipes a stroke from the screen (the app keeps it).
    page.wait_for_timeout(2000)
    draw_stroke(page, points)


@pytest.mark.browser
def test_draw_a_stroke_and_see_predictions(browser, server_with_runs):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=TALL)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        # Enter through the home page, as a learner does. (A first visit straight to /draw on a freshly
        # started server also predicts, but the canvas can come back blank after the navigation switch.)
        page.goto(server_with_runs + "/")
        page.get_by_role("link", name="Draw a digit").first.click()
        page.get_by_text("nothing is predicted for an empty canvas").wait_for(timeout=60_000)
        assert page.get_by_text("Prediction:").count() == 0
        _draw(page, [(150, 40)] + [(150 - 2 * t, 40 + 10 * t) for t in range(1, 21)])  # a "1"
        page.get_by_text("Prediction:").first.wait_for(timeout=60_000)
        page.get_by_text("saliency of class").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # let plotly finish drawing before the screenshot
        expect(page.get_by_text("Prediction:")).to_have_count(2, timeout=60_000)  # Net2 and the CNN, side by side
        assert page.get_by_text("Traceback").count() == 0
        ink = np.asarray(Image.open(io.BytesIO(page.locator("canvas.upper-canvas").first.screenshot())).convert("L"))
        assert (ink < 100).sum() > 500, "the stroke should still be on the canvas next to its prediction"
        page.screenshot(path=str(ARTIFACTS / "draw.png"))

        # The drawing is offered on the Convolutions page (same session: use the sidebar link).
        page.get_by_role("link", name="Convolutions").first.click()
        page.get_by_role("tab", name="Feature maps & arithmetic").click()
        page.get_by_text("your drawing").first.wait_for(timeout=60_000)
        page.get_by_text("your drawing").first.click()
        expect(page.get_by_text("test digit #")).to_have_count(0, timeout=60_000)  # the maps show the drawing
        page.get_by_text("model says").first.wait_for(timeout=60_000)
        page.get_by_text("the same as by hand").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        assert page.get_by_text("Traceback").count() == 0
        page.screenshot(path=str(ARTIFACTS / "convolutions_feature_maps.png"))
        page.get_by_role("tab", name="Shape flow").click()
        page.get_by_text("Why is the Linear layer's input").wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "convolutions.png"))
    finally:
        context.close()
    assert not errors, errors


CONV, DRAW = str(ROOT / "pages" / "convolutions.py"), str(ROOT / "pages" / "draw.py")


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
    at = rerun(AppTest.from_file(DRAW, default_timeout=120))
    assert "Draw a digit" in texts(at)
    assert not any("Prediction" in str(c.proto.spec) for c in at.get("plotly_chart"))
    fake_canvas(monkeypatch, np.full((280, 280, 4), 255, np.uint8))
    rerun(at)  # a white, untouched canvas is empty too
    assert "Draw a digit" in texts(at)


def test_draw_predicts_with_both_models(tiny, monkeypatch):
    fake_canvas(monkeypatch, _stroke())
    at = rerun(AppTest.from_file(DRAW, default_timeout=120))
    from core.training.config import default_config

    for arch in ("net2", "cnn"):  # the default settings are not trained here: the newest stored run is preselected
        assert at.selectbox(key=f"draw_{arch}_cfg").value != default_config(arch, "mnist-sample").key()
    specs = [str(c.proto.spec) for c in at.get("plotly_chart")]
    assert sum("Prediction:" in s for s in specs) == 2
    assert sum("saliency of class" in s for s in specs) == 2
    assert any("relu2" in s for s in specs) and any("centred in 28" in s for s in specs)
    assert at.session_state["drawn_digit"] is not None  # offered to the Convolutions page
    fake_canvas(monkeypatch, None)  # Clear remounts the canvas empty
    at.button(key="draw_clear").click()
    rerun(at)
    assert "Draw a digit" in texts(at) and "drawn_digit" not in at.session_state


def test_a_tiny_scribble_in_a_corner_is_called_out_and_bars_are_probabilities(tiny, monkeypatch):
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(15, 15), (30, 40)], fill=(0, 0, 0, 255), width=6)
    fake_canvas(monkeypatch, np.asarray(img))
    at = rerun(AppTest.from_file(DRAW, default_timeout=120))
    warnings = " ".join(w.value for w in at.warning)
    assert "The drawing is tiny" in warnings and "far from the middle" in warnings
    specs = [str(c.proto.spec) for c in at.get("plotly_chart")]
    assert sum("(probability " in s for s in specs) == 2 and not any("sure)" in s for s in specs)
    assert "not how likely it is to be right" in texts(at)


def test_draw_untrained_default_offers_training(tiny, monkeypatch):
    from core.training.config import default_config

    fake_canvas(monkeypatch, _stroke())
    at = rerun(AppTest.from_file(DRAW, default_timeout=120))
    for arch in ("net2", "cnn"):  # the default settings (many epochs) are not in the test store
        at.selectbox(key=f"draw_{arch}_cfg").set_value(default_config(arch, "mnist-sample").key())
    rerun(at)
    assert "Not trained yet" in texts(at)
    assert {b.key for b in at.button} >= {"draw_net2_train", "draw_cnn_train"}
    assert not any("Prediction:" in str(c.proto.spec) for c in at.get("plotly_chart"))


CFG = STORE_CFG


def test_draw_never_offers_a_run_that_did_not_learn(monkeypatch):
    """The newest stored Net2 did not learn: Draw's model list leaves it out (and so never preselects it)."""
    import sys
    import types

    from streamlit.testing.v1 import AppTest

    from core.config import Paths

    def st_canvas(*args, **kwargs):
        return types.SimpleNamespace(image_data=None, json_data={"objects": []})

    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", types.SimpleNamespace(st_canvas=st_canvas))
    store = RunStore(Paths.from_env().runs)
    learned = replace(CFG, model=ModelConfig("net2", 32), seed=21)
    failed = replace(CFG, model=ModelConfig("net2", 32), lr=10.0, seed=22)
    store.save(make_run(learned))
    time.sleep(0.01)
    store.save(make_run(failed, acc=0.1, status="did-not-learn"))
    assert store.summaries()[0].config == failed  # the newest
    at = AppTest.from_file(str(Path(__file__).parents[1] / "pages" / "draw.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    box = at.selectbox(key="draw_net2_cfg")
    assert any(learned.label() in o for o in box.options) and not any(failed.label() in o for o in box.options)
    assert box.value != failed.key()


def test_a_runs_remarks_are_one_sentence_each_with_details_on_demand(monkeypatch):
    """Issue 19: Draw showed two long over-fitting warnings per model and pushed its results below the fold. Each
    remark is now one sentence; the explanations wait in one closed expander."""
    from core.config import Paths
    from core.training.config import default_config
    from core.training.record import History

    def st_canvas(*args, **kwargs):
        return types.SimpleNamespace(image_data=None, json_data={"objects": []})

    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", types.SimpleNamespace(st_canvas=st_canvas))
    cfg = default_config("net2", "mnist-sample")
    run = make_run(cfg)
    spe, n = 3, cfg.epochs
    losses = [2.3] * (spe * n)
    losses[4] = 500.0  # a spike
    val = [0.5 - 0.02 * e for e in range(n // 2)] + [0.4 + 0.05 * e for e in range(n - n // 2)]  # over-fits
    run = replace(run, history=History(losses, spe, val, [0.9] * n),
                  metrics={**run.metrics, "n_val": 400})  # a validation curve
    RunStore(Paths.from_env().runs).save(run)
    at = AppTest.from_file(str(Path(__file__).parents[1] / "pages" / "draw.py"), default_timeout=120)
    rerun(at)
    mine = [w.value for w in at.warning if "spiked" in w.value or "Over-fitting" in w.value]
    assert len(mine) == 2
    for text in mine:
        assert text.count(". ") == 0 and len(text) < 160, text  # one sentence
    assert any(e.label == "Why, and what to try" for e in at.expander)
    assert "updates overshoot" in texts(at, "markdown")  # the details, inside the expander
