"""The Tensors & autograd page in AppTest: controls moved, bad inputs answered in words, never a traceback."""
from __future__ import annotations

import pytest

from support import page_app, rerun, texts


def test_tensors_page_default_is_seed_example():
    at = page_app("tensors")
    assert at.text_input(key="ta_values").value == "[[1, 2], [3, 4]]"
    assert not at.error
    assert "b added and stretched" in str(at.dataframe[0].value.to_dict())
    assert any("a + b" in c.value for c in at.code)  # the code panel


def test_tensors_every_op_runs():
    at = page_app("tensors")
    at.selectbox(key="tb_dtype").set_value("float32")
    at.selectbox(key="ta_dtype").set_value("float32")
    at.text_input(key="tb_values").input("[[10, 20], [30, 40]]")
    for op in ["add", "sub", "mul", "div", "matmul", "cat", "stack", "reshape", "view", "transpose", "permute",
               "unsqueeze", "squeeze", "index", "sum", "mean", "max", "argmax", "contiguous", "transpose_copy"]:
        at.selectbox(key="top_op").set_value(op)
        rerun(at)
        assert not at.error, (op, texts(at, "error"))


def test_tensors_controls_move():
    at = page_app("tensors")
    at.radio(key="tb_source").set_value("random")
    rerun(at)
    at.text_input(key="tb_shape").input("2, 1")
    at.selectbox(key="tb_dtype").set_value("float32")
    at.number_input(key="tb_seed").set_value(5)
    rerun(at)
    assert not at.error
    at.radio(key="ta_source").set_value("arange")
    rerun(at)
    at.text_input(key="ta_shape").input("3, 2, 2")
    at.selectbox(key="top_op").set_value("sum")
    rerun(at)
    at.selectbox(key="top_rdim").set_value(1)
    at.checkbox(key="top_keepdim").check()
    rerun(at)
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
    at = page_app("tensors")
    setup(at)
    rerun(at)
    shown = texts(at, "error") + texts(at, "caption")
    assert words in shown, shown


@pytest.mark.parametrize("text", ["1.5", "__import__('os').system('true')"])
def test_tensors_bad_index_is_explained_without_traceback(text):
    """Issue 12 §4: the words and no traceback (the code panel used to build the index outside the try)."""
    at = page_app("tensors")
    at.selectbox(key="top_op").set_value("index")
    rerun(at)
    at.text_input(key="top_index").input(text)
    rerun(at)
    assert "whole number" in texts(at, "error")
    assert not any("a[" in c.value for c in at.code)  # no code for an index that isn't one


def test_tensors_every_dtype_and_fill_on_the_page():
    """Each dtype x fill the page offers for tensor a: a result, or the plain-words reason (bool x arange)."""
    from core.lessons.tensor_specs import DTYPES, SOURCES

    at = page_app("tensors")
    for source in SOURCES:
        at.radio(key="ta_source").set_value(source)
        for dtype in DTYPES:
            at.selectbox(key="ta_dtype").set_value(dtype)
            rerun(at)
            errors = texts(at, "error")
            if (source, dtype) == ("arange", "bool"):
                assert "Can't build `a`: arange counts" in errors, errors
            else:
                assert "Can't build" not in errors, (source, dtype, errors)


def test_autograd_sliders():
    at = page_app("tensors")
    at.slider(key="ag_w").set_value(-1.0)
    at.slider(key="ag_x").set_value(2.0)
    at.slider(key="ag_b").set_value(0.5)
    at.slider(key="ag_t").set_value(0.0)
    rerun(at)
    metrics = {m.label: m.value for m in at.metric}
    # y = -1*2 + 0.5 = -1.5; dL/dw = 2(y - t)x = -6; dL/db = 2(y - t) = -3
    assert metrics["w.grad (autograd)"] == "-6" and metrics["b.grad (autograd)"] == "-3"
    assert "equal the hand-derived" in texts(at, "success")
