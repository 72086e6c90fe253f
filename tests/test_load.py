"""A short load test: three browser sessions on one real server switch pages, move sliders, draw a digit
and train a tiny config while the others keep working: zero failed sessions, bounded server memory after
warm-up, no file watcher, and the server's threads back to their baseline once the sessions close. Then six
headless sessions (the frontend's websocket protocol, no browser) press Train on one config and all see the
one run it made. (`python -m bench --only load` has the long version with timings.)"""
from __future__ import annotations

import tomllib

import pytest

from core.runs.store import RunStore
from tools.app_server import ROOT, descendants, proc_status, running_server, settle_threads
from tools.browser import TOUR, draw_stroke, exceptions, move_a_slider, open_from_sidebar, open_page
from tools.headless_session import HeadlessSession
from tools.load_run import STORED, headless_train_and_watch, issue_run, page_url, tiny_run

SESSIONS = 3
RSS_GROWTH_BOUND_MIB = 250  # the pages' caches are filled by the warm-up; three more sessions may add state only


@pytest.mark.slow
@pytest.mark.browser
def test_three_sessions_switching_pages_moving_sliders_and_training(browser, tmp_path):
    with running_server(tmp_path) as (proc, url):
        # Warm-up: every page's caches filled and the training pool started, by headless sessions (the server does
        # the same work for them as for a tab, and Chromium's page loads stay out of the suite's time)
        with HeadlessSession(f"{url}/{page_url(tiny_run(1))}") as warm:
            warm.wait_for_button("Train", 300)
            mark = len(warm.texts)
            warm.click("Train")
            warm.wait_for(STORED, 300, since=mark)
        for path in ("losses", "optimizers", "convolutions", "tensors", "runs", "draw", ""):
            with HeadlessSession(f"{url}/{path}") as visit:
                visit.wait_until(lambda v=visit: v.runs_finished >= 1, f"the end of /{path}'s first run", 120)
        # and one tab, for what only a browser asks for: the frontend's files and the canvas component's, whose
        # serving threads the server keeps
        warm = browser.new_context()
        page = open_page(warm, f"{url}/{page_url(tiny_run(1))}", STORED)
        page.goto(f"{url}/draw")
        page.get_by_text("nothing is predicted for an empty canvas").wait_for(timeout=120_000)
        warm.close()
        baseline = settle_threads(proc.pid, 0, timeout_s=5)
        warm_rss = proc_status(proc.pid)["rss_mib"]
        # fileWatcherType "none": the default watched every folder of .venv and burned a core on its events
        assert proc_status(proc.pid)["inotify_watches"] == 0

        contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(SESSIONS)]
        pages = [open_page(c, f"{url}/{page_url(tiny_run(1))}", STORED) for c in contexts]
        trainer = pages[0]
        trainer.goto(f"{url}/{page_url(tiny_run(2))}")  # a new config: it trains while the others browse
        trainer.get_by_role("button", name="Train", exact=True).click()
        for title in ("Loss functions", "Optimizers", "Convolutions"):
            for page in pages[1:]:
                open_from_sidebar(page, title, TOUR[title], 300_000)
                move_a_slider(page)
        drawer = pages[1]  # a digit drawn while the run trains: a prediction from the stored tiny Net2
        drawer.locator("[data-testid='stSidebarNav'] a", has_text="Draw a digit").first.click()
        drawer.get_by_text("nothing is predicted for an empty canvas").wait_for(timeout=120_000)
        drawer.wait_for_timeout(2000)  # as a person would: not in the instant the canvas appears
        draw_stroke(drawer, [(150, 40)] + [(150 - 2 * t, 40 + 10 * t) for t in range(1, 21)])  # a "1"
        drawer.get_by_text("Prediction:").first.wait_for(timeout=120_000)
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


@pytest.mark.slow
def test_six_headless_sessions_press_train_on_one_config_and_all_see_the_one_run(tmp_path):
    """The issue's crowd, without browsers: six sessions of the frontend's protocol press Train on one config
    at once. One job trains it (one stored run), every session watches its progress and then says it was
    trained now, and none sees a traceback. Then the issue's run, watched by six, is trained by a worker process."""
    cfg = tiny_run(3)
    store = RunStore(tmp_path / "runs")  # the server's store; its per-config lock is what the job's worker waits on
    with running_server(tmp_path) as (proc, url):
        sessions = [HeadlessSession(f"{url}/{page_url(cfg)}") for _ in range(6)]
        try:
            for s in sessions:
                s.wait_for_button("Train", 300)
            marks = [len(s.texts) for s in sessions]
            with store.lock(cfg):  # the job cannot land until every session has drawn its progress
                for s in sessions:
                    s.click("Train")
                for s, mark in zip(sessions, marks):
                    s.wait_for("Stop training", 300, since=mark)  # it watches the job
            for s, mark in zip(sessions, marks):
                s.wait_for("Trained now", 300, since=mark)  # the progress fragment's timer saw the run land
                assert s.exceptions == 0
        finally:
            for s in sessions:
                s.close()
        assert [p.parent.name for p in (tmp_path / "runs").glob("*/run.json")] == [cfg.key()]

        # Training under load: the collapse the issue found (a 2 s run taking minutes) came from training in the
        # server's interpreter under Streamlit's per-rerun gc.collect. How fast the run is, is the bench's to say
        # (`python -m bench --only load`, target 1.5x of alone); here, the two causes stay removed.
        workers = descendants(proc.pid)
        assert workers, "training runs in worker processes, children of the server"
        _, seen = headless_train_and_watch(f"{url}/{page_url(issue_run(7))}", 6, timeout_s=600)
        assert len(seen) == 6
        assert tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["runner"]["postScriptGC"] is False
