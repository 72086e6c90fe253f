"""Issue 19 in Chromium at 1280×800: a short tab is followed by the page, not by a window's height of blank panel,
while switching tabs still never moves the page (tests/test_browser_first_pass.py); the Transfer results table
shows every column without scrolling sideways."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from support import LEARNER_VIEWPORT, drawn
from tools.browser import exceptions

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_short_tab_is_followed_at_once_by_the_rest_of_the_page(app_server, page_at):
    """The Mistakes tab of an untrained CNN holds one line: the next-page link follows it closely (a panel forced
    to a window's height left ~600 px of blank space there)."""
    page = page_at(*LEARNER_VIEWPORT)
    page.goto(f"{app_server}/convolutions?{urlencode({'conv_tab': 'Mistakes'})}")
    drawn(page, "pages/convolutions.py", 180_000, paint_ms=500)
    note = page.get_by_text("Train the model (or load a stored run)").first.bounding_box()
    after = page.get_by_text("Next:").first.bounding_box()
    assert after["y"] - (note["y"] + note["height"]) < 150, (note, after)
    assert exceptions(page) == 0


def test_the_transfer_results_table_fits_at_1280(app_server_home, page_at):
    """Every column of the results table, images/s included, is inside the table's width (no sideways scroll)."""
    from core.runs.store import RunStore
    from core.transfer.config import TransferConfig, address
    from tools.fake_runs import make_transfer_run

    url, home = app_server_home
    cfg = TransferConfig(strategy="feature", epochs=2, labels_per_class=8, seed=11)  # settings no other test uses
    RunStore(home / "runs").save(make_transfer_run(cfg))  # the server reads its store at each visit
    _results_table_fits(page_at, url, cfg, address)


def _results_table_fits(page_at, server, cfg, address) -> None:
    page = page_at(*LEARNER_VIEWPORT)
    page.goto(f"{server}/transfer?{urlencode(address(cfg))}")
    page.get_by_text("Loaded from the run store").wait_for(timeout=240_000)
    table = page.locator(".st-key-tl_results [data-testid='stDataFrame']")  # the results table
    table.scroll_into_view_if_needed()
    scroller = table.locator(".dvn-scroller").first
    widths = scroller.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert widths[0] <= widths[1] + 1, f"the table scrolls sideways: {widths}"
    assert exceptions(page) == 0
