"""Training runs page in Chromium: a run that another tab is training appears once it is stored, never before."""
from __future__ import annotations

import threading

import pytest

from bench.runs_page import fill_store, synthetic_run
from conftest import running_server
from core.run_archive import read_archive
from core.store import RunStore, state_equal


@pytest.mark.browser
def test_a_run_training_elsewhere_appears_when_it_is_stored(browser, tmp_path):
    fill_store(tmp_path / "runs", 2)
    store = RunStore(tmp_path / "runs")
    late, finish = synthetic_run(2), threading.Event()

    def train():
        assert finish.wait(120)
        return late

    trainer = threading.Thread(target=store.get_or_train, args=(late.config, train))  # holds the lock, as training does
    trainer.start()
    try:
        with running_server(tmp_path) as url:
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            page.goto(f"{url}/runs")
            page.get_by_text("training or being written right now").wait_for(timeout=90_000)
            assert page.get_by_text("2 of 2 runs listed").count() == 1  # nothing partial is listed
            finish.set()
            page.get_by_text("3 of 3 runs listed").wait_for(timeout=30_000)
            assert page.get_by_text("training or being written right now").count() == 0
            link = page.get_by_role("link", name="Open on its page")
            link.wait_for(timeout=90_000)  # the rest of the page, after the rerun the finished run caused
            href = link.get_attribute("href")
            assert href.startswith(("fully_connected?", "convolutions?")) and "hidden=" in href and "lr=" in href
            with page.expect_download(timeout=30_000) as download:
                page.get_by_role("button", name="Export (.zip)").click()
            run, _ = read_archive(download.value.path().read_bytes())  # the download is a valid export
            stored = store.load(run.config)
            assert stored is not None and state_equal(run.state, stored.state) and run.history == stored.history
            assert page.locator("[data-testid='stException']").count() == 0
            ctx.close()
    finally:
        finish.set()
        trainer.join(30)
