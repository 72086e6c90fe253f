"""Pytest's set-up for the suite: the environment every test runs in, markers, and the shared fixtures.

The environment (offline, a private PTCE_HOME, two threads or the cores split among pytest-xdist workers, figures
validated) is set in `pytest_configure`, which runs in every worker before any test module is imported, so every
process-wide cache points at that worker's temp folder. Tests that drive Chromium are marked `browser`; tests that
train for real, start servers or spawn workers are marked `slow` (`python -m pytest -m "not slow and not browser"`
is the fast loop). Helpers the tests import live in tests/support.py and tools/.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import ensure_tiny_runs
from tools.app_server import CHROMIUM, CHROMIUM_ARGS, running_server


# ---------------------------------------------------------------- environment
def pytest_configure(config: pytest.Config) -> None:
    """Offline, a private home (torch hub's cache too) and two threads for everything the session imports or
    starts."""
    home = tempfile.mkdtemp(prefix="ptce-test-")
    config._ptce_home = home  # removed in pytest_unconfigure
    os.environ["PTCE_OFFLINE"] = "1"
    os.environ["PTCE_HOME"] = home
    os.environ["TORCH_HOME"] = os.path.join(home, "torch")  # no ImageNet weights unless a test writes them
    # Two threads in one process; under pytest-xdist the cores are split among the workers (and the servers they
    # start inherit it), so two workers on two cores never run four busy thread pools.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ["PTCE_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ.setdefault("PTCE_THREADS", "2")
    import torch

    torch.set_num_threads(int(os.environ["PTCE_THREADS"]))
    os.environ["PTCE_CHECK_FIGURES"] = "1"  # every figure the suite draws is validated (core.figures.base.figure)


def pytest_unconfigure(config: pytest.Config) -> None:
    home = getattr(config, "_ptce_home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [i.nodeid for i in items if "browser" in getattr(i, "fixturenames", ())  # page and servers use it too
                and i.get_closest_marker("browser") is None]
    if unmarked:
        raise pytest.UsageError("tests that drive Chromium must be marked @pytest.mark.browser: " + ", ".join(unmarked))
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        # Long tests first (every worker collects the same order): a worker that runs out steals the short ones
        # from the end of the other's queue, instead of waiting on a long one that started last.
        items.sort(key=lambda i: 0 if i.get_closest_marker("browser") else 1 if i.get_closest_marker("slow") else 2)


@pytest.fixture(scope="session")
def ptce_home() -> Path:
    return Path(os.environ["PTCE_HOME"])


@pytest.fixture(scope="session")
def sample():
    """The bundled 5,000-digit MNIST sample (4,000 train / 1,000 test)."""
    from core.data.mnist import load_sample

    return load_sample()


@pytest.fixture(scope="module")
def tiny():
    """{arch: TrainConfig} of a stored 1-epoch Net2 and CNN in this session's store."""
    return ensure_tiny_runs()


# ---------------------------------------------------------------- app server and browser
@pytest.fixture(scope="session")
def app_server_home(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """(base URL, home) of an app server with its own store, shared by the browser tests that train or store runs
    (each with settings of its own), stopped at the end of the session."""
    home = tmp_path_factory.mktemp("server-home")
    with running_server(home, timeout_s=60) as (_, url):
        yield url, home


@pytest.fixture(scope="session")
def app_server(app_server_home) -> str:
    """Base URL of app_server_home's server."""
    return app_server_home[0]


@pytest.fixture(scope="session")
def server_with_runs() -> Iterator[str]:
    """Base URL of an app server on this session's store, which holds the tiny Net2 and CNN runs; shared by the
    browser tests that only look (none of them trains), stopped at the end of the session."""
    ensure_tiny_runs()
    with running_server(Path(os.environ["PTCE_HOME"]), timeout_s=60) as (_, url):
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("PTCE_REQUIRE_BROWSER") == "1":  # CI: a missing browser is a failure, not a skip
            pytest.fail("Debian chromium is not installed (apt-get install chromium)")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page_at(browser):
    """A factory: page_at(width, height) opens a page in a fresh browser context with that viewport; every
    context it opened is closed after the test."""
    contexts = []

    def open_page(width: int = 1400, height: int = 1000):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        return context.new_page()

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(page_at):
    """A page at 1400×1000."""
    return page_at(1400, 1000)
