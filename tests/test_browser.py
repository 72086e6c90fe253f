"""Real-browser checks in Debian's Chromium: navigation on a fresh server, training from the page."""
from __future__ import annotations

import re

import pytest

from conftest import ROOT, running_server

ARTIFACTS = ROOT / "test-artifacts"
PAGES = re.findall(r'st\.Page\("pages/([^"]+)\.py", title="([^"]+)"', (ROOT / "streamlit_app.py").read_text())


def url_path(stem: str) -> str:
    return "" if stem == "home" else stem


def sidebar_titles(page) -> list[str]:
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.wait_for(timeout=60_000)
    return [t.strip() for t in nav.locator("a").all_inner_texts()]


@pytest.mark.parametrize("stem, title", PAGES)
def test_first_visit_straight_to_a_page_url_gets_the_app_navigation(browser, tmp_path, stem, title):
    """Each page is the very first request of a freshly started server (a bookmark after a restart)."""
    with running_server(tmp_path) as url:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{url}/{url_path(stem)}")
        page.get_by_text("Runs stored in").wait_for(timeout=90_000)  # the entry script's sidebar ran
        titles = sidebar_titles(page)
        assert all(any(t in s for s in titles) for _, t in PAGES), titles
        active = page.locator("[data-testid='stSidebarNav'] a[aria-current='page']").inner_text()
        assert title in active
        assert page.locator("[data-testid='stException']").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"first-visit-{stem}.png"))
        ctx.close()


def test_train_from_the_fully_connected_page_and_find_it_stored(app_server, page):
    page.goto(f"{app_server}/fully_connected?hidden=32&ep=3&bs=128")  # settings straight from a shared link
    page.get_by_text("Estimated training time").wait_for(timeout=90_000)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Trained now (you pressed Train at").wait_for(timeout=180_000)
    page.get_by_text("What the network learned").wait_for()
    assert page.get_by_text("fc1 (B, 32)").count() == 1  # the URL's settings reached the live model
    assert page.locator("[data-testid='stException']").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 4000})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(ARTIFACTS / "fully-connected-trained.png"))
    page.reload()  # coming back later: the run is served from the store, no Train button
    page.get_by_text("Trained run loaded from the store").wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Train", exact=True).count() == 0
