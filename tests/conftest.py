"""Test-session setup: no network, a private store, and a fresh app server for browser tests.

The environment is set at import time, before any test module imports core/ui, so
every cache (st.cache_resource is process-wide) points at this session's temp folder.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ["PTCE_OFFLINE"] = "1"
os.environ["PTCE_HOME"] = tempfile.mkdtemp(prefix="ptce-test-")
os.environ.setdefault("PTCE_THREADS", "2")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


def count_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def hook_count(model: torch.nn.Module) -> int:
    """Forward (pre-)hooks registered on any module of `model` (0 for a model nobody is inspecting)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="session")
def ptce_home() -> Path:
    return Path(os.environ["PTCE_HOME"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """A fresh `streamlit run streamlit_app.py` on a free localhost port; returns (process, base URL)."""
    port = port or _free_port()
    env = {**os.environ, "PTCE_HOME": str(home), "PTCE_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit server did not start")


@contextmanager
def running_server(home: Path) -> Iterator[str]:
    """A fresh app server for the block; yields its base URL and stops it afterwards."""
    proc, url = start_server(home)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory) -> Iterator[str]:
    """Base URL of a freshly started app server (its own store), stopped after the module."""
    with running_server(tmp_path_factory.mktemp("server-home")) as url:
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
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()
