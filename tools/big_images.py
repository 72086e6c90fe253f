"""Small files that decode huge, and the peak memory of decoding them: what the upload tests and the bench share.

`huge_png(mode)` is a 7000×7000 PNG of 135-235 KB (a drawing on an empty page compresses ~1000:1) in one of the modes
that once took 1-1.5 GB to decode through float conversions: gray + alpha ("LA"), "RGBA" and 16-bit gray ("I;16").
`decode_peak(files, at_once)` decodes them with core.data.uploads.decode_image (or another decoder) in a fresh
process (so the peak is this decode's, not the test runner's), `at_once` threads together, and returns the growth of
the process's peak resident memory (VmHWM) over what it held before, in MiB (Linux: /proc). The caller's memory is
not touched. `python -m tools.big_images` prints the figures; `python -m bench --only uploads` compares.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SIDE = 7000
MODES = ("LA", "RGBA", "I;16")


def huge_png(mode: str, side: int = SIDE) -> bytes:
    """A side×side PNG in `mode`: a dark ring and a bar on a transparent (or white) page."""
    base = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(base)
    draw.ellipse((side // 4, side // 4, 3 * side // 4, 3 * side // 4), outline=255, width=side // 40)
    draw.rectangle((side // 10, side // 2 - side // 80, 9 * side // 10, side // 2 + side // 80), fill=255)
    if mode == "LA":
        im = Image.merge("LA", (Image.new("L", base.size, 20), base))  # dark ink where alpha is set
    elif mode == "RGBA":
        im = Image.merge("RGBA", (Image.new("L", base.size, 200), Image.new("L", base.size, 30), base, base))
    elif mode == "I;16":
        im = base.point(lambda v: 255 - v).convert("I").point(lambda v: v * 257).convert("I;16")
    else:
        raise ValueError(f"no huge PNG of mode {mode!r}")
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


_CHILD = r"""
import importlib, json, sys, threading
from pathlib import Path
module, name = sys.argv[1].split(":")
decode = getattr(importlib.import_module(module), name)

def hwm():
    fields = dict(l.split(":", 1) for l in Path("/proc/self/status").read_text().splitlines() if ":" in l)
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024

files = [Path(p).read_bytes() for p in sys.argv[3:]]
at_once = int(sys.argv[2])
before = hwm()[1]
shapes = []
def one(data):
    shapes.append(decode(data).pixels.shape)
threads = [threading.Thread(target=one, args=(files[i % len(files)],)) for i in range(at_once)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps({"added_mib": hwm()[0] - before, "shapes": shapes}))
"""


def decode_peak(files: list[Path], at_once: int = 1, decoder: str = "core.data.uploads:decode_image") -> dict:
    """{"added_mib": peak resident growth while decoding, "shapes": decoded shapes} of decoding `files` (cycled)
    `at_once` threads together in a fresh process, with `decoder` ("module:function", returning an object with
    `.pixels`; run from this repository's root)."""
    done = subprocess.run([sys.executable, "-c", _CHILD, decoder, str(at_once), *map(str, files)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_huge_pngs(folder: Path) -> dict[str, Path]:
    """The three huge PNGs written into `folder`: {mode: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for mode in MODES:
        out[mode] = folder / f"huge-{mode.replace(';', '')}.png"
        out[mode].write_bytes(huge_png(mode))
    return out


if __name__ == "__main__":
    import tempfile

    paths = write_huge_pngs(Path(tempfile.mkdtemp(prefix="huge-png-")))
    for mode, path in paths.items():
        print(mode, f"{path.stat().st_size / 1000:.0f} KB", decode_peak([path]))
    print("four at once", decode_peak(list(paths.values()) + [paths["RGBA"]], at_once=4))
