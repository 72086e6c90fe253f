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
