"""Issue 10 in Chromium at 1280×800, as a learner's first pass meets the app: Convolutions tabs switch without
moving the page and one legend click hides one curve (item 2); strokes on a first visit straight to /draw stay
and add up (item 3); and a full-page screenshot of every page in the navigation, none with an exception."""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import ARTIFACTS, PAGE_FILES, TINY_SEED, drawn, ensure_tiny_runs, in_app_navigation
from tools.app_server import free_port, running_server
from tools.browser import draw_stroke
from ui.path import PATH

pytestmark = pytest.mark.browser
EXCEPTION = "[data-testid='stException']"
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}  # the size issue 10 was tried at
TINY_QUERY = f"?hidden=16&ep=1&seed={TINY_SEED}"  # the settings of conftest's tiny stored runs
TABS = {"Filters": "conv1 before training", "Feature maps & arithmetic": "the same as by hand",
        "Conv sandbox": "Change the settings", "Mistakes": "misclassified", "Shape flow": "Why is the Linear layer"}


@pytest.fixture
def small_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield pg
    finally:
        context.close()
    assert not errors, errors


# ------------------------------------------------------------------ item 2: tabs and the legend
JUMP_PROBE = """() => {
    // Every animation frame until stopped: where the tab bar is on screen and how far the page is scrolled
    // (Streamlit scrolls its main element, not the window: both are counted).
    const bar = document.querySelector("[data-testid='stTabs'] [role='tablist']");
    const main = document.querySelector("[data-testid='stMain']");
    window.__jump = {tops: [], scrolls: [], run: true};
    const tick = () => {
        window.__jump.tops.push(bar.getBoundingClientRect().top);
        window.__jump.scrolls.push(main.scrollTop + window.scrollY);
        if (window.__jump.run) requestAnimationFrame(tick);
    };
    tick();
}"""


def test_switching_convolutions_tabs_does_not_move_the_page(server_with_runs, small_page):
    page = small_page
    page.goto(f"{server_with_runs}/convolutions{TINY_QUERY}")  # the stored tiny CNN
    page.get_by_text("Trained run loaded from the store").wait_for(timeout=90_000)
    drawn(page, "pages/convolutions.py", 90_000, paint_ms=500)
    bar = page.locator("[data-testid='stTabs'] [role='tablist']").first
    bar.scroll_into_view_if_needed()
    page.mouse.move(800, 400)  # over the page, not the sidebar
    page.mouse.wheel(0, bar.bounding_box()["y"] - 60)  # the tab bar near the window's top: the case that jumped
    page.wait_for_timeout(500)
    for label, content in TABS.items():
        tab = page.get_by_role("tab", name=label, exact=True)
        box = tab.bounding_box()
        assert 0 < box["y"] < VIEWPORT["height"] - box["height"], f"the tab bar is in view before {label}"
        page.evaluate(JUMP_PROBE)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.wait_for_timeout(150)
        page.mouse.up()
        page.get_by_text(content).first.wait_for(timeout=60_000)
        drawn(page, "pages/convolutions.py", 90_000, paint_ms=500)
        probe = page.evaluate("() => { window.__jump.run = false; return window.__jump; }")
        moved = max(abs(t - probe["tops"][0]) for t in probe["tops"])
        scrolled = max(abs(s - probe["scrolls"][0]) for s in probe["scrolls"])
        assert moved <= 3 and scrolled <= 3, f"{label}: the tab bar moved {moved:.0f} px, the page {scrolled:.0f} px"
        assert page.get_by_role("tab", name=label, exact=True).get_attribute("aria-selected") == "true"
    assert page.locator(EXCEPTION).count() == 0


def test_a_legend_click_hides_only_that_curve(server_with_runs, small_page):
    page = small_page
    page.goto(f"{server_with_runs}/convolutions{TINY_QUERY}")
    drawn(page, "pages/convolutions.py", 90_000, paint_ms=500)
    chart = page.locator("[data-testid='stPlotlyChart']").filter(has_text="train loss (raw, per batch)").first
    entry = chart.locator("g.traces", has_text="train loss (raw, per batch)").locator("rect.legendtoggle")
    entry.scroll_into_view_if_needed()
    page.mouse.move(800, 400)
    page.mouse.wheel(0, entry.bounding_box()["y"] - 400)  # the entry mid-window, clear of the app's header
    page.wait_for_timeout(300)
    box = entry.bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + box["height"] / 2)  # where the learner clicks: on its name
    page.wait_for_timeout(500)
    visible = chart.locator(".js-plotly-plot").evaluate("gd => gd._fullData.map(t => [t.name, t.visible])")
    hidden = [name for name, v in visible if v != True]  # noqa: E712 (plotly's "legendonly" is truthy)
    assert hidden == ["train loss (raw, per batch)"], visible


# ------------------------------------------------------------------ item 3: drawing on a first visit to /draw
def _ink(page) -> np.ndarray:
    """The canvas as the learner sees it: True where a pixel is dark."""
    png = page.locator("canvas.lower-canvas").first.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")) < 100


def no_network() -> dict[str, str | None]:
    """A fresh install without internet: the app tries the MNIST download (PTCE_OFFLINE unset) and every
    connection is refused at once (a proxy on a closed local port), so nothing leaves the machine."""
    closed = f"http://127.0.0.1:{free_port()}"
    return {"PTCE_OFFLINE": None, "NO_PROXY": None, "no_proxy": None, "HTTP_PROXY": closed, "HTTPS_PROXY": closed,
            "http_proxy": closed, "https_proxy": closed}


def test_strokes_stay_and_add_up_on_a_first_visit_straight_to_draw(browser, tmp_path):
    """Issue 10, item 3: on a freshly started server without internet, the learner opens /draw first (no Home
    before). The first run tried the MNIST download and drew its progress bar; when that bar sat in the page,
    the next run's elements all moved up one place and the canvas was rebuilt empty. Being the server's very first
    request, it is also the canvas's first visit by address (a bookmark after a restart): the page runs inside the
    app's navigation (tests/test_streamlit_app.py has the default page's and a training page's)."""
    ensure_tiny_runs()
    shutil.copytree(Path(os.environ["PTCE_HOME"]) / "runs", tmp_path / "runs")  # models to predict with
    with running_server(tmp_path, env=no_network()) as (_, url):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        try:
            page.goto(f"{url}/draw")
            page.get_by_text("nothing is predicted for an empty canvas").wait_for(timeout=90_000)
            in_app_navigation(page, "Draw a digit")
            draw_stroke(page, [(140, 40)] + [(140, 40 + 10 * t) for t in range(1, 21)])  # a "1"
            page.get_by_text("Prediction:").first.wait_for(timeout=60_000)
            drawn(page, "pages/draw.py", 90_000, paint_ms=500)
            first = _ink(page)
            assert first.sum() > 500, "the first stroke vanished while its prediction shows"
            draw_stroke(page, [(60, 140)] + [(60 + 8 * t, 140) for t in range(1, 21)])  # a bar across it: a "+"
            page.wait_for_timeout(300)
            drawn(page, "pages/draw.py", 90_000, paint_ms=500)
            both = _ink(page)
            assert (both & first).sum() > 0.95 * first.sum(), "the second stroke erased the first"
            assert both.sum() > first.sum() + 500, "the second stroke is not on the canvas"
            assert page.locator(EXCEPTION).count() == 0
            toolbar = page.locator(".dc-toolbar-card").first.bounding_box()  # shown above the canvas on hover
            intro = page.get_by_text("Draw one digit, 0–9").bounding_box()
            assert toolbar["y"] >= intro["y"] + intro["height"], "the canvas toolbar covers the intro sentence"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            save_full_page(page, SCREENSHOTS / "draw-two-strokes.png")
        finally:
            context.close()


# ------------------------------------------------------------------ screenshots of every page
def save_full_page(page, path: Path) -> None:
    """The whole page as laid out at 1280 px wide. Streamlit scrolls its main element, not the window, so the
    window is made as tall as the content for the shot (the room kept below a page with tabs is lifted, or it
    would grow with the window) and put back to 800 px after."""
    page.add_style_tag(content="[data-testid='stMainBlockContainer'] { padding-bottom: 2rem !important; }")
    height = page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height), 16_000)})
    page.wait_for_timeout(600)  # plotly redraws for the new window
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)


TRAINED_PAGES = ("fully_connected", "convolutions")  # opened with the tiny run's settings: the trained view


def test_every_page_at_1280x800_has_no_exception_and_is_saved(server_with_runs, small_page):
    """Every page listed in the app's own navigation, reached at 1280×800 as a learner does (its sidebar link; the
    two trained views by their address) with the tiny stored runs: no exception element, and a full-page PNG per
    page under test-artifacts/screenshots/ for a person to look at. Every page's first visit by its address is
    the outside-text tour's (tests/test_outside_text.py)."""
    page = small_page
    page.goto(server_with_runs)
    # the entry script ran: the sidebar lists the app's navigation (not the pages/ folder's files)
    drawn(page, "pages/home.py", 90_000, paint_ms=500)
    links = page.locator("[data-testid='stSidebarNav'] a")
    assert links.count() == len(PAGE_FILES) == len(PATH)  # every page in the navigation, none behind "View more"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    failed = []
    for stop in PATH:
        if stop.key in TRAINED_PAGES:
            page.goto(f"{server_with_runs}/{stop.key}{TINY_QUERY}")
        elif stop is not PATH[0]:
            links.filter(has_text=stop.title).first.click()
        drawn(page, stop.page, paint_ms=500)
        if page.locator(EXCEPTION).count():
            failed.append(stop.key)
        save_full_page(page, SCREENSHOTS / f"{stop.key}.png")
    assert not failed, f"exceptions on {failed}"
