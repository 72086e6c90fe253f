"""The three concept pages in Streamlit's AppTest: controls moved, bad inputs answered in words, never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.config import default_config
from core.models import build_model
from core.record import History, Run

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(e.value for e in getattr(at, kind))


def ok(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ---------------------------------------------------------------- Tensors & autograd
def test_tensors_page_default_is_seed_example():
    at = page("tensors")
    assert at.text_input(key="ta_values").value == "[[1, 2], [3, 4]]"
    assert not at.error
    assert "b added and stretched" in str(at.dataframe[0].value.to_dict())
    assert any("a + b" in c.value for c in at.code)  # the code panel


def test_tensors_every_op_runs():
    at = page("tensors")
    at.selectbox(key="tb_dtype").set_value("float32")
    at.selectbox(key="ta_dtype").set_value("float32")
    at.text_input(key="tb_values").input("[[10, 20], [30, 40]]")
    for op in ["add", "sub", "mul", "div", "matmul", "cat", "stack", "reshape", "view", "transpose", "permute",
               "unsqueeze", "squeeze", "index", "sum", "mean", "max", "argmax", "contiguous", "transpose_copy"]:
        at.selectbox(key="top_op").set_value(op)
        ok(at)
        assert not at.error, (op, texts(at, "error"))


def test_tensors_controls_move():
    at = page("tensors")
    at.radio(key="tb_source").set_value("random")
    ok(at)
    at.text_input(key="tb_shape").input("2, 1")
    at.selectbox(key="tb_dtype").set_value("float32")
    at.number_input(key="tb_seed").set_value(5)
    ok(at)
    assert not at.error
    at.radio(key="ta_source").set_value("arange")
    ok(at)
    at.text_input(key="ta_shape").input("3, 2, 2")
    at.selectbox(key="top_op").set_value("sum")
    ok(at)
    at.selectbox(key="top_rdim").set_value(1)
    at.checkbox(key="top_keepdim").check()
    ok(at)
    assert not at.error


@pytest.mark.parametrize("setup, words", [
    (lambda at: at.text_input(key="tb_values").input("[1, 2, 3]"), "don't broadcast"),
    (lambda at: (at.text_input(key="tb_values").input("[[1, 2, 3]]"), at.selectbox(key="top_op").set_value("matmul")),
     "Inner dimensions"),
    (lambda at: (at.selectbox(key="top_op").set_value("reshape"), at.run(),
                 at.text_input(key="top_newshape").input("3")), "number of elements"),
    (lambda at: (at.selectbox(key="top_op").set_value("mean")), "floating-point"),
    (lambda at: at.text_input(key="ta_values").input("[[1, 2], [3]]"), "ragged"),
    (lambda at: at.text_input(key="ta_values").input("hello"), "not a list of numbers"),
    (lambda at: (at.radio(key="ta_source").set_value("ones"), at.run(), at.text_input(key="ta_shape").input("2, x")),
     "whole numbers"),
    (lambda at: (at.selectbox(key="top_op").set_value("index"), at.run(), at.text_input(key="top_index").input("7")),
     "out of bounds"),
    (lambda at: (at.selectbox(key="top_op").set_value("permute"), at.run(),
                 at.text_input(key="top_permute_dims").input("0, 0")), "exactly once"),
])
def test_tensors_bad_inputs_explained(setup, words):
    at = page("tensors")
    setup(at)
    ok(at)
    shown = texts(at, "error") + texts(at, "caption")
    assert words in shown, shown


@pytest.mark.parametrize("text", ["1.5", "__import__('os').system('true')"])
def test_tensors_bad_index_is_explained_without_traceback(text):
    """Issue 12 §4: the words and no traceback (the code panel used to build the index outside the try)."""
    at = page("tensors")
    at.selectbox(key="top_op").set_value("index")
    ok(at)
    at.text_input(key="top_index").input(text)
    ok(at)
    assert "whole number" in texts(at, "error")
    assert not any("a[" in c.value for c in at.code)  # no code for an index that isn't one


def test_tensors_every_dtype_and_fill_on_the_page():
    """Each dtype x fill the page offers for tensor a: a result, or the plain-words reason (bool x arange)."""
    from core.tensor_specs import DTYPES, SOURCES

    at = page("tensors")
    for source in SOURCES:
        at.radio(key="ta_source").set_value(source)
        for dtype in DTYPES:
            at.selectbox(key="ta_dtype").set_value(dtype)
            ok(at)
            errors = texts(at, "error")
            if (source, dtype) == ("arange", "bool"):
                assert "Can't build `a`: arange counts" in errors, errors
            else:
                assert "Can't build" not in errors, (source, dtype, errors)


def test_autograd_sliders():
    at = page("tensors")
    at.slider(key="ag_w").set_value(-1.0)
    at.slider(key="ag_x").set_value(2.0)
    at.slider(key="ag_b").set_value(0.5)
    at.slider(key="ag_t").set_value(0.0)
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    # y = -1*2 + 0.5 = -1.5; dL/dw = 2(y - t)x = -6; dL/db = 2(y - t) = -3
    assert metrics["w.grad (autograd)"] == "-6" and metrics["b.grad (autograd)"] == "-3"
    assert "equal the hand-derived" in texts(at, "success")


# ---------------------------------------------------------------- Loss functions
def test_losses_ce_controls_and_equality():
    at = page("losses")
    assert "identical to the last bit" in texts(at, "success")
    at.slider(key="ce_n").set_value(5)
    ok(at)
    at.selectbox(key="ce_target").set_value(4)
    at.slider(key="ce_logit4").set_value(6.5)
    at.select_slider(key="ce_temp").set_value(0.1)
    ok(at)
    assert "identical to the last bit" in texts(at, "success")
    assert not at.error


@pytest.mark.parametrize("typed, words", [("2, nan, 1", "finite"), ("2, inf", "finite"), ("1, two", "numbers"),
                                          ("3", "at least 2 classes")])
def test_losses_bad_logits(typed, words):
    at = page("losses")
    at.toggle(key="ce_typed").set_value(True)
    ok(at)
    at.text_input(key="ce_text").input(typed)
    ok(at)
    assert words in texts(at, "error")


def test_losses_regression_controls():
    at = page("losses")
    at.slider(key="reg_target").set_value(2.0)
    at.select_slider(key="reg_beta").set_value(0.5)
    at.toggle(key="reg_outlier").set_value(False)
    ok(at)
    assert not at.error


def test_losses_typed_logits_decide_the_classes():
    """Typing the logits disables the Classes slider; the Target offers exactly the typed classes."""
    at = page("losses")
    assert not at.slider(key="ce_n").disabled and at.selectbox(key="ce_target").options == ["0", "1", "2"]
    at.toggle(key="ce_typed").set_value(True)
    ok(at)
    at.text_input(key="ce_text").input("0.5, -1, 2, 3, 0")
    ok(at)
    assert at.slider(key="ce_n").disabled
    assert at.selectbox(key="ce_target").options == [str(i) for i in range(5)]
    at.selectbox(key="ce_target").set_value(4)
    ok(at)
    expected = torch.nn.functional.cross_entropy(torch.tensor([[0.5, -1, 2, 3, 0]]), torch.tensor([4])).item()
    assert float(at.metric[2].value) == pytest.approx(expected, rel=1e-6)


def test_losses_outlier_sentence_only_with_the_outlier():
    at = page("losses")
    assert "coming from the outlier" in texts(at, "markdown")
    at.toggle(key="reg_outlier").set_value(False)
    ok(at)
    assert "outlier" not in texts(at, "markdown") and "MSE picks the mean" in texts(at, "markdown")


def test_losses_without_stored_run_offers_training():
    at = page("losses")
    assert "Not trained yet" in texts(at, "info")
    assert at.button(key="loss_net2_train")


def test_losses_with_stored_run(monkeypatch):
    """Mock the run store at the ui boundary: a read-only Net2 stands in for a trained one."""
    from ui import cache

    cfg = None

    def fake_stored(c):
        nonlocal cfg
        cfg = c
        model = build_model(c.model, torch.Generator().manual_seed(0)).eval().requires_grad_(False)
        run = Run(c, model.state_dict(), History([2.3, 1.0], 1, [1.0], [0.5]),
                  {"test_acc": 0.5, "train_s": 1.0, "device": "cpu", "samples_per_s": 100.0})
        return run, model

    monkeypatch.setattr(cache, "stored_run", fake_stored)
    at = page("losses")
    assert cfg is not None and cfg == default_config("net2", cfg.data_source)
    assert "loaded from the store" in texts(at, "success")
    at.radio(key="loss_digits").set_value("lowest loss")
    ok(at)
    assert not at.error


# ---------------------------------------------------------------- Optimizers
def test_optimizers_controls_move():
    at = page("optimizers")
    for surface in ("rosenbrock", "saddle", "bowl"):
        at.selectbox(key="opt_surface").set_value(surface)
        ok(at)
    at.slider(key="opt_cond").set_value(30.0)
    at.slider(key="opt_momentum").set_value(0.5)
    at.slider(key="opt_steps").set_value(40)
    at.slider(key="opt_sx_bowl").set_value(1.0)
    ok(at)
    at.selectbox(key="opt_code_for").set_value("Adam")
    ok(at)
    assert any("torch.optim.Adam" in c.value for c in at.code)
    at.multiselect(key="opt_chosen").set_value([])
    ok(at)
    assert "at least one optimizer" in texts(at, "info")


def test_optimizers_learning_rate_100_is_explained():
    at = page("optimizers")
    at.select_slider(key="opt_lr_bowl").set_value(100.0)
    ok(at)
    warnings = texts(at, "warning")
    assert "SGD diverged at step 1" in warnings and "Lower the learning rate" in warnings
    assert not at.error


def test_optimizers_real_model_trains_on_request():
    """epochs=1 keeps it small (16 steps per optimizer on the bundled sample); jobs run in background threads."""
    from ui import cache

    at = page("optimizers")
    at.slider(key="optm_epochs").set_value(1)
    ok(at)
    assert at.button(key="optm_train_all")
    at.button(key="optm_train_all").click()
    ok(at)
    assert cache.jobs().wait_all(90)
    ok(at)
    assert texts(at, "success").count("loaded from the store") == 3
    assert any(True for _ in at.get("plotly_chart"))
