"""core.data.uploads: every bad-upload case (BAD_INPUTS.md 1-9) built here, refused in plain words or made sensible."""
from __future__ import annotations

import io
import struct
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from core.data.uploads import FORMATS, MAX_SIDE, MIN_SIDE, UploadError, decode_image


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def photo(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    """A smooth colour gradient with a little noise (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1), np.full((h, w), 128.0)], -1)
    rgb += rng.normal(0, 4, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def refused(data: bytes) -> str:
    with pytest.raises(UploadError) as e:
        decode_image(data)
    assert "Traceback" not in str(e.value) and len(str(e.value)) > 20
    return str(e.value)


# 1. not images, whatever the name says -------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    np.random.default_rng(0).bytes(4096),  # random bytes (the learner called it cat.png)
    b"<!DOCTYPE html><html><head><title>cat.jpg</title></head><body>not a cat</body></html>",
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    b"\x89",  # one byte
])
def test_non_images_are_refused_by_content(data):
    assert "not an image in a supported format" in refused(data)


def test_empty_file():
    assert "empty" in refused(b"")


# 2. truncated files ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_refused(fmt):
    full = encode(photo(200, 150), fmt)
    assert decode_image(full).pixels.shape == (150, 200, 3)
    msg = refused(full[: len(full) // 2])
    assert "cut off" in msg and fmt in msg
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # never switched on, not even for a moment left behind


# 3. decompression bombs ------------------------------------------------------------------------------------------

def png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose IHDR (with a correct CRC) claims width×height pixels."""
    data = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize("w,h", [(30_000, 30_000), (9_000, 9_000), (12_000, 100)])
def test_bombs_are_refused_before_decoding(w, h):
    bomb = png_claiming(w, h)
    assert len(bomb) < 200
    max_pixels, filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    tracemalloc.start()
    try:
        msg = refused(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "not opened" in msg
    assert ("decompression bomb" in msg) if w * h > 2 * Image.MAX_IMAGE_PIXELS else (f"{w:,}" in msg)
    assert peak < 2 * 2**20, f"{peak / 2**20:.1f} MiB allocated for a refused header"
    assert Image.MAX_IMAGE_PIXELS == max_pixels and list(warnings.filters) == filters  # nothing process-wide


# 4. a legitimate large photo -------------------------------------------------------------------------------------

def test_big_photo_is_downscaled_with_the_limit_stated():
    ramp = Image.linear_gradient("L")  # (256, 256), black at the top to white at the bottom
    red, green = ramp.transpose(Image.Transpose.ROTATE_90), ramp  # red: black left, white right
    big_im = Image.merge("RGB", (red, green, Image.new("L", (256, 256), 128))).resize((6000, 4000))
    big = encode(big_im, "JPEG", quality=80)
    out = decode_image(big)
    assert max(out.pixels.shape[:2]) == MAX_SIDE and out.declared_size == (6000, 4000)
    assert any(f"at most {MAX_SIDE}" in n for n in out.notes)
    # still the same picture: red grows left to right, green top to bottom
    assert out.pixels[:, -10:, 0].mean() > 200 and out.pixels[:, :10, 0].mean() < 50
    assert out.pixels[-10:, :, 1].mean() > 200 and out.pixels[:10, :, 1].mean() < 50


# 5. formats outside the allowlist ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA"])
def test_formats_outside_the_allowlist_are_refused(fmt):
    assert fmt not in FORMATS
    assert "not an image in a supported format" in refused(encode(photo(32, 32), fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_allowed_format_decodes(fmt):
    out = decode_image(encode(photo(40, 30), fmt))
    assert out.format == fmt and out.pixels.dtype == np.uint8 and out.pixels.shape == (30, 40, 3)


# 6. modes ---------------------------------------------------------------------------------------------------------

def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    out = decode_image(encode(cmyk, "JPEG", quality=95))
    assert out.mode == "CMYK" and out.pixels.shape == (32, 32, 3)
    r, g, b = out.pixels.reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def test_palette_with_transparency_is_composited_on_white():
    im = Image.new("P", (32, 32), 0)
    im.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    im.paste(1, (0, 0, 16, 32))  # left half colour 1 (red), right half colour 0 (black, made transparent)
    out = decode_image(encode(im, "PNG", transparency=0))
    assert out.mode == "P" and out.pixels.shape == (32, 32, 3)
    assert (out.pixels[:, 20:] == 255).all()  # transparent -> white paper, not black
    assert (out.pixels[:, :10] == (200, 0, 0)).all()


def test_rgba_and_la_composited_on_white():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 2] = 255
    rgba[:, :8, 3] = 255  # left opaque blue, right fully transparent
    out = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert (out.pixels[:, :8] == (0, 0, 255)).all() and (out.pixels[:, 8:] == 255).all()
    la = np.zeros((16, 16, 2), np.uint8)
    la[:, :8, 1] = 255  # black ink on the left, transparent on the right
    out = decode_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert out.gray and (out.pixels[:, :8] == 0).all() and (out.pixels[:, 8:] == 255).all()


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))  # (16, 64)
    im = Image.fromarray(ramp)  # mode I;16
    out = decode_image(encode(im, "PNG"))
    assert out.gray and out.mode.startswith("I;16")
    assert out.pixels[:, 0].max() == 0 and out.pixels[:, -1].min() == 255
    assert 120 <= out.pixels[0, 32] <= 135  # the middle of the ramp is mid-gray, not white
    assert np.all(np.diff(out.pixels[0].astype(int)) >= 0)


def test_one_bit_becomes_grayscale():
    bits = np.zeros((16, 16), bool)
    bits[4:12, 4:12] = True
    out = decode_image(encode(Image.fromarray(bits), "PNG"))
    assert out.mode == "1" and out.gray and out.pixels.dtype == np.uint8
    assert set(np.unique(out.pixels)) == {0, 255} and (out.pixels[4:12, 4:12] == 255).all()


# 7. EXIF orientation ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("orientation,stored_as", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
                                                   (3, Image.Transpose.ROTATE_180)])
def test_exif_rotated_photo_reaches_the_model_upright(orientation, stored_as):
    upright = np.zeros((40, 24, 3), np.uint8)
    upright[:20] = (255, 0, 0)  # top red
    upright[20:] = (0, 0, 255)  # bottom blue
    stored = Image.fromarray(upright).transpose(stored_as)  # what the phone's sensor wrote
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = decode_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.pixels.shape == (40, 24, 3)
    assert out.pixels[:15, :, 0].mean() > 200 and out.pixels[25:, :, 2].mean() > 200
    assert any("upright" in n for n in out.notes)


# 8. animations ----------------------------------------------------------------------------------------------------

def test_fifty_frame_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (64, 64), (5 * i, 255 - 5 * i, 0)) for i in range(50)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 50
    out = decode_image(data)
    assert out.pixels.shape == (64, 64, 3)
    assert np.abs(out.pixels.reshape(-1, 3).mean(0) - (0, 255, 0)).max() < 8  # frame 0's colour
    assert any("first frame" in n for n in out.notes)


# 9. valid but absurd shapes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("w,h,words", [(1, 1, "only 1×1"), (5, 5, f"at least {MIN_SIDE}"),
                                       (1, 5000, "only 1×5000"), (5000, 40, "thin strip")])
def test_absurd_shapes_get_a_message(w, h, words):
    assert words in refused(encode(Image.new("RGB", (w, h), (10, 20, 30)), "PNG"))
