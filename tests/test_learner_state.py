"""Issue 10, item 1 through AppTest: training settings and the learner's latest run follow them across pages."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.data.mnist import load_sample
from core.models.registry import ModelConfig
from core.training.config import TrainConfig
from core.training.loop import fit

ROOT = Path(__file__).resolve().parents[1]


def entry() -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def go(at: AppTest, page: str) -> AppTest:
    at.query_params.clear()  # a browser's sidebar link carries no query string
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def stored_runs() -> dict[str, TrainConfig]:
    """Three tiny stored Net2 runs: an older one, the newest one, and one marked did-not-learn."""
    from ui import resources

    data = load_sample()
    base = TrainConfig(model=ModelConfig("net2", 16), optimizer="adam", lr=3e-3, batch_size=512, epochs=1,
                       data_source=data.source)
    cfgs = {"older": dataclasses.replace(base, seed=31), "newest": dataclasses.replace(base, seed=32),
            "flat": dataclasses.replace(base, seed=33)}
    for name, cfg in cfgs.items():  # saved in this order: "flat" is the newest file of all
        if resources.store().load(cfg) is None:
            run = fit(cfg, data, torch.device("cpu"))
            resources.store().save(dataclasses.replace(run, status="did-not-learn") if name == "flat" else run)
    return cfgs


def test_settings_follow_the_learner_to_another_page_and_back():
    at = go(entry(), "pages/fully_connected.py")
    at.select_slider(key="fc_hidden").set_value(512)
    at.select_slider(key="fc_batch").set_value(16)
    at.selectbox(key="fc_optimizer").set_value("sgd")
    at.run()
    go(at, "pages/tensors.py")
    assert "fc_hidden" not in at.session_state  # Streamlit dropped the widget's own state on leaving
    go(at, "pages/fully_connected.py")
    assert at.select_slider(key="fc_hidden").value == 512 and at.select_slider(key="fc_batch").value == 16
    assert at.selectbox(key="fc_optimizer").value == "sgd"
    assert (at.query_params["hidden"], at.query_params["bs"], at.query_params["opt"]) == ("512", "16", "sgd")
    assert "Not trained yet" in " ".join(i.value for i in at.info)


def test_a_link_wins_over_the_remembered_settings():
    at = go(entry(), "pages/fully_connected.py")
    at.select_slider(key="fc_hidden").set_value(512)
    at.run()
    go(at, "pages/tensors.py")
    at.query_params.update({"hidden": "64"})
    at.switch_page("pages/fully_connected.py")
    at.run()
    assert at.select_slider(key="fc_hidden").value == 64


def test_real_model_tabs_default_to_the_learners_latest_run(stored_runs):
    at = go(entry(), "pages/fully_connected.py")
    older = stored_runs["older"]
    at.select_slider(key="fc_hidden").set_value(16)
    at.select_slider(key="fc_batch").set_value(512)
    at.select_slider(key="fc_lr").set_value(3e-3)
    at.selectbox(key="fc_optimizer").set_value("adam")
    at.slider(key="fc_epochs").set_value(1)
    at.number_input(key="fc_seed").set_value(31)
    at.run()
    assert any("loaded from the store" in s.value for s in at.success)  # the older run, looked at just now
    go(at, "pages/losses.py")
    assert at.selectbox(key="loss_net2_run").value == older.key()
    assert any("h16" in m.value and "seed 31" in m.value for m in at.markdown)
    go(at, "pages/optimizers.py")
    assert at.selectbox(key="optm_base_run").value == older.key()
    assert at.slider(key="optm_epochs").value == 1 and at.select_slider(key="optm_lr_adam").value == 3e-3


def test_runs_that_did_not_learn_are_offered_only_on_request(stored_runs):
    at = go(entry(), "pages/losses.py")  # a new learner: no latest run, so the newest run that learned
    options = at.selectbox(key="loss_net2_run").options
    flat = stored_runs["flat"]
    assert not any("did not learn" in o for o in options)
    assert at.selectbox(key="loss_net2_run").value != flat.key()
    at.toggle(key="loss_net2_all_runs").set_value(True)
    at.run()
    assert any("did not learn" in o for o in at.selectbox(key="loss_net2_run").options)
