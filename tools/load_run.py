"""The load scenario of issue 12, shared by `python -m bench --only load` and tests/test_load.py: one run (Net2 hidden
512, batch 16, 5 epochs on the bundled sample) trained with no server, then watched by sessions that all press Train
(one job), headless (tools/headless_session.py) or in Chromium tabs."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

from core.models.registry import ModelConfig
from core.runs.kinds import MNIST_PAGES
from core.training.config import TrainConfig, address, default_config
from tools.app_server import ServerSettings
from tools.browser import exceptions, open_page
from tools.headless_session import HeadlessSession

STORED = re.compile("Trained run loaded from the store|Trained now")  # the one who pressed Train: "now"


def issue_run(seed: int) -> TrainConfig:
    """The issue's run: Net2 hidden 512, Adam 0.001, batch 16, 5 epochs on the bundled sample."""
    return TrainConfig(ModelConfig("net2", 512), optimizer="adam", lr=1e-3, batch_size=16, epochs=5, seed=seed)


def tiny_run(seed: int) -> TrainConfig:
    """A run that trains in a second: Net2 hidden 16, batch 512, 1 epoch, the page's optimizer and learning rate."""
    return replace(default_config("net2", "mnist-sample"), model=ModelConfig("net2", 16), batch_size=512, epochs=1,
                   seed=seed)


def page_url(cfg: TrainConfig) -> str:
    """The page that trains `cfg`, with its settings in the address (relative to the server's base URL)."""
    return f"{MNIST_PAGES[cfg.model.arch]}?{urlencode(address(cfg))}"


def alone_seconds(home: Path, settings: ServerSettings, seed: int) -> float:
    """The issue's run on a warm worker pool and no server (0 sessions): submit -> stored, seconds."""
    from core.config import Paths
    from core.runs.jobs import Jobs

    pool = Jobs(Paths(home), omp_wait_policy=settings.worker_omp)
    try:
        warm = pool.submit(tiny_run(9_000 + seed))  # seed < 10^4
        assert warm.done.wait(600) and warm.status == "ok", warm.error
        t0 = time.perf_counter()
        job = pool.submit(issue_run(seed))
        assert job.done.wait(600) and job.status == "ok", job.error
        return time.perf_counter() - t0
    finally:
        pool.shutdown()


def train_and_watch(browser, url: str, sessions: int, timeout_ms: int = 600_000,
                    before_close: Callable[[], None] = lambda: None) -> tuple[float, list[float]]:
    """`sessions` contexts open the same run's URL and all press Train (one job); seconds from the first
    click until the first session shows the stored run, and until each one does. `before_close` runs once
    every session shows it, while their tabs still exist."""
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(sessions)]
    try:
        pages = [open_page(c, url, "Estimated training time") for c in contexts]
        buttons = [page.get_by_role("button", name="Train", exact=True) for page in pages]
        for button in buttons:  # the page draws in steps: the text above can show before the button
            button.wait_for(timeout=timeout_ms)
        t0 = time.perf_counter()
        for button in buttons:  # all press Train: one job, the others join it
            button.click()
        seen = []
        for page in pages:
            page.get_by_text(STORED).wait_for(timeout=timeout_ms)
            seen.append(time.perf_counter() - t0)
            assert exceptions(page) == 0
        before_close()
        return min(seen), seen
    finally:
        for c in contexts:
            c.close()


def headless_train_and_watch(url: str, sessions: int, timeout_s: float = 600.0,
                             before_close: Callable[[], None] = lambda: None) -> tuple[float, list[float]]:
    """`train_and_watch` with headless sessions (websocket clients, no browser)."""
    watchers = [HeadlessSession(url) for _ in range(sessions)]
    try:
        for w in watchers:
            w.wait_for_button("Train", timeout_s)
        marks = [len(w.texts) for w in watchers]
        t0 = time.perf_counter()
        for w in watchers:  # all press Train: one job, the others join it
            w.click("Train")
        seen = [w.wait_for(STORED, timeout_s, since=m) - t0 for w, m in zip(watchers, marks)]
        assert sum(w.exceptions for w in watchers) == 0
        before_close()
        return min(seen), seen
    finally:
        for w in watchers:
            w.close()
