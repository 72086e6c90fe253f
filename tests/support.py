"""Helpers the test modules share: the one AppTest runner, tiny stored runs trained once per session, and small
comparisons. Servers, browsers and fake runs shared with the bench live in tools/ (app_server, browser, fake_runs)."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from core.models.registry import ModelConfig
from core.training.config import TrainConfig, default_config
from tools.own_photos import OWN_SAMPLES, fake_imagenet_state, sample_variants, write_fake_imagenet  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots from the browser tests, for a person to look at
ENTRY = str(ROOT / "streamlit_app.py")
PAGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
APPTEST_TIMEOUT = 180
LEARNER_VIEWPORT = (1280, 800)  # the laptop screen issue 10 was tried on
TINY = TrainConfig(model=ModelConfig("net2", hidden=16), optimizer="adam", lr=3e-3, batch_size=128, epochs=2,
                  seed=1)  # trained on the sample by the core tests
TINY_SEED = 7  # not the default seed 0: other tests expect "hidden 16, 1 epoch, seed 0" untrained


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
    from core.data.mnist import load_mnist
    from core.runs.store import RunStore
    from core.training.loop import fit

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


# ---------------------------------------------------------------- test-made stand-ins for the downloads
def fake_imagenet_bytes(seed: int = 0) -> bytes:
    """What a mirror would serve instead of resnet18-f37072fd.pth: the fake weights' file."""
    import io

    buf = io.BytesIO()
    torch.save(fake_imagenet_state(seed), buf)
    return buf.getvalue()


def write_cifar(folder: Path, n: int = 6, seed: int = 0) -> dict[str, tuple]:
    """A tiny CIFAR-10 folder as torchvision extracts it (python pickles, protocol 2) with its manifest: n images
    per batch file -> {file name: (data (n, 3072) uint8, labels)}."""
    import pickle

    import numpy as np

    from core.data import cifar

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    written = {}
    for name in (*cifar.TRAIN_FILES, cifar.TEST_FILE):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        (folder / name).write_bytes(pickle.dumps({"batch_label": name, "data": data, "labels": labels,
                                                  "filenames": [f"{i}.png" for i in range(n)]}, protocol=2))
        written[name] = (data, labels)
    (folder / cifar.META_FILE).write_bytes(pickle.dumps({"label_names": list(cifar.CIFAR_CLASSES),
                                                         "num_cases_per_batch": n, "num_vis": 3072}))
    cifar.write_manifest(folder)
    return written


def cifar_archive(tmp: Path, n: int = 6, seed: int = 0):
    """(the bytes of a cifar-10-python.tar.gz holding a tiny test-made CIFAR-10, the CifarSource whose md5s match
    it, served at the official URL's path)."""
    import tarfile

    from core.data import cifar

    folder = tmp / "cifar-src" / cifar.FOLDER
    write_cifar(folder, n, seed)
    (folder / cifar.MANIFEST).unlink()  # the real archive has none
    archive = tmp / "cifar-src" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=cifar.FOLDER)
    official = cifar.official_source()
    files = tuple((name, cifar._md5(folder / name)) for name, _ in official.files)
    return archive.read_bytes(), cifar.CifarSource(official.url, cifar._md5(archive), files)


def url_path(url: str) -> str:
    """The path a PTCE_DOWNLOAD_BASE mirror serves `url` at (no leading slash)."""
    from urllib.parse import urlsplit

    return urlsplit(url).path.lstrip("/")


# ---------------------------------------------------------------- browser and store helpers
def drawn(page, page_file: str, timeout_ms: int = 120_000, paint_ms: int = 0) -> None:
    """Wait until the page whose script is `page_file` ran to its end in a real browser: its last line, the link
    to the stop after it, is drawn (no other page draws that line), and nothing is running. A heading, any
    "Next:" line or a hidden status widget alone can be the page before its run, or its first lines.
    `paint_ms`: then give Plotly that long to draw the charts that arrived (for screenshots and positions)."""
    from tools.browser import settled
    from ui.path import next_label

    page.get_by_text(next_label(page_file).replace("**", ""), exact=True).wait_for(timeout=timeout_ms)
    settled(page, timeout_ms)
    if paint_ms:
        page.wait_for_timeout(paint_ms)


def in_app_navigation(page, title: str) -> None:
    """A page's run went through the app's navigation (a first visit by address too): the sidebar lists every page
    in the page table's order, the page titled `title` marked as the one shown, and no exception is drawn."""
    from ui.path import PATH

    nav = page.locator("[data-testid='stSidebarNav']")
    nav.wait_for(timeout=60_000)
    titles = [t.strip() for t in nav.locator("a").all_inner_texts()]
    assert [next(i for i, t in enumerate(titles) if s.title in t) for s in PATH] == list(range(len(PATH))), titles
    assert title in nav.locator("a[aria-current='page']").inner_text()
    assert page.locator("[data-testid='stException']").count() == 0


def session_drawn(session, page_file: str, since: int, timeout_s: float = 180) -> None:
    """`drawn` for a headless session (tools/headless_session.py): the page's last line came after its first `since`
    texts, and no run is going on."""
    from ui.path import next_label

    label = next_label(page_file)
    session.wait_until(lambda: label in session.texts[since:] and not session.running, f"{page_file} drawn",
                       timeout_s)


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
    """The 2-D optimizer path written as a plain PyTorch loop, for tests to compare core.lessons.optim2d and the
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


# ---------------------------------------------------------------- a home of the test's own
@contextmanager
def own_home(home: Path) -> Iterator[Path]:
    """PTCE_HOME at `home` inside the block, for the test and the pages it runs (the process-wide paths and store
    are dropped on entry and exit, and loaded runs forgotten); the session's home again afterwards. Configs stored
    in it should be ones no other test stores, since other topic caches are keyed by config. Nothing is trained in
    it: the training workers store into the session's home."""
    from ui import resources

    def reset() -> None:
        resources.paths.clear()
        resources.store.clear()
        resources.forget_stored_runs()

    resources.jobs()  # the worker pool keeps the home it started with: start it on the session's, never on this one
    before = os.environ["PTCE_HOME"]
    os.environ["PTCE_HOME"] = str(home)
    reset()
    try:
        yield home
    finally:
        os.environ["PTCE_HOME"] = before
        reset()


def as_read(markdown: str) -> str:
    """What a learner reads of markdown that went through ui.text.md: backslash escapes and word joiners removed."""
    import re

    from ui.text import JOINER

    return re.sub(r"\\(.)", r"\1", markdown).replace(JOINER, "")


# ---------------------------------------------------------------- Windows' file semantics
def refuse(monkeypatch, name: str, when) -> list:
    """Make os.`name` raise PermissionError whenever `when(call number, *args)` is true, as Windows does while
    another process has the file open; returns the calls' arguments."""
    real, calls = getattr(os, name), []

    def flaky(*args, **kwargs):
        calls.append(args)
        if when(len(calls), *args):
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, flaky)
    return calls
