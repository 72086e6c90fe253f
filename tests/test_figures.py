"""core/figures: every builder returns a figure whose dict validates, and each figure shows what it claims."""
from __future__ import annotations

import inspect
import json
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from core.figures import base, conv, images, losses, optim, tensors, training
from core.figures.training import Curve

RNG = np.random.default_rng(0)


def _curve(label: str, steps: int = 30, spe: int = 10) -> Curve:
    return Curve(label, list(RNG.random(steps)), spe, list(RNG.random(steps // spe)), list(RNG.random(steps // spe)))


def _graph():
    node = SimpleNamespace
    nodes = [node(id="w", label="w (leaf)", kind="leaf", value=2.0, grad=0.5, depth=2),
             node(id="x", label="x", kind="constant", value=3.0, grad=None, depth=2),
             node(id="m", label="MulBackward0", kind="op", value=6.0, grad=1.0, depth=1),
             node(id="l", label="loss", kind="op", value=6.0, grad=1.0, depth=0)]
    edges = [SimpleNamespace(src="w", dst="m", label="AccumulateGrad"), SimpleNamespace(src="x", dst="m",
                                                                                         label="no grad"),
             SimpleNamespace(src="m", dst="l", label="MulBackward0")]
    return nodes, edges


_P = np.array([0.05, 0.6, 0.1, 0.05, 0.05, 0.05, 0.03, 0.03, 0.02, 0.02])
_XS = np.linspace(-2, 2, 9)
# One call of every public builder (module, name) -> thunk; test_every_builder_is_listed keeps it complete.
BUILDERS = {
    ("training", "live_loss"): lambda: training.live_loss(list(RNG.random(20)), 100),
    ("training", "run_curves"): lambda: training.run_curves([_curve("a"), _curve("b")]),
    ("training", "confusion"): lambda: training.confusion(RNG.integers(0, 9, (10, 10)), clickable=True),
    ("training", "per_class_bars"): lambda: training.per_class_bars(RNG.random(10)),
    ("images", "mosaic"): lambda: images.mosaic(RNG.standard_normal((5, 6, 6)), 4, titles=list("abcde")),
    ("images", "image"): lambda: images.image(RNG.random((28, 28)), "t", box=(1, 4, 2, 5)),
    ("images", "probability_bars"): lambda: images.probability_bars(_P, "p", true_label=2, show_values=True),
    ("images", "steps"): lambda: images.steps([("a", RNG.random((8, 8))), ("b · normalized", RNG.random((8, 8)))]),
    ("tensors", "tensor_heatmap"): lambda: tensors.tensor_heatmap(RNG.standard_normal((2, 3, 4)), "t"),
    ("tensors", "autograd_graph"): lambda: tensors.autograd_graph(*_graph()),
    ("losses", "ce_bars"): lambda: losses.ce_bars(list("0123"), *RNG.random((4, 4)), 1),
    ("losses", "ce_temperature"): lambda: losses.ce_temperature(np.logspace(-1, 1, 5), RNG.random(5), 1.0),
    ("losses", "regression_curves"): lambda: losses.regression_curves(_XS, {"MSE": (_XS ** 2, 2 * _XS)}, 0.0),
    ("losses", "best_constant"): lambda: losses.best_constant(RNG.random(5), _XS, {"MSE": _XS ** 2}, {"MSE": 0.0}),
    ("losses", "per_class_loss"): lambda: losses.per_class_loss(RNG.random(10), 0.5),
    ("optim", "contour_paths"): lambda: optim.contour_paths(_XS, _XS, np.add.outer(_XS ** 2, _XS ** 2),
                                                            {"SGD": RNG.random((5, 2))}, [(0.0, 0.0)], True, "s"),
    ("optim", "loss_per_step"): lambda: optim.loss_per_step({"SGD": RNG.random(5)}, log_y=True),
    ("conv", "kernel_matrix"): lambda: conv.kernel_matrix(RNG.standard_normal((4, 3, 3, 3)), 1.0, "k"),
    ("conv", "arithmetic"): lambda: conv.arithmetic(*RNG.standard_normal((3, 3, 3)), 0),
    ("conv", "channel_sums"): lambda: conv.channel_sums(RNG.standard_normal(3), 0.1, 0.7),
    ("conv", "coverage"): lambda: conv.coverage(RNG.integers(0, 4, (7, 7)), np.eye(7, dtype=bool),
                                                np.eye(7, dtype=bool), np.eye(7, dtype=bool), "c"),
    ("conv", "shape_flow"): lambda: conv.shape_flow([("input", "Input", (1, 28, 28), "", 0),
                                                     ("conv1", "Conv2d", (16, 28, 28), "16×1×3×3 + 16", 160),
                                                     ("flatten", "Flatten", (784,), "", 0)]),
    ("conv", "mistakes"): lambda: conv.mistakes(RNG.random((2, 28, 28)), np.tile(_P, (2, 1)), 2, 1, [5, 9]),
    ("conv", "saliency"): lambda: conv.saliency(RNG.standard_normal((28, 28)), 2.0, "s"),
}
MODULES = {"training": training, "images": images, "tensors": tensors, "losses": losses, "optim": optim,
           "conv": conv}


def test_every_builder_is_listed():
    """Every public function returning a go.Figure in core/figures has a case in BUILDERS."""
    public = {(name, f) for name, mod in MODULES.items() for f, fn in vars(mod).items()
              if inspect.isfunction(fn) and fn.__module__ == mod.__name__ and not f.startswith("_")
              and inspect.signature(fn).return_annotation in (go.Figure, "go.Figure")}
    assert public == set(BUILDERS)


@pytest.mark.parametrize("key", list(BUILDERS), ids=lambda k: ".".join(k))
def test_builder_dict_validates(key):
    fig = BUILDERS[key]()
    assert isinstance(fig, go.Figure)
    again = go.Figure(fig.to_dict())  # raises if any property of the dict is invalid
    assert json.loads(again.to_json()) == json.loads(fig.to_json())
    assert len(fig.data) >= 1


def test_figure_rejects_an_invalid_dict():
    with pytest.raises(ValueError):
        base.figure([{"type": "heatmap", "z": [[1]], "colourscale": "Blues"}], {})


def test_smooth_is_debiased_ema():
    vals = RNG.random(50)
    ema, out = 0.0, []
    for i, v in enumerate(vals, start=1):
        ema = 0.9 * ema + 0.1 * v
        out.append(ema / (1 - 0.9 ** i))
    assert np.allclose(training.smooth(vals), out)
    assert training.smooth([3.0])[0] == pytest.approx(3.0)


def test_run_curves_two_panels_one_colour_per_run():
    a, b = _curve("a", 40, 10), _curve("b", 20, 10)
    fig = training.run_curves([a, b])
    assert "xaxis2" in fig.layout and fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]
    by_run = {}
    for tr in fig.data:
        by_run.setdefault(tr.legendgroup, set()).add(tr.line.color)
    assert set(by_run) == {"run0", "run1"} and all(len(c) == 1 for c in by_run.values())
    assert by_run["run0"] != by_run["run1"]
    assert [tr.name for tr in fig.data if tr.showlegend] == ["a", "b"]  # one legend entry per run
    acc = [tr for tr in fig.data if tr.yaxis == "y2" and tr.legendgroup == "run0"][0]
    assert np.allclose(acc.y, 100 * np.asarray(a.val_acc))
    smoothed = [tr for tr in fig.data if tr.name == "a"][0]
    assert np.allclose(smoothed.x, np.arange(1, 41) / 10)  # steps in units of epochs
    assert np.allclose(smoothed.y, training.smooth(a.step_loss))
    assert [a_.text for a_ in fig.layout.annotations][:2] == ["Loss", "Validation accuracy"]
    assert training.LINE_KEY in [a_.text for a_ in fig.layout.annotations]  # line styles explained once


def test_run_curves_axes_smoothing_and_log_scale():
    a = Curve("a", list(RNG.random(40) + 0.1), 10, list(RNG.random(4)), list(RNG.random(4)), seconds=8.0)
    by_step = training.run_curves([a, a], x="step", smoothing=0.0, log_y=True)
    train = [tr for tr in by_step.data if tr.showlegend][0]
    assert np.allclose(train.x, np.arange(1, 41)) and np.allclose(train.y, a.step_loss)  # no smoothing: raw
    val = [tr for tr in by_step.data if tr.name == "a · validation loss"][0]
    assert np.allclose(val.x, [10, 20, 30, 40])
    assert by_step.layout.yaxis.type == "log" and by_step.layout.xaxis.title.text == "optimizer step"
    wall = training.run_curves([a], x="wall", smoothing=0.6)
    train = [tr for tr in wall.data if tr.showlegend][0]
    assert np.isclose(train.x[-1], 8.0) and np.allclose(train.y, training.smooth(a.step_loss, 0.6))


def test_run_curves_single_run_shows_raw_loss():
    fig = training.run_curves([_curve("only")])
    names = [tr.name for tr in fig.data]
    assert "train loss (raw)" in names and len(fig.data) == 4


def test_curve_of_history():
    h = SimpleNamespace(step_loss=[1.0, 0.5], steps_per_epoch=2, val_loss=[0.4], val_acc=[0.9])
    assert Curve.of("x", h) == Curve("x", [1.0, 0.5], 2, [0.4], [0.9])
    with pytest.raises(AttributeError):
        Curve.of("x", h).label = "y"  # frozen


def test_confusion_clickable_markers_at_every_cell():
    cm = np.arange(9).reshape(3, 3)
    plain, click = training.confusion(cm), training.confusion(cm, clickable=True)
    assert len(plain.data) == 1 and len(click.data) == 2
    cells = click.data[1]
    assert len(cells.x) == 9 and list(cells.customdata) == list(range(9))
    assert (cells.y[5], cells.x[5]) == ("1", "2") and click.layout.clickmode == "event+select"


def test_mosaic_places_every_tile():
    maps = RNG.standard_normal((5, 3, 4)).astype(np.float32)
    z, idx = images.tile(maps, cols=2, gap=1)
    assert z.shape == (3 * 4 - 1, 2 * 5 - 1)
    for i in range(5):
        r, c = divmod(i, 2)
        assert np.array_equal(z[r * 4:r * 4 + 3, c * 5:c * 5 + 4], maps[i])
        assert (idx[r * 4:r * 4 + 3, c * 5:c * 5 + 4] == i).all()
    assert np.isnan(z[idx == -1]).all() and (idx == -1).sum() == z.size - maps.size


def test_mosaic_colour_scales_and_titles():
    maps = RNG.standard_normal((3, 5, 5))
    div = images.mosaic(maps, 8, titles=["a", "b", "c"], colorbar_title="weight").data[0]
    assert div.zmax == -div.zmin == pytest.approx(np.abs(maps).max()) and div.zmid == 0
    fig = images.mosaic(maps, 8, titles=["a", "b", "c"])
    assert [a.text for a in fig.layout.annotations] == ["a", "b", "c"]
    ink = images.mosaic(np.abs(maps), 3, colours="ink").data[0]
    assert ink.showscale is False and ink.colorscale == images.mosaic(np.abs(maps), 3, colours="ink",
                                                                       limit=2.0).data[0].colorscale
    seq = images.mosaic(np.abs(maps), 3, colours="sequential", limit=2.0).data[0]
    assert (seq.zmin, seq.zmax) == (0, 2.0)


def test_image_ink_and_signed():
    ink = images.image(np.arange(9, dtype=np.uint8).reshape(3, 3), "digit", 160)
    assert ink.data[0].showscale is False and "%{z}<" in ink.data[0].hovertemplate
    signed = images.image(np.array([[-3.0, 1.0]]), diverging=True, box=(0, 1, 0, 1))
    tr = signed.data[0]
    assert (tr.zmin, tr.zmax, tr.zmid) == (-3.0, 3.0, 0) and tr.showscale is True
    assert signed.layout.shapes[0].x0 == -0.5 and signed.layout.yaxis.autorange == "reversed"


def test_probability_bars_highlight_prediction_and_truth():
    probs = torch.softmax(torch.tensor([0.1, 2.0, 0.3, -1.0]), 0).numpy()
    fig = images.probability_bars(probs, true_label=2)
    bar = fig.data[0]
    assert np.allclose(bar.y, 100 * probs)
    assert bar.marker.color[1] == base.PALETTE[0] and bar.marker.color[0] == base.MUTED
    assert list(bar.marker.line.width) == [0, 0, 3, 0] and bar.text is None
    shown = images.probability_bars(probs, "p", show_values=True).data[0]
    assert shown.text[1] == f"{100 * probs[1]:.0f}%"


def test_tensor_heatmap_splits_leading_dims():
    fig = tensors.tensor_heatmap(np.arange(24).reshape(2, 3, 4), "t")
    assert len(fig.data) == 2 and [a.text for a in fig.layout.annotations] == ["[0, :, :]", "[1, :, :]"]
    assert np.array_equal(np.asarray(fig.data[1].z), np.arange(12, 24).reshape(3, 4))
    many = tensors.tensor_heatmap(np.zeros((9, 2, 2)), "t")
    assert len(many.data) == tensors.MAX_PANELS and "first 6 of 9" in many.layout.title.text


def test_layout_helpers():
    axes = base.image_axes(3, gap=0.06)
    assert axes["yaxis3"]["scaleanchor"] == "x3" and axes["xaxis2"]["anchor"] == "y2"
    assert axes["xaxis3"]["domain"][1] == pytest.approx(1.0)
    titles = base.panel_titles(["a", "", "c"], gap=0.06)
    assert [t["text"] for t in titles] == ["a", "c"]
    assert titles[1]["x"] == pytest.approx(sum(axes["xaxis3"]["domain"]) / 2)
    assert base.symmetric_limit(np.array([-2.0, 1.0]), np.array([1.5])) == 2.0
    assert base.symmetric_limit(np.zeros(3), np.zeros(0)) == 1.0
    assert base.diverging(2.0) == {"colorscale": "RdBu_r", "zmin": -2.0, "zmax": 2.0, "zmid": 0}
