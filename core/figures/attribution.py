"""Attribution figures: the image as the learner sees it, the signed map, and the map over the image.

Honest by construction (not Captum's visualizer, which normalizes and clips for you):
- the image is shown un-normalized (pixels in [0, 1] or uint8), grayscale stays grayscale;
- a signed map keeps its sign on one diverging scale centred at 0 (blue negative, white 0, red positive)
  with a colorbar in the map's own units; a map with one sign only (the "positive" and "absolute" views, Grad-CAM
  after its ReLU; the "negative" view) gets a sequential scale from 0 in the same reds (or blues), so no half of
  the colour bar stands for values that cannot occur; the sign choice and the percentile clipping are explicit and
  written in the colorbar title, and an all-zero map says so (`empty_note` says why, in words);
- in the overlay, 0 is transparent, so only evidence tints the image (alpha = the tint's opacity);
- several methods side by side wrap into rows of at most four panels, so each stays readable (about 170 px on a
  1280 px screen) and their titles never run into each other.
Every figure is one dict built by `core.figures.base.figure`.
"""
from __future__ import annotations

import base64
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
# One sign only: DIVERGING's own halves, from white at 0, so a colour means the same value in every view.
POSITIVE = [[0.0, "rgb(247,247,247)"], [0.5, "rgb(244,165,130)"], [1.0, f"rgb({RED})"]]  # 0 .. +limit
NEGATIVE = [[0.0, f"rgb({BLUE})"], [0.5, "rgb(146,197,222)"], [1.0, "rgb(247,247,247)"]]  # -limit .. 0
OVERLAY_POSITIVE = [[0.0, f"rgba({RED},0)"], [1.0, f"rgba({RED},1)"]]
OVERLAY_NEGATIVE = [[0.0, f"rgba({BLUE},1)"], [1.0, f"rgba({BLUE},0)"]]
PER_ROW = 4  # panels per row side by side


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


def scale_kind(z: np.ndarray, view: View) -> str:
    """"positive" (0 .. limit), "negative" (-limit .. 0) or "diverging" (-limit .. limit) for a shown map."""
    if view.sign in ("positive", "absolute") or (view.sign == "both" and (np.asarray(z) >= 0).all()):
        return "positive"
    return "negative" if view.sign == "negative" else "diverging"


def empty_note(values: np.ndarray, view: View, grad_cam_relu: bool | None = None) -> str:
    """Why a map is drawn blank or flat, in plain words ('' when it is not). `grad_cam_relu`: the map is Grad-CAM's
    (True: with the paper's ReLU), None for the pixel methods."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64))
    if v.size and np.ptp(v) == 0 and v.flat[0] != 0:
        return (f"This map has the same value ({v.flat[0]:.3g}) everywhere: it says nothing about where the evidence "
                "is (Grad-CAM's map upsampled from a single position, or a model that ignores the picture).")
    if not np.any(v):
        if grad_cam_relu:
            return ("This map is all zero: no positive evidence for this class at this layer (Grad-CAM keeps only "
                    "positive evidence, as the paper does). Try the ReLU off, to see the negative evidence, or an "
                    "earlier layer.")
        return ("This map is all zero: no pixel changes this class's score here (the model is saturated: its ReLUs "
                "are off or its softmax is certain). Try another class or a method that is not a gradient.")
    z, _ = shown(v, view)
    if not np.any(z):
        other = "negative" if view.sign == "positive" else "positive"
        return (f"Nothing in this map is {view.sign}: all its evidence is {other}. Choose the sign 'both' to see it"
                + (" (Grad-CAM's ReLU already removed the negative evidence)." if grad_cam_relu else "."))
    return ""


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


def _png(rgb: np.ndarray, level: int = 6) -> bytes:
    """(H, W) or (H, W, 3) uint8 -> PNG bytes (lossless: the same pixels; `level`: zlib's effort)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=level)
    return buf.getvalue()


def _picture(image: np.ndarray) -> dict:
    """The image as one trace, placed on a panel's axes by `_on`: made once per figure, however many panels."""
    img = _as_uint8(image)
    if img.ndim == 2:  # grayscale stays grayscale
        return {"type": "heatmap", "z": img, "colorscale": GRAY, "zmin": 0, "zmax": 255, "showscale": False,
                "hovertemplate": "x %{x}, y %{y}: %{z}<extra></extra>"}
    # A colour photo as a PNG the browser decodes natively; as `z` Plotly.js draws it pixel by pixel from the
    # JSON, once per panel. Hover reads each pixel back (RGBA: the alpha is left out). Fast zlib: it only travels.
    source = "data:image/png;base64," + base64.b64encode(_png(img, level=1)).decode("ascii")
    return {"type": "image", "source": source, "hovertemplate": "x %{x}, y %{y}: [%{z[0]}, %{z[1]}, %{z[2]}]"
            "<extra></extra>"}


def _on(trace: dict, axis: str) -> dict:
    return {**trace, "xaxis": f"x{axis}", "yaxis": f"y{axis}"}


SCALES = {  # kind -> (map colours, overlay colours, zmin and zmax as multiples of the limit)
    "diverging": (DIVERGING, OVERLAY, -1.0, 1.0),
    "positive": (POSITIVE, OVERLAY_POSITIVE, 0.0, 1.0),
    "negative": (NEGATIVE, OVERLAY_NEGATIVE, -1.0, 0.0),
}


def _map_trace(z: np.ndarray, limit: float, axis: str, overlay: bool, view: View, colorbar: dict | None,
               kind: str = "diverging") -> dict:
    colours, tint, lo, hi = SCALES[kind]
    trace = {"type": "heatmap", "z": z, "zmin": lo * limit, "zmax": hi * limit,
             "colorscale": tint if overlay else colours, "xaxis": f"x{axis}", "yaxis": f"y{axis}",
             "hovertemplate": "x %{x}, y %{y}: %{z:.3g}<extra></extra>", "showscale": colorbar is not None}
    if kind == "diverging":
        trace["zmid"] = 0.0
    if overlay:
        trace["opacity"] = view.alpha
    if colorbar is not None:
        trace["colorbar"] = colorbar
    return trace


def _axes(n: int, gap: float = 0.04, right: float = 0.9, per_row: int | None = None,
          row_gap: float = 0.0) -> tuple[dict, list[tuple[float, float]]]:
    """n square image panels (reversed y, no ticks), `per_row` to a row (default: all in one); returns the layout
    axes and each panel's top centre (x, y in paper coordinates), where its title goes."""
    cols = per_row or n
    rows = -(-n // cols)
    w = (right - gap * (cols - 1)) / cols
    h = (1 - row_gap * (rows - 1)) / rows
    layout, tops = {}, []
    for i in range(n):
        s = "" if i == 0 else str(i + 1)
        r, c = divmod(i, cols)
        x0, y1 = c * (w + gap), 1 - r * (h + row_gap)
        layout[f"xaxis{s}"] = {"visible": False, "domain": [x0, x0 + w], "anchor": f"y{s}", "constrain": "domain"}
        layout[f"yaxis{s}"] = {"visible": False, "autorange": "reversed", "scaleanchor": f"x{s}",
                               "anchor": f"x{s}", "constrain": "domain", "domain": [max(0.0, y1 - h), y1]}
        tops.append((x0 + w / 2, y1))
    return layout, tops


def _titles(titles: Sequence[str], tops: Sequence[tuple[float, float]]) -> list[dict]:
    return [{"text": t, "x": x, "y": y, "xref": "paper", "yref": "paper", "showarrow": False,
             "xanchor": "center", "yanchor": "bottom", "font": {"size": 12}} for t, (x, y) in zip(titles, tops)]


def _colorbar(title: str, x: float = 0.92) -> dict:
    return {"title": {"text": title, "side": "right"}, "thickness": 12, "len": 0.9, "x": x}


def explanation(image: np.ndarray, values: np.ndarray, view: View, units: str = "attribution",
                title: str = "", height: int = 300) -> go.Figure:
    """Original | attribution map | overlay, for one (H, W) map of one image (H, W[, 3])."""
    picture = _picture(image)
    z, limit = shown(values, view)
    kind = scale_kind(z, view)
    axes, tops = _axes(3)
    legend = (f"{units}<br>{view.sign}: all zero" if not np.any(z)
              else f"{units}<br>{view.sign}, clipped at<br>p{view.clip:g} = {limit:.3g}")
    data = [_on(picture, ""), _map_trace(z, limit, "2", False, view, _colorbar(legend), kind),
            _on(picture, "3"), _map_trace(z, limit, "3", True, view, None, kind)]
    layout = {**axes, "height": height, "margin": {"l": 10, "r": 10, "t": 50 if title else 30, "b": 10},
              "annotations": _titles(["image (as the model sees it, un-normalized)", "attribution",
                                      f"overlay (alpha {view.alpha:.2f})"], tops),
              "title": {"text": title, "font": {"size": 14}} if title else None}
    return figure(data, {k: v for k, v in layout.items() if v is not None})


def side_by_side(image: np.ndarray, maps: Sequence[tuple[str, np.ndarray]], view: View,
                 row_height: int = 200, per_row: int = PER_ROW) -> go.Figure:
    """The image, then one overlay per method, `per_row` panels to a row; each map is scaled to its own clip limit
    (methods' units differ), so the shared scale runs 0..1 (-1..1 for signed maps) in fractions of that limit."""
    picture = _picture(image)
    n = len(maps) + 1
    rows = -(-n // per_row)
    title_px, margin_px, modebar_px = 24, 10, 20  # the first row's titles sit in the top margin, below Plotly's buttons
    plot_px = rows * (row_height + title_px) - title_px
    axes, tops = _axes(n, gap=0.025, right=0.92, per_row=min(n, per_row), row_gap=title_px / plot_px)
    kind = {"both": "diverging", "negative": "negative"}.get(view.sign, "positive")
    data = [_on(picture, "")]
    for i, (_, values) in enumerate(maps):
        z, limit = shown(values, view)
        s = str(i + 2)
        bar = _colorbar(f"each map ÷ its own<br>p{view.clip:g} limit<br>({view.sign})", 0.935) if i == 0 else None
        data += [_on(picture, s), _map_trace(z / limit, 1.0, s, True, view, bar, kind)]
    layout = {**axes, "height": plot_px + title_px + modebar_px + 2 * margin_px,
              "margin": {"l": margin_px, "r": margin_px, "t": title_px + modebar_px + margin_px, "b": margin_px},
              "annotations": _titles(["image"] + [t for t, _ in maps], tops)}
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
    """The (H, W) map as a PNG in the same colours as the figure (sign, clipping and scale applied)."""
    z, limit = shown(values, view)
    colours, _, lo, hi = SCALES[scale_kind(z, view)]
    t = (z / limit - lo) / (hi - lo)  # (H, W) in [0, 1] along the scale the figure uses
    stops = np.array([s for s, _ in colours])
    rgb = np.array([[int(c) for c in colour[4:-1].split(",")] for _, colour in colours], dtype=np.float32)
    out = np.stack([np.interp(t, stops, rgb[:, i]) for i in range(3)], -1)  # (H, W, 3)
    return _png(np.round(out).astype(np.uint8))
