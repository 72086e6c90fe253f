"""An uploaded file -> a sensible uint8 image, or an UploadError saying in plain words what is wrong.

Validation is by content, never by file name: Pillow opens the bytes with a format allowlist.
Order matters, so nothing large is ever decoded by mistake:
1. size of the file itself (empty, one byte, over MAX_FILE_BYTES);
2. open (reads the header only) with Pillow's DecompressionBombWarning raised as an error, then
   the app's own limits on the *declared* size (pixels per side, total pixels, aspect ratio);
3. decode the first frame only (JPEG at a reduced scale when it is much larger than MAX_SIDE);
   a truncated file fails here (LOAD_TRUNCATED_IMAGES is never set);
4. EXIF orientation applied, the mode turned into RGB or grayscale (one converter per mode),
   the longer side reduced to MAX_SIDE.
Pillow's process-wide settings (MAX_IMAGE_PIXELS, LOAD_TRUNCATED_IMAGES) are never changed.
"""
from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InputError

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # what Pillow may open; everything else is refused
MAX_FILE_BYTES = 10 << 20  # 10 MiB: the image widget's own cap (a phone photo is 2-8 MB)
MAX_DECLARED_SIDE = 10_000  # pixels per side the header may claim (a 6000×4000 photo passes)
MAX_DECLARED_PIXELS = 50_000_000  # width × height the header may claim (about 190 MB as RGBA)
MAX_SIDE = 2048  # a larger image is downscaled so its longer side is this
MIN_SIDE = 8  # smaller than this per side: nothing a model can use
MAX_ASPECT = 20.0  # longer side / shorter side; beyond this a strip, not a picture


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


def _stretch(im: Image.Image) -> Image.Image:
    """32-bit integer or float grayscale: its own range stretched to 0..255."""
    a = np.asarray(im, dtype=np.float64)
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    scaled = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.round(scaled).astype(np.uint8))


# Pillow mode -> how it becomes "L" or "RGB". Any mode not listed goes through Pillow's RGB conversion.
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
                          f"({MAX_DECLARED_SIDE:,} pixels per side and {MAX_DECLARED_PIXELS // 1_000_000} "
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


def decode_image(data: bytes) -> DecodedImage:
    """Validate and decode an uploaded file (bytes) into an upright uint8 RGB or grayscale image."""
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # only inside this block, not process-wide
        im = _open(data)
        with im:
            fmt, mode, size = str(im.format), im.mode, (int(im.size[0]), int(im.size[1]))
            _check_declared(*size)
            if getattr(im, "is_animated", False):
                notes.append("animated: the first frame is used")
            if fmt == "JPEG" and max(size) > 2 * MAX_SIDE:
                im.draft(im.mode, (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 scale: less memory, faster
            try:
                im.load()  # the first frame only
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                raise UploadError("This file would decode to far more pixels than it declares; it was refused.") from e
            except (OSError, SyntaxError, ValueError, EOFError) as e:  # Pillow's "image file is truncated", zlib errors
                raise UploadError(f"This {fmt} file is damaged or cut off (truncated): part of the picture is "
                                  "missing. Save or download it again and upload the complete file.") from e
            upright = _exif_upright(im, notes)
            converted = MODE_CONVERTERS.get(upright.mode, lambda i: i.convert("RGB"))(upright)
    if converted.mode not in ("L", "RGB"):
        converted = converted.convert("RGB")
    if max(converted.size) > MAX_SIDE:
        before = converted.size
        converted = converted.copy()
        converted.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
        notes.append(f"downscaled from {before[0]}×{before[1]} to {converted.size[0]}×{converted.size[1]} "
                     f"(longer side at most {MAX_SIDE} pixels)")
    pixels = np.asarray(converted, dtype=np.uint8).copy()  # (H, W) or (H, W, 3)
    return DecodedImage(pixels, fmt, mode, size, tuple(notes))


def _exif_upright(im: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the EXIF orientation tag (a phone photo taken sideways reaches the model upright)."""
    try:
        orientation = im.getexif().get(0x0112, 1)
        upright = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - a broken EXIF block is ignored: the pixels themselves decoded fine
        notes.append("its EXIF data is damaged and was ignored")
        return im
    if orientation not in (1, None):
        notes.append(f"rotated upright (EXIF orientation {orientation})")
    return upright if upright is not None else im
