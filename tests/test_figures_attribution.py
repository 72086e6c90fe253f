"""core.figures.attribution: sign and clipping are explicit, the scale is centred at 0, grayscale stays grayscale."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from core.figures.attribution import DIVERGING, View, explanation, shown, side_by_side, top_classes


def signed_map() -> np.ndarray:
    rng = np.random.default_rng(0)
    v = rng.normal(0, 1, (28, 28)).astype(np.float32)
    v[0, 0] = 50.0  # one outlier that would wash everything out without clipping
    return v


def test_sign_choices():
    v = signed_map()
    assert (shown(v, View("positive", clip=100))[0] >= 0).all()
    assert (shown(v, View("negative", clip=100))[0] <= 0).all()
    z, lim = shown(v, View("absolute", clip=100))
    assert np.allclose(z, np.abs(v)) and lim == pytest.approx(50.0)
    both, lim = shown(v, View("both", clip=100))
    assert np.array_equal(both, v) and lim == pytest.approx(50.0)


def test_percentile_clipping_limits_the_outlier():
    v = signed_map()
    z, lim = shown(v, View(clip=99))
    assert lim == pytest.approx(np.percentile(np.abs(v), 99)) and lim < 5
    assert z.max() == pytest.approx(lim) and z.min() >= -lim
    assert shown(np.zeros((4, 4)), View())[1] == 1.0  # an all-zero map still has a scale


def test_explanation_is_centred_at_zero_with_a_legend():
    v = signed_map()
    fig = explanation(np.random.default_rng(1).random((28, 28, 3)), v, View("both", 98, 0.4), units="∂ score / ∂ pixel")
    kinds = [t.type for t in fig.data]
    assert kinds == ["image", "heatmap", "image", "heatmap"]
    attr, overlay = fig.data[1], fig.data[3]
    assert attr.zmid == 0 and attr.zmin == -attr.zmax and attr.showscale and "∂ score" in attr.colorbar.title.text
    assert "p98" in attr.colorbar.title.text
    assert [c[1] for c in attr.colorscale] == [c for _, c in DIVERGING]
    assert overlay.opacity == 0.4 and "rgba" in overlay.colorscale[2][1] and overlay.colorscale[2][1].endswith(",0)")


def test_grayscale_stays_grayscale_and_images_are_not_normalized():
    gray = np.linspace(0, 1, 28 * 28).reshape(28, 28)
    fig = explanation(gray, signed_map(), View())
    base = fig.data[0]
    assert base.type == "heatmap" and base.zmin == 0 and base.zmax == 255
    assert [c[1] for c in base.colorscale] == ["rgb(0,0,0)", "rgb(255,255,255)"]
    assert np.asarray(base.z).max() == 255 and np.asarray(base.z).min() == 0
    chw = np.random.default_rng(2).random((3, 16, 16))
    rgb = explanation(chw, np.ones((16, 16)), View()).data[0]
    assert rgb.type == "image" and rgb.source.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(rgb.source.split(",", 1)[1]))) as png:  # lossless: the same pixels
        assert png.mode == "RGB" and np.array_equal(np.asarray(png), np.round(chw.transpose(1, 2, 0) * 255))


def test_side_by_side_and_top_classes():
    maps = [("Saliency", signed_map()), ("Grad-CAM", np.abs(signed_map()) * 1e-4)]
    fig = side_by_side(np.zeros((28, 28)), maps, View(clip=100))
    heat = [t for t in fig.data if t.type == "heatmap" and t.zmid == 0]
    assert len(heat) == 2 and all(np.abs(np.asarray(h.z)).max() == pytest.approx(1.0) for h in heat)
    bars = top_classes([(3, 0.7), (5, 0.2), (1, 0.05)], names=[f"c{i}" for i in range(10)], target=5)
    assert list(bars.data[0].y) == ["c3", "c5", "c1"] and bars.data[0].marker.color[1] == "#d62728"


def test_png_download_uses_the_same_diverging_colours():
    from core.figures.attribution import attribution_png

    v = np.zeros((8, 8), np.float32)
    v[0, 0], v[7, 7] = 1.0, -1.0
    png = np.asarray(Image.open(io.BytesIO(attribution_png(v, View(clip=100)))))
    assert png.shape == (8, 8, 3)
    assert tuple(png[0, 0]) == (178, 24, 43) and tuple(png[7, 7]) == (33, 102, 172) and tuple(png[3, 3]) == (247,) * 3
