"""An uploaded file -> a sensible uint8 image, or an UploadError saying in plain words what is wrong.

Validation is by content, never by file name: Pillow opens the bytes with a format allowlist.
Order matters, so nothing large is ever decoded by mistake and nothing is converted at full size:
1. size of the file itself (empty, one byte, over MAX_FILE_BYTES);
2. open (reads the header only) with Pillow's DecompressionBombWarning raised as an error, then
   the app's own limits on the *declared* size: at most MAX_MEGAPIXELS megapixels and MAX_DECLARED_SIDE pixels
   per side (so the decoded image in its own mode is at most 4 bytes × 50 MP = 200 MB), a sane aspect ratio;
3. decode the first frame only (JPEG at a reduced scale when it is much larger than MAX_SIDE), one decode at a time
   in this process (a server is one process: four uploads at once queue instead of quadrupling the peak);
   a truncated file fails here (LOAD_TRUNCATED_IMAGES is never set);
4. a strip of rows at a time (STRIP_PIXELS): the mode turned into RGB or grayscale (one converter per mode:
   transparent parts composited onto white, 16 bits scaled, not clipped) and reduced by a whole factor, so float
   work never sees more than a strip; then, on the small image, the longer side resized to MAX_SIDE and the EXIF
   orientation applied.
Peak memory of a decode: the decoded image in its own mode, one RGB copy of the reduced image (at most
(2·MAX_SIDE)² · 3 bytes = 48 MiB) and one strip's float work (tools/big_images.py measures it; python -m bench).
Pillow's process-wide settings (MAX_IMAGE_PIXELS, LOAD_TRUNCATED_IMAGES) are never changed.
"""
from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import InputError

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # what Pillow may open; everything else is refused
MAX_FILE_BYTES = 10 << 20  # 10 MiB: the image widget's own cap (a phone photo is 2-8 MB)
MAX_MEGAPIXELS = 50  # width × height the header may claim, in millions of pixels (a 7000×7000 drawing passes)
MAX_DECLARED_PIXELS = MAX_MEGAPIXELS * 1_000_000
MAX_DECLARED_SIDE = 10_000  # pixels per side the header may claim (a 6000×4000 photo passes)
MAX_SIDE = 2048  # a larger image is downscaled so its longer side is this
MIN_SIDE = 8  # smaller than this per side: nothing a model can use
MAX_ASPECT = 20.0  # longer side / shorter side; beyond this a strip, not a picture
STRIP_PIXELS = 1 << 20  # pixels converted at a time: the float work of a strip is a few MB whatever the image
_ONE_AT_A_TIME = threading.Lock()  # decodes in this process, one after another
# EXIF orientation -> the transpose that makes the picture upright (what ImageOps.exif_transpose does, here applied
# to the small image instead of copying the full-size one)
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}


class UploadError(InputError):
    """The learner's file cannot be used; the message says why in plain words."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # (H, W) uint8 grayscale or (H, W, 3) uint8 RGB, upright
    format: str  # what the content is ("PNG", "JPEG", ...), whatever the file was called
    mode: str  # Pillow's mode of the file ("RGB", "CMYK", "I;16", ...)
    declared_size: tuple[int, int]  # (width, height) the file declares
    notes: tuple[str, ...]  # what was done to it, in plain words (rotated, downscaled, first frame, ...)

    @property
    def gray(self) -> bool:
        return self.pixels.ndim == 2


def _on_white(im: Image.Image, mode: str) -> Image.Image:
    """Composite onto white (transparent parts of a logo or drawing are paper, not black); mode "RGB" or "L"."""
    if mode == "RGB":
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    la = np.asarray(im.convert("LA"), dtype=np.float32)  # (H, W, 2) gray + alpha
    g, a = la[..., 0], la[..., 1] / 255.0
    return Image.fromarray(np.round(g * a + 255.0 * (1.0 - a)).astype(np.uint8))


def _sixteen_bit(im: Image.Image) -> Image.Image:
    """16-bit grayscale scaled to 8 bits (65535 -> 255); converting directly would clip to white."""
    a = np.asarray(im, dtype=np.float64)  # (H, W) values 0..65535
    return Image.fromarray(np.round(np.clip(a, 0, 65535) / 257.0).astype(np.uint8))


def _stretch(im: Image.Image, span: tuple[float, float] | None = None) -> Image.Image:
    """32-bit integer or float grayscale: the range `span` (default: the image's own finite range) stretched to
    0..255; NaN and infinities become the bottom of it."""
    lo, hi = span if span is not None else _finite_range(im)
    a = np.asarray(im, dtype=np.float64)
    a = np.nan_to_num(a, nan=lo, posinf=lo, neginf=lo)
    scaled = (np.clip(a, lo, hi) - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.round(scaled).astype(np.uint8))


def _finite_range(im: Image.Image) -> tuple[float, float]:
    """(lowest, highest) finite value of a 32-bit image, read a strip at a time; (0, 0) when there is none."""
    lo, hi = np.inf, -np.inf
    for strip in _strips(im, 1):
        a = np.asarray(strip, dtype=np.float64)
        a = a[np.isfinite(a)]
        if a.size:
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    return (lo, hi) if lo <= hi else (0.0, 0.0)


# Pillow mode -> how a strip of it becomes "L" or "RGB". Any mode not listed goes through Pillow's RGB conversion.
MODE_CONVERTERS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "L": lambda im: im,
    "RGB": lambda im: im,
    "1": lambda im: im.convert("L"),
    "LA": lambda im: _on_white(im, "L"),
    "La": lambda im: _on_white(im, "L"),
    "RGBA": lambda im: _on_white(im, "RGB"),
    "RGBa": lambda im: _on_white(im, "RGB"),
    "PA": lambda im: _on_white(im, "RGB"),
    "P": lambda im: _on_white(im, "RGB") if "transparency" in im.info else im.convert("RGB"),
    "CMYK": lambda im: im.convert("RGB"),
    "I;16": _sixteen_bit,
    "I;16L": _sixteen_bit,
    "I;16B": _sixteen_bit,
    "I;16N": _sixteen_bit,
    "I": _stretch,
    "F": _stretch,
}


def _check_declared(width: int, height: int) -> None:
    """Refuse sizes no model can use and headers that claim absurd sizes, before any pixel is decoded."""
    if width * height > MAX_DECLARED_PIXELS or max(width, height) > MAX_DECLARED_SIDE:
        raise UploadError(f"This image claims to be {width:,}×{height:,} pixels, more than this app accepts "
                          f"({MAX_DECLARED_SIDE:,} pixels per side and {MAX_MEGAPIXELS} "
                          "megapixels at most). It was not opened. Resize it and upload it again.")
    if min(width, height) < MIN_SIDE:
        raise UploadError(f"This image is only {width}×{height} pixels. A model needs at least "
                          f"{MIN_SIDE}×{MIN_SIDE} pixels to see anything: upload a larger picture.")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise UploadError(f"This image is {width}×{height} pixels: a thin strip, not a picture. Crop it to a "
                          f"shape closer to a square (the longer side at most {MAX_ASPECT:g} times the shorter).")


def _open(data: bytes) -> Image.Image:
    if len(data) == 0:
        raise UploadError("The file is empty (0 bytes). Choose an image file.")
    if len(data) > MAX_FILE_BYTES:
        raise UploadError(f"The file is {len(data) / 2**20:.1f} MiB; this app accepts images up to "
                          f"{MAX_FILE_BYTES // 2**20} MiB.")
    try:
        return Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UploadError("This file claims to be so large that it looks like a 'decompression bomb' "
                          "(a small file that would fill the memory when opened). It was not opened.") from e
    except UnidentifiedImageError as e:
        raise UploadError(f"This file is not an image in a supported format ({', '.join(FORMATS)}), whatever "
                          "its name says. Choose a photo or a picture saved in one of those formats.") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise UploadError("This file looks like an image but its header is damaged; it cannot be read.") from e


def _strips(im: Image.Image, factor: int) -> Iterator[Image.Image]:
    """`im` as strips of whole rows (about STRIP_PIXELS each, a multiple of `factor` rows), top to bottom, one copied
    at a time."""
    w, h = im.size
    rows = max(factor, STRIP_PIXELS // w // factor * factor)
    for y in range(0, h, rows):
        yield im.crop((0, y, w, min(h, y + rows)))


def _reduced(im: Image.Image) -> Image.Image:
    """`im` as "L" or "RGB", reduced by a whole factor (box average) so its longer side is under 2·MAX_SIDE:
    converted and reduced a strip at a time, so no full-size copy and no full-size float array ever exists."""
    w, h = im.size
    factor = max(1, max(w, h) // MAX_SIDE)
    convert = MODE_CONVERTERS.get(im.mode, lambda i: i.convert("RGB"))
    if convert is _stretch:
        convert = partial(_stretch, span=_finite_range(im))  # one range for every strip
    out, y = None, 0
    for strip in _strips(im, factor):
        piece = convert(strip)
        if piece.mode not in ("L", "RGB"):
            piece = piece.convert("RGB")
        if factor > 1:
            piece = piece.reduce(factor)
        if out is None:
            out = Image.new(piece.mode, (-(-w // factor), -(-h // factor)))
        out.paste(piece, (0, y // factor))
        y += strip.size[1]
    assert out is not None
    return out


def decode_image(data: bytes) -> DecodedImage:
    """Validate and decode an uploaded file (bytes) into an upright uint8 RGB or grayscale image."""
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # only inside this block, not process-wide
        im = _open(data)
        with im, _ONE_AT_A_TIME:
            fmt, mode, size = str(im.format), im.mode, (int(im.size[0]), int(im.size[1]))
            _check_declared(*size)
            if getattr(im, "is_animated", False):
                notes.append("animated: the first frame is used")
            if fmt == "JPEG" and max(size) > 2 * MAX_SIDE:
                im.draft(im.mode, (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 scale: less memory, faster
            orientation = _orientation(im, notes)
            try:
                im.load()  # the first frame only
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                raise UploadError("This file would decode to far more pixels than it declares; it was refused.") from e
            except (OSError, SyntaxError, ValueError, EOFError) as e:  # Pillow's "image file is truncated", zlib errors
                raise UploadError(f"This {fmt} file is damaged or cut off (truncated): part of the picture is "
                                  "missing. Save or download it again and upload the complete file.") from e
            small = _reduced(im)
    if max(small.size) > MAX_SIDE:
        small.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if orientation in UPRIGHT:
        small = small.transpose(UPRIGHT[orientation])
        notes.append(f"rotated upright (EXIF orientation {orientation})")
    if max(size) > MAX_SIDE:
        w, h = size if orientation not in (5, 6, 7, 8) else size[::-1]  # upright, as the note's "to" size is
        notes.append(f"downscaled from {w}×{h} to {small.size[0]}×{small.size[1]} (longer side at most {MAX_SIDE} "
                     "pixels)")
    pixels = np.asarray(small, dtype=np.uint8).copy()  # (H, W) or (H, W, 3)
    return DecodedImage(pixels, fmt, mode, size, tuple(notes))


def _orientation(im: Image.Image, notes: list[str]) -> int:
    """The EXIF orientation tag (1 = upright; a phone photo taken sideways says 6 or 8), read from the header."""
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is ignored: the pixels themselves decode fine
        notes.append("its EXIF data is damaged and was ignored")
        return 1
    return value if isinstance(value, int) else 1
