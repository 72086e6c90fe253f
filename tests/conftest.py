"""Shared test set-up and helpers: the environment, one AppTest runner, the tiny stored runs, the app
server and the browser.

The environment (offline, a private PTCE_HOME, two threads, figures validated) is set in `pytest_configure`, which runs
before any test module is imported, so every process-wide cache points at this session's temp folder.
Tests that drive Chromium are marked `browser` (`python -m pytest -m "not browser"` is the fast loop);
a test that asks for the browser without the mark fails at collection.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

import bench.load as bench_load
from core.config import ModelConfig, TrainConfig, default_config
from core.models import build_model
from core.record import History, Run

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots from the browser tests, for a person to look at
ENTRY = str(ROOT / "streamlit_app.py")
PAGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
APPTEST_TIMEOUT = 180
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
TINY = TrainConfig(model=ModelConfig("net2", hidden=16), optimizer="adam", lr=3e-3, batch_size=128, epochs=2,
                  seed=1)  # trained on the sample by the core tests
TINY_SEED = 7  # not the default seed 0: other tests expect "hidden 16, 1 epoch, seed 0" untrained


# ---------------------------------------------------------------- environment
def pytest_configure(config: pytest.Config) -> None:
    """Offline, a private home and two threads for everything the session imports or starts."""
    home = tempfile.mkdtemp(prefix="ptce-test-")
    config._ptce_home = home  # removed in pytest_unconfigure
    os.environ["PTCE_OFFLINE"] = "1"
    os.environ["PTCE_HOME"] = home
    os.environ.setdefault("PTCE_THREADS", "2")
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


@pytest.fixture(scope="session")
def ptce_home() -> Path:
    return Path(os.environ["PTCE_HOME"])


# ---------------------------------------------------------------- small helpers shared by test modules
def hook_count(model: torch.nn.Module) -> int:
    """Forward (pre-)hooks registered on any module of `model` (0 for a model nobody is inspecting)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- the one AppTest runner
def rerun(at: AppTest) -> AppTest:
    """Run the script again (after widgets were set) and fail on any exception it raised."""
    at.run(timeout=APPTEST_TIMEOUT)
    assert not at.exception, [e.message for e in at.exception]
    return at


def page_app(page: str, query: dict[str, str] | None = None, session: dict | None = None) -> AppTest:
    """A page alone ("convolutions" or "pages/convolutions.py"), run once. Pages run alone because, through
    the entry script, AppTest resets Streamlit's navigation mode before every run, so each run would go
    through the first-visit rerun and drop button clicks."""
    path = page if page.endswith(".py") else f"pages/{page}.py"
    at = AppTest.from_file(str(ROOT / path), default_timeout=APPTEST_TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    for k, v in (session or {}).items():
        at.session_state[k] = v
    return rerun(at)


def entry_app() -> AppTest:
    """streamlit_app.py (navigation, sidebar) run once."""
    return rerun(AppTest.from_file(ENTRY, default_timeout=APPTEST_TIMEOUT))


def texts(at: AppTest, *kinds: str) -> str:
    """The text of every element of these kinds (default: all message-like kinds), one per line."""
    kinds = kinds or ("markdown", "info", "success", "error", "warning", "caption", "code")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def wait_for_jobs(seconds: float = 300) -> None:  # a fresh worker starts first (torch import, data decode)
    from ui import resources

    assert resources.jobs().wait_all(seconds)


# ---------------------------------------------------------------- tiny stored runs
def tiny_config(arch: str):
    """What the pages' controls give with hidden=16, epochs=1 and seed=7 (other settings at their defaults)."""
    return replace(default_config(arch, "mnist-sample"), model=ModelConfig(arch=arch, hidden=16),
                   epochs=1, seed=TINY_SEED)


def ensure_tiny_runs() -> dict:
    """Train (once per PTCE_HOME) and store a 1-epoch Net2 and CNN on the bundled sample."""
    from core.config import Paths
    from core.data import load_mnist
    from core.store import RunStore
    from core.train import fit

    paths = Paths.from_env()
    store = RunStore(paths.runs)
    data = None
    out = {}
    for arch in ("net2", "cnn"):
        cfg = tiny_config(arch)
        if store.load(cfg) is None:
            data = data or load_mnist(paths, allow_download=False)
            run, _ = store.get_or_train(cfg, lambda c=cfg, d=data: fit(c, d))
            assert run.status == "ok"
        out[arch] = cfg
    return out


@pytest.fixture(scope="session")
def sample():
    """The bundled 5,000-digit MNIST sample (4,000 train / 1,000 test)."""
    from core.data import load_sample

    return load_sample()


@pytest.fixture(scope="module")
def tiny():
    """{arch: TrainConfig} of a stored 1-epoch Net2 and CNN in this session's store."""
    return ensure_tiny_runs()


# ---------------------------------------------------------------- app server and browser
def start_server(home: Path, port: int | None = None, env: dict[str, str | None] | None = None,
                 ) -> tuple[subprocess.Popen, str]:
    """A fresh app server on a free localhost port (bench.load.start_server); returns (process, base URL).
    `env`: variables to set for the server on top of the offline defaults (None removes one)."""
    return bench_load.start_server(home, port, env, timeout_s=60)


@contextmanager
def running_server(home: Path, env: dict[str, str | None] | None = None) -> Iterator[str]:
    """A fresh app server for the block (`env` as in start_server); yields its base URL and stops it afterwards."""
    proc, url = start_server(home, env=env)
    try:
        yield url
    finally:
        bench_load.stop_server(proc, wait_s=10)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory) -> Iterator[str]:
    """Base URL of a freshly started app server (its own store), stopped after the module."""
    with running_server(tmp_path_factory.mktemp("server-home")) as url:
        yield url


@pytest.fixture(scope="module")
def server_with_runs() -> Iterator[str]:
    """Base URL of a fresh app server on this session's store, which holds the tiny Net2 and CNN runs."""
    ensure_tiny_runs()
    with running_server(Path(os.environ["PTCE_HOME"])) as url:
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


LEARNER_VIEWPORT = (1280, 800)  # the laptop screen issue 10 was tried on


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


def selectbox_options(page, box, timeout_ms: int = 60_000) -> list[str]:
    """The option texts of a Streamlit selectbox, read by opening its list in a real browser and closing it again.

    A list opened while the page is still rerunning can be closed by the redraw before it is read (CI once read
    an empty list), so this waits for the run to finish, waits for the options to be drawn, and opens it again
    if the redraw closed it."""
    from playwright.sync_api import TimeoutError as NotDrawn

    status = page.locator("[data-testid='stStatusWidget']")
    option = page.get_by_role("option")
    for _ in range(3):
        status.wait_for(state="hidden", timeout=timeout_ms)
        box.click()
        try:
            option.first.wait_for(timeout=10_000)
        except NotDrawn:  # closed by a redraw: open it again
            continue
        shown = [o.inner_text() for o in option.all()]
        page.keyboard.press("Escape")
        if shown:
            return shown
    raise AssertionError("the selectbox never showed its options")


@pytest.fixture
def page(page_at):
    """A page at 1400×1000."""
    return page_at(1400, 1000)


# ---------------------------------------------------------------- stored runs built by the tests
STORE_CFG = TrainConfig(model=ModelConfig("net2", hidden=16), optimizer="adam", lr=3e-3, batch_size=128, epochs=2,
                        seed=1)


def make_run(cfg: TrainConfig = STORE_CFG, seed: int = 0, acc: float = 0.9, status: str = "ok") -> Run:
    model = build_model(cfg.model, torch.Generator().manual_seed(seed))
    spe = 3
    history = History([2.3 / (1 + i) for i in range(spe * cfg.epochs)], spe, [1.0] * cfg.epochs,
                      [acc] * cfg.epochs)
    metrics = {"test_acc": acc, "test_loss": 1.0, "train_s": 1.5, "wall_s": 2.0, "samples_per_s": 1000.0,
               "device": "cpu", "n_train": 4000, "n_test": 1000}
    return Run(cfg, {k: v.detach().clone() for k, v in model.state_dict().items()}, history, metrics, status)  # type: ignore[arg-type]


def make_transfer_run(cfg, seed: int = 0, acc: float = 0.5) -> Run:
    """A storable transfer run of `cfg` (a core.config.TransferConfig) with random ResNet-18 weights, nothing
    trained: the whole model, or only the fc head for feature extraction (its backbone is the stored one)."""
    from core.transfer import build_resnet18, expected_state, num_classes

    model = build_resnet18(num_classes(cfg), torch.Generator().manual_seed(seed))
    keep = expected_state(cfg)
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if k in keep}
    history = History([1.0] * cfg.epochs, 1, [1.0] * cfg.epochs, [acc] * cfg.epochs)
    metrics = {"test_acc": acc, "test_loss": 1.0, "train_s": 1.5, "wall_s": 2.0, "samples_per_s": 100.0,
               "device": "cpu", "n_train": 100, "n_test": 500, "images_per_s": 100.0,
               "trainable_params": sum(p.numel() for k, p in model.named_parameters() if k in keep)}
    return Run(cfg, state, history, metrics)


def edit_meta(folder: Path, change) -> None:
    meta = folder / "run.json"
    obj = json.loads(meta.read_text())
    obj = change(obj)
    meta.write_text(json.dumps(obj))


def rewrite_weights(folder: Path, state: dict[str, torch.Tensor]) -> None:
    """Replace the weights and update the checksum, so only the weights' content is wrong."""
    w = folder / "weights.safetensors"
    save_file(state, str(w))
    sha = hashlib.sha256(w.read_bytes()).hexdigest()
    edit_meta(folder, lambda m: {**m, "weights_sha256": sha})


def torch_path(surface, make_optimizer, start: tuple[float, float], steps: int) -> torch.Tensor:
    """The 2-D optimizer path written as a plain PyTorch loop, for tests to compare core.optim2d and the
    Optimizers page against: `make_optimizer([p])` builds the torch.optim optimizer. -> (steps + 1, 2)"""
    f = surface.fn()
    p = torch.tensor(start, requires_grad=True)
    opt = make_optimizer([p])
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f(p[0], p[1]).backward()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)
