"""AppTest: the Saliency page explains a test digit, and every bad upload (BAD_INPUTS 1-9) gets a plain message
through the page's own file uploader, with the page still working afterwards."""
import conv_fixtures  # noqa: F401  (offline, temp home)

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from conv_fixtures import ensure_tiny_runs

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "saliency.py")


def png(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def bomb() -> bytes:
    data = bytearray(png(Image.new("L", (8, 8))))
    ihdr = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)
    data[16:29], data[29:33] = ihdr, struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def digit_photo() -> bytes:
    from core.data import load_sample

    ink = np.asarray(Image.fromarray(load_sample().test.images[0].numpy()).resize((160, 160)), np.float32) / 255
    page = np.full((240, 200), 235.0)
    page[40:200, 20:180] -= ink * 180
    return png(Image.fromarray(page.astype(np.uint8)).convert("RGB"), "JPEG")


@pytest.fixture(scope="module")
def at():
    ensure_tiny_runs()
    app = AppTest.from_file(PAGE, default_timeout=180)
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def run(app: AppTest) -> AppTest:
    app.run()
    assert not app.exception, [e.message for e in app.exception]
    return app


def test_explains_a_test_digit_with_several_methods(at):
    at.radio(key="sal_source").set_value("MNIST test digit")
    run(at)
    at.multiselect(key="sal_methods").set_value(["saliency", "integrated_gradients", "occlusion"])
    run(at)
    keys = [c.proto.id for c in at.get("plotly_chart")]
    assert len(keys) >= 5  # top-5, side by side, one explanation per method
    assert any("What it computes" in m.value for m in at.markdown)
    assert any("ImageNet ResNet-18 is not available" in i.value for i in at.info)  # no weights offline: said so
    at.slider(key="sal_alpha").set_value(0.3)
    run(at)  # a view change reuses the cached attribution (st.cache_data) and still draws


BAD = [
    ("cat.png", np.random.default_rng(0).bytes(3000), "not an image in a supported format"),
    ("cat.jpg", b"<!DOCTYPE html><html><body>hello</body></html>", "not an image in a supported format"),
    ("doc.jpg", b"%PDF-1.4\n%%EOF\n", "not an image in a supported format"),
    ("empty.png", b"", "empty"),
    ("one.png", b"\x89", "not an image"),
    ("cut.png", None, "cut off"),
    ("bomb.png", bomb(), "not opened"),
    ("tiny.png", png(Image.new("RGB", (1, 1))), "only 1×1"),
    ("strip.png", png(Image.new("RGB", (1, 5000))), "only 1×5000"),
    ("photo.png", png(Image.new("RGB", (64, 64)), "TIFF"), "not an image in a supported format"),
]


def test_bad_uploads_get_a_message_and_the_page_keeps_working(at):
    at.radio(key="sal_source").set_value("Upload")
    run(at)
    good = digit_photo()
    at.file_uploader(key="sal_upload").set_value(("digit.jpg", good, "image/jpeg"))
    run(at)
    assert not at.error and len(at.get("plotly_chart")) >= 2  # the photo is explained
    full = png(Image.new("RGB", (200, 150), (20, 40, 60)))
    for name, data, words in BAD:
        data = full[: len(full) // 2] if data is None else data
        at.file_uploader(key="sal_upload").set_value((name, data, "image/png"))
        run(at)
        assert any(words in e.value for e in at.error), (name, [e.value for e in at.error])
        assert any("previous image" in c.value for c in at.caption)  # the last good picture stays
        assert len(at.get("plotly_chart")) >= 2
    at.file_uploader(key="sal_upload").set_value(("digit.jpg", good, "image/jpeg"))
    run(at)
    assert not at.error


def cnn_choice(app: AppTest) -> str:
    from conv_fixtures import tiny_config

    return "mnist:" + tiny_config("cnn").key()


def cell_of(option: str) -> tuple[int, int, int]:
    """'true 3 → predicted 5 (4 digits)' -> (3, 5, 4)."""
    return tuple(int(w) for w in option.replace("(", " ").split() if w.isdigit())


def test_a_view_change_does_not_attribute_again(at, monkeypatch):
    """Alpha, clipping and sign only redraw: the attribution runs once per (image, method), and the model's private
    twins are built once and reused by every method."""
    import ui.saliency as ui

    calls = {"attribute": 0, "twins": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(ui, "attribute", counted("attribute", ui.attribute))
    monkeypatch.setattr(ui, "twins", counted("twins", ui.twins))
    ui.explain.clear()
    ui._twins.clear()
    at.selectbox(key="sal_model").set_value(cnn_choice(at))
    at.radio(key="sal_source").set_value("MNIST test digit")
    run(at)  # digit 0 with the methods an earlier test left chosen: the CNN's twins built once for all of them
    assert calls["twins"] == 1 and calls["attribute"] >= 1
    calls["attribute"] = 0
    at.number_input(key="sal_digit").set_value(11)
    at.multiselect(key="sal_methods").set_value(["saliency", "grad_cam"])
    run(at)
    assert calls == {"attribute": 2, "twins": 1}
    for widget, value in (("sal_alpha", 0.25), ("sal_clip", 95.0)):
        at.slider(key=widget).set_value(value)
        run(at)
    at.radio(key="sal_sign").set_value(at.radio(key="sal_sign").options[-1])
    run(at)
    assert calls == {"attribute": 2, "twins": 1}  # three view changes, nothing recomputed
    at.number_input(key="sal_digit").set_value(12)
    run(at)
    assert calls == {"attribute": 4, "twins": 1}  # a new image is attributed, on the same twins


def test_misclassified_cell_shows_its_digits_and_their_attributions(at):
    """The selectbox lists the model's off-diagonal confusion cells with counts equal to PyTorch's own predictions;
    picking one shows its digits and the first method's map for each, and explains the chosen digit."""
    import torch

    from conv_fixtures import tiny_config
    from core.data import load_sample, to_input
    from core.store import RunStore
    from core.config import Paths
    from core.train import load_model

    at.selectbox(key="sal_model").set_value(cnn_choice(at))
    at.radio(key="sal_source").set_value("Misclassified digit")
    run(at)
    at.multiselect(key="sal_methods").set_value(["saliency"])
    run(at)
    run_ = RunStore(Paths.from_env().runs).load(tiny_config("cnn"))
    test = load_sample().test
    with torch.no_grad():
        preds = load_model(run_, "cpu")(to_input(test.images)).argmax(1)
    box = at.selectbox(key="sal_cell")
    assert box.options, "the tiny CNN makes mistakes on the sample's test digits"
    for option in box.options[:5]:
        t, p, n = cell_of(option)
        assert n == int(((test.labels == t) & (preds == p)).sum()) and t != p
    assert box.value == cell_of(box.options[0])[:2]  # the most frequent mistake first
    at.selectbox(key="sal_cell").set_value(cell_of(box.options[-1])[:2])
    run(at)
    t, p = at.selectbox(key="sal_cell").value
    digit = at.selectbox(key="sal_cell_digit").value
    assert int(test.labels[digit]) == t and int(preds[digit]) == p
    charts = {c.proto.id for c in at.get("plotly_chart")}
    assert any("sal_cell_images" in k for k in charts) and any("sal_cell_maps" in k for k in charts)
    assert any("sal_cm" in k for k in charts)
