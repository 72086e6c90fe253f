"""Issue 10 in Chromium: live training (item 4), and settings and the just-trained run following the learner
across pages and a reload (item 1). The running indicator (item 8) is seen on a fresh server's first visit
(tests/test_streamlit_app.py)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from support import ARTIFACTS, LEARNER_VIEWPORT

pytestmark = pytest.mark.browser


def sidebar_link(page, title: str):
    return page.locator("[data-testid='stSidebarNav'] a").filter(has_text=title)


def test_settings_and_the_run_follow_the_learner_across_pages(app_server, page_at):
    page = page_at(*LEARNER_VIEWPORT)
    page.goto(f"{app_server}/fully_connected?hidden=64&bs=256&opt=sgd&lr=0.01&ep=2")
    page.get_by_text("Estimated training time").wait_for(timeout=120_000)
    page.get_by_role("button", name="Train", exact=True).click()
    # (the progress line while it trains: tests/test_jobs.py, on a run frozen half-way; here it may be too quick
    # to see)
    page.get_by_text("Trained now (you pressed Train at").wait_for(timeout=240_000)
    assert page.get_by_text("loaded from the store").count() == 0

    sidebar_link(page, "Tensors & autograd").click()
    page.wait_for_url(re.compile(r"/tensors"), timeout=30_000)
    page.get_by_text("Next: Playground").wait_for(timeout=60_000)
    sidebar_link(page, "Fully connected net").click()
    page.get_by_text("Trained now (you pressed Train at").wait_for(timeout=60_000)
    for setting in ("hidden=64", "bs=256", "opt=sgd", "lr=0.01", "ep=2"):
        page.wait_for_url(re.compile(setting), timeout=30_000)  # the URL carries the settings again
    expect(page.get_by_text("fc1 (B, 64)")).to_have_count(1, timeout=60_000)  # drawn later in the same run
    assert page.get_by_text("Not trained yet").count() == 0

    page.reload()  # a new session: the settings come back from the URL, the run from the store
    page.get_by_text("Trained run loaded from the store").wait_for(timeout=60_000)
    expect(page.get_by_text("fc1 (B, 64)")).to_have_count(1, timeout=60_000)

    sidebar_link(page, "Loss functions").click()
    page.get_by_role("tab", name="On the real model").click()
    page.get_by_text(re.compile(r"under the stored Fully Connected run .*h64.*SGD")).wait_for(timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "losses-real-model-latest-run.png"))
