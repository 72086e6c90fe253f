"""A short load test: three browser sessions on one real server switch pages, move sliders and train a
tiny config while the others keep working. Zero failed sessions, bounded server memory after warm-up,
no file watcher, and the server's threads back to their baseline once the sessions close. (`python -m bench --only load`
has the long version with timings.)"""
from __future__ import annotations

import pytest

from bench.load import (
    STORED,
    TINY_URL,
    exceptions,
    move_a_slider,
    open_page,
    proc_status,
    running_server,
    settle_threads,
)

pytestmark = pytest.mark.browser
SESSIONS = 3
RSS_GROWTH_BOUND_MIB = 250  # the pages' caches are filled by the warm-up; three more sessions may add state only


def test_three_sessions_switching_pages_moving_sliders_and_training(browser, tmp_path):
    with running_server(tmp_path) as (proc, url):
        warm = browser.new_context()  # warm-up: every page's caches, and the training pool started
        page = open_page(warm, f"{url}/{TINY_URL.format(seed=1)}", "Estimated training time")
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text(STORED).wait_for(timeout=300_000)
        for path in ("losses", "optimizers", "convolutions", "tensors", "runs", "draw", ""):
            page.goto(f"{url}/{path}")
            page.get_by_text("Runs stored in").wait_for(timeout=120_000)
        warm.close()
        baseline = settle_threads(proc.pid, 0, timeout_s=5)
        warm_rss = proc_status(proc.pid)["rss_mib"]
        # fileWatcherType "none": the default watched every folder of .venv and burned a core on its events
        assert proc_status(proc.pid)["inotify_watches"] == 0

        contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(SESSIONS)]
        pages = [open_page(c, f"{url}/{TINY_URL.format(seed=1)}", STORED) for c in contexts]
        trainer = pages[0]
        trainer.goto(f"{url}/{TINY_URL.format(seed=2)}")  # a new config: it trains while the others browse
        trainer.get_by_role("button", name="Train", exact=True).click()
        for title in ("Loss functions", "Optimizers", "Convolutions"):
            for page in pages[1:]:
                page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
                page.get_by_role("slider").first.wait_for(timeout=120_000)
                move_a_slider(page)
        trainer.get_by_text(STORED).wait_for(timeout=300_000)
        move_a_slider(trainer)
        for page in pages:
            page.wait_for_timeout(1000)
            assert exceptions(page) == 0
            assert page.get_by_text("Runs stored in").count() == 1  # the app is there, not an error page
        after = proc_status(proc.pid)
        for c in contexts:
            c.close()
        assert after["rss_mib"] <= warm_rss + RSS_GROWTH_BOUND_MIB, (warm_rss, after)
        assert settle_threads(proc.pid, baseline) <= baseline
