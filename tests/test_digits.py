"""MNIST-style preprocessing of a drawing: centring, scaling, empty canvases, idempotence on MNIST."""
import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.data.digits import centre_of_mass, ink_from_rgba, preprocess_canvas, preprocess_ink
from core.data.mnist import load_sample
from core.data.normalization import MNIST_MEAN, MNIST_STD


def canvas_with_stroke(points, width=20, size=280, background=(0, 0, 0, 0)) -> np.ndarray:
    """What st_canvas returns: (H, W, 4) uint8 RGBA, black strokes on a transparent (or white) background."""
    img = Image.new("RGBA", (size, size), background)
    ImageDraw.Draw(img).line(points, fill=(0, 0, 0, 255), width=width, joint="curve")
    return np.asarray(img)


@pytest.mark.parametrize("background", [(0, 0, 0, 0), (255, 255, 255, 255)])
def test_off_centre_stroke_is_cropped_scaled_and_centred(background):
    rgba = canvas_with_stroke([(20, 30), (60, 40), (70, 120), (40, 150)], background=background)  # top-left
    steps = preprocess_canvas(rgba)
    assert steps is not None
    assert steps.centred.shape == (28, 28) and steps.tensor.shape == (1, 1, 28, 28)
    assert max(steps.scaled.shape) == 20  # longer side of the ink box scaled to 20
    cy, cx = centre_of_mass(steps.centred)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    top, bottom, left, right = steps.bbox
    assert top < 30 < bottom <= 175 and left < 25 and right < 90  # the crop found the stroke
    assert steps.centred.min() >= 0 and steps.centred.max() <= 1 and steps.centred.max() > 0.9
    assert np.allclose(steps.normalized(), (steps.centred - MNIST_MEAN) / MNIST_STD, atol=1e-6)


def test_wide_stroke_keeps_aspect_ratio():
    steps = preprocess_canvas(canvas_with_stroke([(20, 140), (260, 150)], width=20))  # a flat dash
    assert steps.scaled.shape[1] == 20 and steps.scaled.shape[0] < 6


@pytest.mark.parametrize("rgba", [
    np.zeros((280, 280, 4), np.uint8),  # transparent: nothing drawn
    np.full((280, 280, 4), 255, np.uint8),  # white background only
    None,
    np.zeros((0, 0, 4), np.uint8),
])
def test_empty_canvas_gives_none(rgba):
    assert preprocess_canvas(rgba) is None


def test_a_single_speck_counts_as_empty():
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[100, 100] = (0, 0, 0, 255)
    assert preprocess_canvas(rgba) is None


def test_ink_from_rgba_composites_on_white():
    px = np.array([[[0, 0, 0, 255], [0, 0, 0, 0], [255, 255, 255, 255], [0, 0, 0, 128]]], np.uint8)
    assert np.allclose(ink_from_rgba(px)[0], [1.0, 0.0, 0.0, 128 / 255], atol=1e-6)


def test_idempotent_on_real_mnist_digits():
    data = load_sample()
    diffs = []
    for i in range(0, len(data.test), 50):
        original = data.test.images[i].numpy().astype(np.float32) / 255  # (28, 28), ink 0..1
        steps = preprocess_ink(original)
        assert steps is not None
        diffs.append(float(np.abs(steps.centred - original).mean()))
        cy, cx = centre_of_mass(steps.centred)
        assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0
    diffs = np.array(diffs)
    assert np.median(diffs) < 0.01  # most digits come back (nearly) unchanged
    assert diffs.max() < 0.2  # and none changes a lot (rescaling a 19- or 21-pixel box is allowed)


def test_drawing_notes_warn_about_tiny_and_off_centre_ink_only():
    from core.data.digits import drawing_notes

    big = preprocess_canvas(canvas_with_stroke([(140, 40), (140, 240)]))  # a "1" down the middle
    tiny_corner = preprocess_canvas(canvas_with_stroke([(20, 20), (30, 40)], width=6))  # a scribble at the top left
    tiny_middle = preprocess_canvas(canvas_with_stroke([(135, 130), (140, 150)], width=6))
    assert drawing_notes(big) == []
    notes = drawing_notes(tiny_corner)
    assert len(notes) == 2 and "tiny" in notes[0] and "far from the middle" in notes[1]
    assert [n.split(" (")[0] for n in drawing_notes(tiny_middle)] == ["The drawing is tiny"]
