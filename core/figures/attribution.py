"""Attribution figures: the image as the learner sees it, the signed map, and the map over the image.

Honest by construction (not Captum's visualizer, which normalizes and clips for you):
- the image is shown un-normalized (pixels in [0, 1] or uint8), grayscale stays grayscale;
- the map keeps its sign on one diverging scale centred at 0 (blue negative, white 0, red positive)
  with a colorbar in the map's own units; the sign choice (positive / negative / absolute) and the
  percentile clipping are explicit and written in the colorbar title;
- in the overlay, 0 is transparent, so only evidence tints the image (alpha = the tint's opacity).
Every figure is one dict built by `core.figures.base.figure`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from core.figures.base import figure

SIGNS = ("both", "positive", "negative", "absolute")
BLUE, RED = "33,102,172", "178,24,43"
DIVERGING = [[0.0, f"rgb({BLUE})"], [0.25, "rgb(146,197,222)"], [0.5, "rgb(247,247,247)"],
             [0.75, "rgb(244,165,130)"], [1.0, f"rgb({RED})"]]
GRAY = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(255,255,255)"]]  # pixel value 0 black .. 255 white, linear
OVERLAY = [[0.0, f"rgba({BLUE},1)"], [0.5, f"rgba({BLUE},0)"], [0.5, f"rgba({RED},0)"], [1.0, f"rgba({RED},1)"]]


@dataclass(frozen=True)
class View:
    """How a map is shown (changing it never recomputes the attribution)."""

    sign: str = "both"  # one of SIGNS
    clip: float = 99.0  # percentile of |map| that becomes the colour limit (100 = the maximum)
    alpha: float = 0.6  # overlay opacity

    def __post_init__(self) -> None:
        if self.sign not in SIGNS:
            raise ValueError(f"sign must be one of {SIGNS}")
        if not 50.0 <= self.clip <= 100.0 or not 0.0 <= self.alpha <= 1.0:
            raise ValueError("clip is a percentile in [50, 100], alpha an opacity in [0, 1]")


def shown(values: np.ndarray, view: View) -> tuple[np.ndarray, float]:
    """(H, W) map -> (what is drawn, colour limit): the sign chosen, then clipped at the percentile of |map|."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float32))
    v = {"both": v, "positive": np.maximum(v, 0), "negative": np.minimum(v, 0), "absolute": np.abs(v)}[view.sign]
    mags = np.abs(v)
    limit = float(np.percentile(mags[mags > 0], view.clip)) if (mags > 0).any() else 1.0
    limit = limit if limit > 0 else 1.0
    return np.clip(v, -limit, limit), limit


def _as_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W) / (H, W, 3) / (C, H, W) in [0, 1] or uint8 -> (H, W) or (H, W, 3) uint8."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # (C, H, W) -> (H, W, C)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype != np.uint8:
        a = np.round(np.clip(a.astype(np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    return a


def _image_traces(img: np.ndarray, axis: str) -> list[dict]:
    xy = {"xaxis": f"x{axis}", "yaxis": f"y{axis}"}
    if img.ndim == 2:  # grayscale stays grayscale
        return [{"type": "heatmap", "z": img, "colorscale": GRAY, "zmin": 0, "zmax": 255, "showscale": False,
                 "hovertemplate": "x %{x}, y %{y}: %{z}<extra></extra>", **xy}]
    return [{"type": "image", "z": img, "hovertemplate": "x %{x}, y %{y}: %{z}<extra></extra>", **xy}]


def _map_trace(z: np.ndarray, limit: float, axis: str, overlay: bool, view: View, colorbar: dict | None) -> dict:
    trace = {"type": "heatmap", "z": z, "zmin": -limit, "zmax": limit, "zmid": 0.0,
             "colorscale": OVERLAY if overlay else DIVERGING, "xaxis": f"x{axis}", "yaxis": f"y{axis}",
             "hovertemplate": "x %{x}, y %{y}: %{z:.3g}<extra></extra>", "showscale": colorbar is not None}
    if overlay:
        trace["opacity"] = view.alpha
    if colorbar is not None:
        trace["colorbar"] = colorbar
    return trace


def _axes(n: int, gap: float = 0.04, right: float = 0.9) -> tuple[dict, list[float]]:
    """n square image panels side by side (reversed y, no ticks); returns the layout axes and panel centres."""
    w = (right - gap * (n - 1)) / n
    layout, centres = {}, []
    for i in range(n):
        s = "" if i == 0 else str(i + 1)
        x0 = i * (w + gap)
        layout[f"xaxis{s}"] = {"visible": False, "domain": [x0, x0 + w], "anchor": f"y{s}", "constrain": "domain"}
        layout[f"yaxis{s}"] = {"visible": False, "autorange": "reversed", "scaleanchor": f"x{s}",
                               "anchor": f"x{s}", "constrain": "domain"}
        centres.append(x0 + w / 2)
    return layout, centres


def _titles(titles: Sequence[str], centres: Sequence[float]) -> list[dict]:
    return [{"text": t, "x": x, "y": 1.0, "xref": "paper", "yref": "paper", "showarrow": False,
             "xanchor": "center", "yanchor": "bottom", "font": {"size": 12}} for t, x in zip(titles, centres)]


def _colorbar(title: str) -> dict:
    return {"title": {"text": title, "side": "right"}, "thickness": 12, "len": 0.9, "x": 0.92}


def explanation(image: np.ndarray, values: np.ndarray, view: View, units: str = "attribution",
                title: str = "", height: int = 300) -> go.Figure:
    """Original | attribution map | overlay, for one (H, W) map of one image (H, W[, 3])."""
    img = _as_uint8(image)
    z, limit = shown(values, view)
    axes, centres = _axes(3)
    legend = f"{units}<br>{view.sign}, clipped at<br>p{view.clip:g} = {limit:.3g}"
    data = (_image_traces(img, "")
            + [_map_trace(z, limit, "2", False, view, _colorbar(legend))]
            + _image_traces(img, "3") + [_map_trace(z, limit, "3", True, view, None)])
    layout = {**axes, "height": height, "margin": {"l": 10, "r": 10, "t": 50 if title else 30, "b": 10},
              "annotations": _titles(["image (as the model sees it, un-normalized)", "attribution",
                                      f"overlay (alpha {view.alpha:.2f})"], centres),
              "title": {"text": title, "font": {"size": 14}} if title else None}
    return figure(data, {k: v for k, v in layout.items() if v is not None})


def side_by_side(image: np.ndarray, maps: Sequence[tuple[str, np.ndarray]], view: View,
                 height: int = 280) -> go.Figure:
    """The image, then one overlay per method; each map is scaled to its own clip limit (methods' units differ)."""
    img = _as_uint8(image)
    axes, centres = _axes(len(maps) + 1)
    data = _image_traces(img, "")
    for i, (_, values) in enumerate(maps):
        z, limit = shown(values, view)
        s = str(i + 2)
        bar = _colorbar(f"each map ÷ its own<br>p{view.clip:g} limit<br>({view.sign})") if i == 0 else None
        data += _image_traces(img, s) + [_map_trace(z / limit, 1.0, s, True, view, bar)]
    layout = {**axes, "height": height, "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
              "annotations": _titles(["image"] + [t for t, _ in maps], centres)}
    return figure(data, layout)


def top_classes(top: Sequence[tuple[int, float]], names: Sequence[str] | None = None, target: int | None = None,
                height: int = 220) -> go.Figure:
    """Top-k predictions as horizontal bars (most probable on top); the explained class highlighted."""
    labels = [names[c] if names is not None and c < len(names) else str(c) for c, _ in top]
    colours = ["#d62728" if c == target else "#1f77b4" for c, _ in top]
    trace = {"type": "bar", "orientation": "h", "x": [100 * p for _, p in top], "y": labels,
             "marker": {"color": colours}, "text": [f"{100 * p:.1f}%" for _, p in top], "textposition": "auto",
             "hovertemplate": "%{y}: %{x:.1f}%<extra></extra>"}
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 10, "b": 30},
              "xaxis": {"title": {"text": "probability (%)"}, "range": [0, 100]},
              "yaxis": {"autorange": "reversed", "type": "category", "automargin": True}}
    return figure([trace], layout)


def attribution_png(values: np.ndarray, view: View) -> bytes:
    """The (H, W) map as a PNG in the same diverging colours as the figure (sign and clipping applied)."""
    import io

    from PIL import Image

    z, limit = shown(values, view)
    t = (z / limit + 1.0) / 2.0  # (H, W) in [0, 1], 0.5 = zero
    stops = np.array([s for s, _ in DIVERGING])
    rgb = np.array([[int(c) for c in colour[4:-1].split(",")] for _, colour in DIVERGING], dtype=np.float32)
    out = np.stack([np.interp(t, stops, rgb[:, i]) for i in range(3)], -1)  # (H, W, 3)
    buf = io.BytesIO()
    Image.fromarray(np.round(out).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
