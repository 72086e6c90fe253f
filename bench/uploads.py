"""`python -m bench --only uploads`: peak memory of decoding small files that decode huge (7000×7000 PNGs of
135-235 KB: gray + alpha, RGBA, 16-bit gray), one at a time and four at once, each in a fresh process
(tools/big_images.py).

The baseline, measured side by side, is the full-size path the app used before (issue 18), step for step: the whole
image decoded, EXIF-transposed (a copy), then converted at full size (`_on_white`'s float32 gray + alpha,
`_sixteen_bit`'s float64, Pillow's RGBA composite over a white page), then downscaled, with no limit on decodes at
once. It is kept here,
not in the app, as the reference the strip-wise decoder (core.data.uploads) is compared with.
"""
from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from core.data.uploads import MAX_SIDE


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray


def full_size_decode(data: bytes) -> Decoded:
    """The reference: convert at full size, then downscale."""
    im = Image.open(io.BytesIO(data))
    im.load()
    im = ImageOps.exif_transpose(im)  # a full-size copy, as before
    if im.mode == "LA":
        la = np.asarray(im.convert("LA"), dtype=np.float32)  # (H, W, 2)
        g, a = la[..., 0], la[..., 1] / 255.0
        im = Image.fromarray(np.round(g * a + 255.0 * (1.0 - a)).astype(np.uint8))
    elif im.mode == "RGBA":
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    elif im.mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.round(np.clip(a, 0, 65535) / 257.0).astype(np.uint8))
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return Decoded(np.asarray(im))


def rows() -> list[dict]:
    from bench.timing import row
    from core.data.uploads import MAX_MEGAPIXELS
    from tools.big_images import SIDE, decode_peak, write_huge_pngs

    files = write_huge_pngs(Path(tempfile.mkdtemp(prefix="ptce-bench-uploads-")))
    before = "bench.uploads:full_size_decode"
    out = []
    for mode, path in files.items():
        new, old = decode_peak([path])["added_mib"], decode_peak([path], decoder=before)["added_mib"]
        out.append(row(f"Upload {SIDE}×{SIDE} {mode} PNG ({path.stat().st_size / 1000:.0f} KB): peak memory added",
                       new, "MiB", baseline=round(old, 1), ratio=round(old / new, 1),
                       note=f"full-size conversion before: {old:.0f} MiB; limit {MAX_MEGAPIXELS} megapixels"))
    four = [files["LA"], files["RGBA"], files["I;16"], files["RGBA"]]
    new, old = decode_peak(four, at_once=4)["added_mib"], decode_peak(four, at_once=4, decoder=before)["added_mib"]
    out.append(row("Upload four of them at once (LA, RGBA, I;16, RGBA): peak memory added", new, "MiB",
                   baseline=round(old, 1), ratio=round(old / new, 1),
                   note="one decode at a time per process; before: all four converting together"))
    return out
