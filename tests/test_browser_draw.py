"""Chromium (Debian's, through Playwright): draw a stroke on the real canvas and see both models predict.

The server is a fresh `streamlit run` on a free localhost port whose store holds tiny trained runs
(1 epoch, hidden 16), so predictions appear without training in the test. Screenshots of both
pages go to test-artifacts/ for a person to look at.
"""
import conv_fixtures  # noqa: F401  (offline, temp home)

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from conftest import running_server
from conv_fixtures import ensure_tiny_runs

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
TALL = {"width": 1400, "height": 2600}  # Streamlit scrolls inside the page: a tall viewport shows it all


@pytest.fixture(scope="module")
def server_with_runs():
    ensure_tiny_runs()
    with running_server(Path(os.environ["PTCE_HOME"])) as url:
        yield url


def _draw(page, points: list[tuple[float, float]]) -> None:
    """Press, drag through `points` (canvas pixels) and release, on fabric's upper canvas."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(state="visible", timeout=60_000)
    # Like a person, don't draw in the first instant: on a cold first load the component can still
    # re-initialise right after it appears, which wipes a stroke from the screen (the app keeps it).
    page.wait_for_timeout(2000)
    box = canvas.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=4)
    page.mouse.up()


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
        assert page.get_by_text("Prediction:").count() == 2  # Net2 and the CNN, side by side
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
