"""Timings of the Convolutions and Draw-a-digit pages (CPU targets from issue 4).

`rows()` trains a tiny CNNDemo and Net2 (1 epoch, hidden 16, bundled sample) into the store under
$PTCE_HOME if they are not there yet, then measures:
- the Convolutions page rerun with that stored run (AppTest, warm caches, each tab);
- a feature-map + convolution-arithmetic update for a new test image: the work the page's
  fragment does, figures serialized to JSON as Streamlit sends them;
- a drawing -> prediction (both models) + saliency (both) + feature maps: PNG decode as the canvas
  result does it, preprocessing, models, figures serialized.

Run alone: `python -m bench.conv_pages`.
"""
from __future__ import annotations

import base64
import io
import os
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path

from bench.timing import median_ms

os.environ.setdefault("PTCE_OFFLINE", "1")
os.environ.setdefault("PTCE_HOME", tempfile.mkdtemp(prefix="ptce-bench-"))

import numpy as np
import plotly.io as pio
import torch
from PIL import Image, ImageDraw
from plotly.tools import return_figure_from_figure_or_data

from core.attribution.methods import AttributionSpec, attribute
from core.config import Paths
from core.data.digits import downsample_for_display, preprocess_canvas
from core.data.mnist import load_mnist, to_input
from core.data.normalization import MNIST_NORM
from core.figures import conv as conv_figures
from core.figures.images import image, mosaic, probability_bars
from core.figures.images import steps as steps_figure
from core.models import conv_arithmetic
from core.models.inspection import activations, predict_proba
from core.models.registry import ModelConfig
from core.runs.store import RunStore
from core.training.config import TrainConfig
from core.training.loop import fit, load_model

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(arch: str) -> TrainConfig:
    """The pages' default controls with hidden=16 and epochs=1."""
    return TrainConfig(model=ModelConfig(arch=arch, hidden=16), optimizer="adam", lr=3e-3, batch_size=256,
                       epochs=1, seed=0, data_source="mnist-sample")


def _send(fig) -> int:
    """What st.plotly_chart does with a figure: to_dict (validated) and JSON."""
    return len(pio.to_json(return_figure_from_figure_or_data(fig, validate_figure=True), validate=False))


_median_ms = partial(median_ms, warmup=2)  # this module's warm-up calls


def feature_update(model: torch.nn.Sequential, x: torch.Tensor, ch: int, r: int, c: int) -> None:
    """The Convolutions page's fragment for one new image: maps of six layers + conv2 arithmetic."""
    acts = dict(activations(model, x))
    _send(image(x[0, 0].numpy(), "input", 200, show_scale=False))
    for name in ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2"):
        a = acts[name][0].numpy()
        _send(mosaic(a, 4 if a.shape[0] == 16 else 8, title=name, tile_label="channel", height=260))
    inp, out = acts["pool1"][0], acts["conv2"][0]
    step = conv_arithmetic.conv_at(inp, model.conv2, ch, r, c)
    _send(image(inp[0].numpy(), "in", 230, diverging=True, show_scale=False, box=(0, 3, 0, 3)))
    _send(image(out[ch].numpy(), "out", 230, diverging=True, show_scale=False, box=(r, r + 1, c, c + 1)))
    _send(conv_figures.arithmetic(step.patch[0], step.kernel[0], step.products[0], 0))
    _send(conv_figures.channel_sums(step.channel_sums, step.bias, step.value))
    assert abs(step.value - float(out[ch, r, c])) < 1e-4


def drawing_png(seed: int) -> str:
    """A data URL like the canvas sends: a random 3-segment stroke on 280×280."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    pts = [tuple(int(v) for v in rng.integers(40, 240, size=2)) for _ in range(4)]
    ImageDraw.Draw(img).line(pts, fill=(0, 0, 0, 255), width=20, joint="curve")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def draw_update(models: dict[str, torch.nn.Sequential], url: str) -> None:
    """Drawing -> MNIST steps -> both predictions + saliency -> CNN feature maps, figures sent."""
    rgba = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(";base64,", 1)[1]))))  # as CanvasResult
    steps = preprocess_canvas(rgba)
    assert steps is not None
    _send(steps_figure([("gray", downsample_for_display(steps.gray)),
                        ("crop", downsample_for_display(steps.cropped)), ("scaled", steps.scaled),
                        ("centred", steps.centred), ("normalized", steps.normalized())]))
    for model in models.values():
        probs = predict_proba(model, steps.tensor)[0].numpy()
        _send(probability_bars(probs, "p", height=230, show_values=True))
        sal = attribute(model, torch.from_numpy(steps.centred)[None, None], AttributionSpec("saliency"), MNIST_NORM)
        _send(conv_figures.saliency(sal.map2d(), sal.limit, "s"))
    acts = dict(activations(models["cnn"], steps.tensor))
    for name in ("relu1", "relu2"):
        _send(mosaic(acts[name][0].numpy(), 8, title=name, tile_label="channel", height=300))


def page_rerun_ms(n: int = 5) -> dict[str, float]:
    """Median AppTest rerun of the Convolutions page per tab, with the tiny stored run selected."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "convolutions.py"), default_timeout=120)
    at.run()
    at.select_slider(key="conv_hidden").set_value(16)
    at.slider(key="conv_epochs").set_value(1)
    at.run()
    if at.exception or not any("loaded from the store" in str(s.value) for s in at.success):
        raise RuntimeError("the Convolutions page did not load the stored run")
    out = {}
    for tab in ("Shape flow", "Filters", "Feature maps & arithmetic", "Conv sandbox", "Mistakes"):
        at.session_state["conv_tab"] = tab
        at.run()
        out[tab] = _median_ms(at.run, n, warmup=1)
    return out


def rows() -> list[dict]:
    paths = Paths.from_env()
    store = RunStore(paths.runs)
    data = load_mnist(paths, allow_download=False)
    cfgs = {arch: tiny_config(arch) for arch in ("net2", "cnn")}
    if data.source != "mnist-sample":  # the page's controls use the active data source
        cfgs = {a: replace(c, data_source=data.source) for a, c in cfgs.items()}
    runs = {a: store.get_or_train(c, lambda c=c: fit(c, data))[0] for a, c in cfgs.items()}
    models = {a: load_model(r, torch.device("cpu")) for a, r in runs.items()}  # read-only, like the app's

    reruns = page_rerun_ms()
    x_test = to_input(data.test.images[:64])  # (64, 1, 28, 28)
    it = iter(range(10**6))

    def one_image() -> None:
        i = next(it)
        feature_update(models["cnn"], x_test[i % 64:i % 64 + 1], i % 32, i % 14, (3 * i) % 14)

    urls = [drawing_png(s) for s in range(24)]
    jt = iter(range(10**6))
    out = [
        dict(name="Convolutions page: rerun with a stored run (AppTest, default tab 'Shape flow')",
             value=round(reruns["Shape flow"], 1), unit="ms", target="< 400 ms"),
        dict(name="Convolutions page: rerun with a stored run, slowest tab ("
                  + max(reruns, key=reruns.get) + ")", value=round(max(reruns.values()), 1), unit="ms",
             target="< 400 ms"),
        dict(name="Convolutions page: feature maps (6 layers) + conv arithmetic for a new image, figures serialized",
             value=round(_median_ms(one_image, 20), 1), unit="ms", target="< 150 ms"),
        dict(name="Draw a digit: drawing -> preprocessing -> Net2 + CNN prediction + saliency + feature maps",
             value=round(_median_ms(lambda: draw_update(models, urls[next(jt) % len(urls)]), 20), 1), unit="ms",
             target="< 200 ms"),
    ]
    device = f"CPU · {torch.get_num_threads()} threads"
    return [{**r, "device": device} for r in out]


if __name__ == "__main__":
    for r in rows():
        print(f"{r['value']:8.1f} {r['unit']}  (target {r['target']})  {r['name']}")
