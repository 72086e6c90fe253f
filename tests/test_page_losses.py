"""The Loss functions page in AppTest: CrossEntropy controls, bad logits in words, regression losses, the
real model's losses."""
from __future__ import annotations

import pytest
import torch

from core.models.registry import build_model
from core.training.record import History, Run
from support import own_home, page_app, rerun, texts


def test_losses_ce_controls_and_equality():
    at = page_app("losses")
    assert "identical to the last bit" in texts(at, "success")
    at.slider(key="ce_n").set_value(5)
    rerun(at)
    at.selectbox(key="ce_target").set_value(4)
    at.slider(key="ce_logit4").set_value(6.5)
    at.select_slider(key="ce_temp").set_value(0.1)
    rerun(at)
    assert "identical to the last bit" in texts(at, "success")
    assert not at.error


@pytest.mark.parametrize("typed, words", [("2, nan, 1", "finite"), ("2, inf", "finite"), ("1, two", "numbers"),
                                          ("3", "at least 2 classes")])
def test_losses_bad_logits(typed, words):
    at = page_app("losses")
    at.toggle(key="ce_typed").set_value(True)
    rerun(at)
    at.text_input(key="ce_text").input(typed)
    rerun(at)
    assert words in texts(at, "error")


def test_losses_regression_controls():
    at = page_app("losses")
    at.slider(key="reg_target").set_value(2.0)
    at.select_slider(key="reg_beta").set_value(0.5)
    at.toggle(key="reg_outlier").set_value(False)
    rerun(at)
    assert not at.error


def test_losses_typed_logits_decide_the_classes():
    """Typing the logits disables the Classes slider; the Target offers exactly the typed classes."""
    at = page_app("losses")
    assert not at.slider(key="ce_n").disabled and at.selectbox(key="ce_target").options == ["0", "1", "2"]
    at.toggle(key="ce_typed").set_value(True)
    rerun(at)
    at.text_input(key="ce_text").input("0.5, -1, 2, 3, 0")
    rerun(at)
    assert at.slider(key="ce_n").disabled
    assert at.selectbox(key="ce_target").options == [str(i) for i in range(5)]
    at.selectbox(key="ce_target").set_value(4)
    rerun(at)
    expected = torch.nn.functional.cross_entropy(torch.tensor([[0.5, -1, 2, 3, 0]]), torch.tensor([4])).item()
    assert float(at.metric[2].value) == pytest.approx(expected, rel=1e-6)


def test_losses_outlier_sentence_only_with_the_outlier():
    at = page_app("losses")
    assert "coming from the outlier" in texts(at, "markdown")
    at.toggle(key="reg_outlier").set_value(False)
    rerun(at)
    assert "outlier" not in texts(at, "markdown") and "MSE picks the mean" in texts(at, "markdown")


def test_losses_without_stored_run_offers_training(tmp_path):
    with own_home(tmp_path):  # an empty store: other tests of the session store Net2 runs
        at = page_app("losses")
        assert "Not trained yet" in texts(at, "info")
        assert at.button(key="loss_net2_train")


def test_losses_with_stored_run(monkeypatch):
    """Mock the run store at the ui boundary: a read-only Net2 stands in for a trained one."""
    from ui import resources

    cfg = None

    def fake_stored(c):
        nonlocal cfg
        cfg = c
        model = build_model(c.model, torch.Generator().manual_seed(0)).eval().requires_grad_(False)
        run = Run(c, model.state_dict(), History([2.3, 1.0], 1, [1.0], [0.5]),
                  {"test_acc": 0.5, "train_s": 1.0, "device": "cpu", "samples_per_s": 100.0})
        return run, model

    monkeypatch.setattr(resources, "stored_run", fake_stored)
    at = page_app("losses")
    assert cfg is not None and cfg.model.arch == "net2"  # the picked stored run, or the default when none
    assert "loaded from the store" in texts(at, "success")
    at.radio(key="loss_digits").set_value("lowest loss")
    rerun(at)
    assert not at.error
