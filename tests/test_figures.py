"""core/figures: every builder returns a figure whose dict validates, and each figure shows what it claims."""
from __future__ import annotations

import inspect
import math
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from core.figures import attribution, base, conv, images, layers, losses, optim, tensors, training
from core.figures.training import Curve
from core.fmt import num

RNG = np.random.default_rng(0)


def _curve(label: str, steps: int = 30, spe: int = 10) -> Curve:
    return Curve(label, list(RNG.random(steps)), spe, list(RNG.random(steps // spe)), list(RNG.random(steps // spe)))


def _graph():
    node = SimpleNamespace
    nodes = [node(id="w", label="w (leaf)", kind="leaf", value=2.0, grad=0.5, depth=2),
             node(id="x", label="x", kind="constant", value=3.0, grad=None, depth=2),
             node(id="m", label="w·x = MulBackward0", kind="op", value=6.0, grad=1.0, depth=1),
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
    ("conv", "channel_kernels"): lambda: conv.channel_kernels(RNG.standard_normal((4, 3, 3, 3)), 1, 1.0, "k"),
    ("conv", "arithmetic"): lambda: conv.arithmetic(*RNG.standard_normal((3, 3, 3)), 0),
    ("conv", "channel_sums"): lambda: conv.channel_sums(RNG.standard_normal(3), 0.1, 0.7),
    ("conv", "coverage"): lambda: conv.coverage(RNG.integers(0, 4, (7, 7)), np.eye(7, dtype=bool),
                                                np.eye(7, dtype=bool), np.eye(7, dtype=bool), "c"),
    ("conv", "shape_flow"): lambda: conv.shape_flow([("input", "Input", (1, 28, 28), "", 0),
                                                     ("conv1", "Conv2d", (16, 28, 28), "16×1×3×3 + 16", 160),
                                                     ("flatten", "Flatten", (784,), "", 0)]),
    ("conv", "mistakes"): lambda: conv.mistakes(RNG.random((2, 28, 28)), np.tile(_P, (2, 1)), 2, 1, [5, 9]),
    ("conv", "saliency"): lambda: conv.saliency(RNG.standard_normal((28, 28)), 2.0, "s"),
    ("layers", "shape_flow"): lambda: layers.shape_flow(["conv", "flatten"], [(4, 26, 26), (2704,)], "linear"),
    ("attribution", "explanation"): lambda: attribution.explanation(RNG.random((8, 8)), RNG.standard_normal((8, 8)),
                                                                    attribution.View(), title="t"),
    ("attribution", "side_by_side"): lambda: attribution.side_by_side(
        RNG.random((8, 8, 3)), [("a", RNG.standard_normal((8, 8))), ("b", RNG.standard_normal((8, 8)))],
        attribution.View()),
    ("attribution", "top_classes"): lambda: attribution.top_classes([(3, 0.7), (1, 0.2)], ["a", "b", "c", "d"], 3),
}
MODULES = {"training": training, "images": images, "tensors": tensors, "losses": losses, "optim": optim,
           "conv": conv, "layers": layers, "attribution": attribution}


def test_every_builder_is_listed():
    """Every public function returning a go.Figure in core/figures has a case in BUILDERS."""
    public = {(name, f) for name, mod in MODULES.items() for f, fn in vars(mod).items()
              if inspect.isfunction(fn) and fn.__module__ == mod.__name__ and not f.startswith("_")
              and inspect.signature(fn).return_annotation in (go.Figure, "go.Figure")}
    assert public == set(BUILDERS)


@pytest.mark.parametrize("key", list(BUILDERS), ids=lambda k: ".".join(k))
def test_builder_dict_validates(key, monkeypatch):
    """The app's figure (built unvalidated) validates, and the browser gets the same JSON as from a validated one."""
    monkeypatch.delenv(base.CHECK_ENV)  # as the app runs
    fig = BUILDERS[key]()
    assert isinstance(fig, go.Figure) and len(fig.data) >= 1
    again = go.Figure(fig.to_dict())  # raises if any property of the dict is invalid
    assert base._sent(again) == base._sent(fig)


def test_figure_rejects_an_invalid_dict_when_checking():
    """Under the suite (CHECK_ENV=1) a misspelt property or a value Plotly would rewrite fails; the app skips it."""
    bad = [{"type": "heatmap", "z": [[1]], "colourscale": "Blues"}]
    with pytest.raises(ValueError):
        base.figure(bad, {})
    with pytest.raises(ValueError, match=r"rewrites this figure at \.data\[0\]\.colorscale"):
        base.figure([{"type": "heatmap", "z": [[1]], "colorscale": "Blues"}], {})  # a name, not the list
    with pytest.raises(ValueError, match=r"\.data\[0\]\.xaxis: x1 != x"):
        base.figure([{"type": "bar", "x": [1], "y": [1], "xaxis": "x1"}], {})


def test_figure_skips_validation_in_the_app(monkeypatch):
    monkeypatch.delenv(base.CHECK_ENV)
    assert base.figure([{"type": "heatmap", "z": [[1]], "colourscale": "Blues"}], {}).data[0].type == "heatmap"


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
    assert set(by_run) == {"a", "b"} and all(len(c) == 1 for c in by_run.values())
    assert by_run["a"] != by_run["b"]
    acc = [tr for tr in fig.data if tr.yaxis == "y2" and tr.legendgroup == "a"][0]
    assert np.allclose(acc.y, 100 * np.asarray(a.val_acc))
    smoothed = [tr for tr in fig.data if tr.name == "a" and tr.showlegend is not False][0]
    assert np.allclose(smoothed.x, np.arange(1, 41) / 10)  # steps in units of epochs
    assert np.allclose(smoothed.y, training.smooth(a.step_loss))
    assert [a_.text for a_ in fig.layout.annotations][:2] == ["Loss", "Validation accuracy"]
    # one legend entry per run; the line styles are explained once, in the legend title
    assert [tr.name for tr in fig.data if tr.showlegend is not False] == ["a", "b"]
    assert "dotted: validation" in fig.layout.legend.title.text


def test_run_curves_single_run_one_legend_entry_per_curve():
    fig = training.run_curves([_curve("only")])
    names = [tr.name for tr in fig.data]
    assert names == ["train loss (raw, per batch)", "train loss (smoothed)", "validation loss", "validation accuracy"]
    assert all(tr.legendgroup is None and tr.showlegend is not False for tr in fig.data)  # a click hides one curve
    assert fig.data[1].line.color == base.ROLE["train"] and fig.data[2].line.color == base.ROLE["validation"]


def test_run_curves_axes_read_honestly():
    """Accuracy from 0 % with chance marked; epoch ticks at whole numbers; the legend below the axis titles."""
    fig = training.run_curves([_curve("a", 30, 10)])
    assert tuple(fig.layout.yaxis2.range) == (0, 101)
    chance = fig.layout.shapes[0]
    assert chance.yref == "y2" and chance.y0 == chance.y1 == training.CHANCE
    for ax in (fig.layout.xaxis, fig.layout.xaxis2):
        assert ax.dtick == 1 and float(ax.tick0).is_integer()
    assert fig.layout.legend.yref == "container" and fig.layout.margin.b >= 60 + 24
    long = training.run_curves([_curve("a", 400, 10)])  # 40 epochs: ticks every 4, still whole numbers
    assert long.layout.xaxis2.dtick == 4 and long.layout.xaxis2.tick0 == 1


def test_integer_and_log_ticks():
    assert base.integer_ticks(3) == {"tick0": 1, "dtick": 1, "range": [0.5, 3.5]}
    assert base.integer_ticks(25)["dtick"] == 3
    few = base.log_ticks(0.05, 20)  # 0.1, 1, 10: every decade, plain numbers
    assert few == {"type": "log", "dtick": 1, "exponentformat": "none"}
    many = base.log_ticks(1e-12, 10)  # 13 decades: every 2nd, as powers of ten
    assert many["dtick"] == 2 and many["exponentformat"] == "power"
    t = losses.ce_temperature(np.geomspace(0.05, 20, 30), RNG.random(30), 1.0)
    assert t.layout.xaxis.type == "log" and t.layout.xaxis.dtick == 1
    o = optim.loss_per_step({"SGD": np.geomspace(10, 1e-9, 50)}, log_y=True)
    assert o.layout.yaxis.dtick >= 1 and o.layout.yaxis.exponentformat == "power"


def test_live_loss_legend_inside_the_plot_below_the_title():
    fig = training.live_loss(list(RNG.random(20)), 100)
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y <= 1 and fig.layout.title.text
    assert np.allclose(fig.data[1].y, training.smooth(fig.data[0].y))


@pytest.mark.parametrize("value, decimals, text", [
    (-0.001, 2, "0.00"), (-0.004, None, "-0.004"), (200832, None, "200,832"), (100480.0, None, "100,480"),
    (-1234.5678, 2, "-1,234.57"), (1.5, None, "1.5"), (-0.0, None, "0"), (-0.00001, 4, "0.0000"),
    (float("nan"), 2, "nan"), (2.0, 3, "2.000")])
def test_num_never_writes_minus_zero(value, decimals, text):
    assert num(value, decimals) == text


def test_arithmetic_products_never_minus_zero():
    patch = np.array([[-0.001, 0.5, 0.0]] * 3)
    kernel = np.array([[0.2, -0.3, 0.1]] * 3)
    fig = conv.arithmetic(patch, kernel, patch * kernel, 0)
    texts = [t for tr in fig.data for row in tr.text for t in row]
    assert texts and not any(t.startswith("-0.00") for t in texts) and "0.00" in fig.data[2].text[0]


def test_channel_kernels_labels_every_input_channel():
    w = RNG.standard_normal((4, 16, 3, 3))
    fig = conv.channel_kernels(w, 2, 5.0, "k")
    assert [a.text for a in fig.layout.annotations] == [f"in {i}" for i in range(16)]
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.allclose(z[:3, :3], w[2, 0]) and np.allclose(z[:3, -3:], w[2, 7])  # row 0: in 0..7
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-5.0, 5.0)


def test_autograd_arrows_carry_tensor_names_and_stop_short():
    fig = tensors.autograd_graph(*_graph())
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    labels = [a.text for a in fig.layout.annotations if not a.showarrow and a.text.startswith("<i>")]
    assert len(arrows) == 3 and all(a.standoff >= 10 and a.startstandoff >= 10 for a in arrows)
    assert labels == ["<i>w</i>", "<i>x</i>", "<i>w·x</i>"]  # the tensor each arrow carries forward
    # node labels come after every arrow (drawn on top), on an opaque ground
    texts = [a.text for a in fig.layout.annotations]
    node_labels = [i for i, t in enumerate(texts) if t.startswith("<b>")]
    assert len(node_labels) == 4 and min(node_labels) > max(i for i, a in enumerate(fig.layout.annotations)
                                                            if a.showarrow)
    assert all(fig.layout.annotations[i].bgcolor for i in node_labels)


def test_one_role_colour_for_predicted_and_true_everywhere():
    probs = _P
    bars = images.probability_bars(probs, true_label=2).data[0]
    mist = conv.mistakes(RNG.random((1, 28, 28)), probs[None], 2, 1, [0]).data[1]
    assert bars.marker.color[1] == mist.marker.color[1] == base.ROLE["predicted"]
    assert bars.marker.line.color == mist.marker.color[2] == base.ROLE["true"]
    ce = losses.ce_bars(list("0123"), *RNG.random((4, 4)), 1).data[0]
    assert ce.marker.color[1] == base.ROLE["true"]


def test_non_negative_tensor_on_sequential_scale_signed_on_diverging():
    pos = tensors.tensor_heatmap(np.arange(4.0), "t").layout.coloraxis
    neg = tensors.tensor_heatmap(np.arange(4.0) - 2, "t").layout.coloraxis
    assert pos.cmin == 0 and neg.cmin == -neg.cmax == -2
    assert pos.colorscale != neg.colorscale


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
    assert len(cells.x) == 9 and [list(c) for c in cells.customdata] == [[r, c, 3 * r + c] for r in range(3)
                                                                          for c in range(3)]  # [row, col, count]
    assert (cells.y[5], cells.x[5]) == ("1", "2") and click.layout.clickmode == "event+select"


def test_clickable_image_has_a_target_on_every_pixel():
    img = RNG.standard_normal((4, 6)).astype(np.float32)
    plain, click = images.image(img, diverging=True), images.image(img, diverging=True, clickable=True)
    assert len(plain.data) == 1 and plain.layout.clickmode is None
    cells = click.data[1]
    assert len(cells.x) == 24 and click.layout.clickmode == "event+select" and click.layout.dragmode is False
    r, c, v = cells.customdata[13]
    assert (r, c) == (2, 1) == (cells.y[13], cells.x[13]) and abs(v - float(img[2, 1])) < 1e-4


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
    # the outline is not orange: orange means "predicted" on every page
    assert [s.line.color for s in signed.layout.shapes] == ["white", base.ROLE["selected"]]
    assert base.ROLE["selected"] not in {c for k, c in base.ROLE.items() if k != "selected"}


def test_probability_bars_highlight_prediction_and_truth():
    probs = torch.softmax(torch.tensor([0.1, 2.0, 0.3, -1.0]), 0).numpy()
    fig = images.probability_bars(probs, true_label=2)
    bar = fig.data[0]
    assert np.allclose(bar.y, 100 * probs)
    assert bar.marker.color[1] == base.ROLE["predicted"] and bar.marker.color[0] == base.MUTED
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
    assert base.diverging(2.0) == {"colorscale": base.DIVERGING, "zmin": -2.0, "zmax": 2.0, "zmid": 0}
    assert base.DIVERGING[0][1] == "rgb(5,48,97)" and base.DIVERGING[-1][1] == "rgb(103,0,31)"  # blue .. red


def test_run_curves_by_step_or_time_smoothing_and_log_scale():
    a = Curve("a", list(RNG.random(40) + 0.1), 10, list(RNG.random(4) + 0.1), list(RNG.random(4)), seconds=8.0)
    b = Curve("b", list(RNG.random(20) + 0.1), 10, list(RNG.random(2) + 0.1), list(RNG.random(2)), seconds=2.0)
    by_step = training.run_curves([a, b], x="step", smoothing=0.0, log_y=True)
    train = [tr for tr in by_step.data if tr.showlegend is not False]
    assert [tr.name for tr in train] == ["a", "b"]  # still one legend entry per run
    assert np.allclose(train[0].x, np.arange(1, 41)) and np.allclose(train[0].y, a.step_loss)  # 0: the raw losses
    val = [tr for tr in by_step.data if tr.name == "a" and tr.line.dash == "dot"][0]
    assert np.allclose(val.x, [10, 20, 30, 40])  # each validation point at its epoch's last step
    assert by_step.layout.yaxis.type == "log" and by_step.layout.xaxis.title.text == "optimizer step"
    assert by_step.layout.xaxis2.title.text == "optimizer step"
    wall = training.run_curves([a], x="wall", smoothing=0.6)
    smoothed = [tr for tr in wall.data if tr.name == "train loss (smoothed)"][0]
    assert np.isclose(smoothed.x[-1], 8.0) and np.allclose(smoothed.y, training.smooth(a.step_loss, 0.6))
    assert wall.layout.yaxis.type != "log" and wall.layout.xaxis.title.text == "training time (s)"


def test_a_narrow_log_axis_labels_each_tick_with_its_own_number():
    """Issue 19: the gradient-norm chart's log axis read "2, 1, 5, 2, 0.1, 5" (Plotly's minor labels). Within two
    decades the ticks are 1-2-5 steps whose labels are their values; the gradient chart uses them."""
    from core.figures.transfer import gradient_norms
    from core.transfer.strategies import LayerGrad

    ticks = base.log_ticks(0.02, 0.9)
    assert ticks["tickvals"] == [0.02, 0.05, 0.1, 0.2, 0.5]
    assert ticks["ticktext"] == ["0.02", "0.05", "0.1", "0.2", "0.5"]
    assert len(base.log_ticks(1.1, 1.5)["tickvals"]) == 2  # narrower than one step: its ends
    narrow = [LayerGrad("layer4.1.conv2", 0.3, True), LayerGrad("fc", 0.7, True), LayerGrad("conv1", 0.0, False)]
    y = gradient_norms(narrow).layout.yaxis
    assert y.type == "log" and [float(t) for t in y.ticktext] == list(y.tickvals) and len(y.tickvals) >= 3, y
    wide = gradient_norms([LayerGrad("fc", 5.0, True), LayerGrad("layer1.0.conv1", 1e-4, True)]).layout.yaxis
    assert wide.dtick == 1 and wide.tickvals is None  # over many decades: powers of ten only


def test_a_diverged_gradient_keeps_the_log_axis_of_the_finite_ones():
    """A step whose gradient is NaN or infinite (a diverged run, odd weights) has no bar; the axis spans the
    finite norms instead of failing on log10(NaN)."""
    from core.figures.transfer import gradient_norms
    from core.transfer.strategies import LayerGrad

    y = gradient_norms([LayerGrad("fc", float("nan"), True), LayerGrad("layer4.1.conv2", 0.3, True),
                        LayerGrad("layer4.0.conv1", float("inf"), True)]).layout.yaxis
    assert y.type == "log" and all(math.isfinite(v) for v in y.tickvals) and 0.3 <= max(y.tickvals) * 2.5
    for lo, hi in ((float("nan"), 1.0), (0.1, float("inf")), (float("nan"), float("nan"))):
        ticks = base.log_ticks(lo, hi)
        assert ticks["type"] == "log" and all(math.isfinite(v) for v in ticks.get("tickvals", [1.0]))
