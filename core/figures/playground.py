"""Playground figures: the output over the input plane with the data points, the network as a diagram of small
heatmaps (each neuron's output over the plane) joined by edges sized and coloured by weight or gradient, one neuron
enlarged, and the train / test loss per epoch.

Signed values use the one diverging scale (blue negative, white 0, red positive): an output's sign is its class, so
class +1 is red and -1 blue on the points too. Each neuron tile, like TFP's, is the same plane as the big output
picture, shrunk."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.figures.base import DIVERGING, MUTED, ROLE, diverging, figure, heading, margin, top_legend
from core.fmt import num
from core.lessons.playground.config import ACTIVATION_LABELS, DOMAIN, FEATURES, PlaygroundConfig, View
from core.lessons.playground.probe import Look

THUMB = 20  # a neuron tile's cells per side (TFP: 10): every third point of the 60 × 60 grid
TILE_LEVELS = 100  # tiles are sent as int8 in [-100, 100] of their colour range: a quarter of float32's bytes
GAP = -TILE_LEVELS - 1  # the int8 between tiles, transparent in TILE_COLOURS
# DIVERGING over [-TILE_LEVELS, TILE_LEVELS], with GAP (just below) fully transparent
TILE_COLOURS = [[0.0, "rgba(255, 255, 255, 0)"]] + [
    [round((1 + s * 2 * TILE_LEVELS) / (2 * TILE_LEVELS + 1), 6), c] for s, c in DIVERGING]
COL = 2.4  # diagram units between layer columns (a tile is 1 unit wide)
ROW = 1.3  # between neurons of a layer
EDGE_WIDTHS = (0.5, 1.2, 2.2, 3.4, 4.8, 6.5)  # px, by the edge's share of the largest |value|
PLANE_AXIS = {"range": [-DOMAIN, DOMAIN], "dtick": 2, "zeroline": False, "constrain": "domain"}
ONE_COLOUR = [[0, ROLE["selected"]], [1, ROLE["selected"]]]


def node_name(layer: int, index: int, cfg: PlaygroundConfig) -> str:
    """'x₁²' (an input), 'h2.3' (hidden layer 2, neuron 3, counting from 1), 'output'."""
    if layer == 0:
        return FEATURES[cfg.features[index]].label
    if layer == len(cfg.sizes) - 1:
        return "output"
    return f"h{layer}.{index + 1}"


def _points(xy: np.ndarray, y: np.ndarray, cfg: PlaygroundConfig, name: str, outline: str,
            size: float = 6) -> list[dict]:
    """Scatter traces of labelled points: one per class (its colour) for classification, coloured by value for
    regression; `outline` tells training (white) from test (black) points. Regression's 1,200 points are drawn
    smaller, or they hide the picture."""
    if cfg.points > 500:
        size *= 0.7
    line = {"color": outline, "width": 1.2 if cfg.points <= 500 else 0.7}
    if cfg.problem == "regression":
        return [{"type": "scatter", "x": xy[:, 0], "y": xy[:, 1], "mode": "markers", "name": name,
                 "marker": {"size": size, "line": line, "color": y, "colorscale": DIVERGING, "cmin": -1, "cmax": 1},
                 "hovertemplate": f"{name}: x₁ %{{x:.2f}}, x₂ %{{y:.2f}}, value %{{marker.color:.2f}}<extra></extra>"}]
    out = []
    for label, sign, colour in (("+1", 1, ROLE["positive"]), ("−1", -1, ROLE["negative"])):
        pick = (y > 0) if sign > 0 else (y <= 0)
        out.append({"type": "scatter", "x": xy[pick, 0], "y": xy[pick, 1], "mode": "markers",
                    "name": f"{name} {label}", "marker": {"size": size, "line": line, "color": colour},
                    "hovertemplate": f"{name}, class {label}: x₁ %{{x:.2f}}, x₂ %{{y:.2f}}<extra></extra>"})
    return out


def boundary(look: Look, cfg: PlaygroundConfig, view: View, train: tuple[np.ndarray, np.ndarray],
             test: tuple[np.ndarray, np.ndarray], title: str = "Output") -> go.Figure:
    """The output over [-6, 6]² (its sign only when discretized) with the training points (white outline) and, when
    shown, the test points (black outline); for classification, the decision boundary (output 0) as a line."""
    z = look.output
    if view.discretize:
        z = np.where(z >= 0, 1.0, -1.0).astype(np.float32)
    t = look.ticks
    data: list[dict] = [{"type": "heatmap", "x": t, "y": t, "z": z, **diverging(1.0), "opacity": 0.8,
                         "zsmooth": False if view.discretize else "best", "showscale": False,
                         "hovertemplate": "x₁ %{x:.2f}, x₂ %{y:.2f}: output %{z:.2f}<extra></extra>"}]
    if cfg.problem == "classification" and not view.discretize and np.nanmin(z) < 0 < np.nanmax(z):
        data.append({"type": "contour", "x": t, "y": t, "z": z, "showscale": False,
                     "contours": {"start": 0, "end": 0, "size": 1, "coloring": "lines"}, "colorscale": ONE_COLOUR,
                     "line": {"width": 1.5}, "hoverinfo": "skip", "name": "boundary (output 0)"})
    data += _points(*train, cfg, "train", "#ffffff")
    if view.show_test:
        data += _points(*test, cfg, "test", "#000000")
    layout = {"title": heading(title), "height": 340, "margin": margin(30, side=4, b=30), "showlegend": False,
              "xaxis": {**PLANE_AXIS, "title": {"text": "x₁"}},
              "yaxis": {**PLANE_AXIS, "title": {"text": "x₂"}, "scaleanchor": "x"}}
    return figure(data, layout)


def _limit(cfg: PlaygroundConfig, layer: int, values: np.ndarray) -> float:
    """The colour range of a layer's tiles: ±1 where the outputs are bounded (tanh, sigmoid, the output), the
    largest |value| of `values` otherwise: a layer's (ReLU, Linear: its tiles compare), a feature's own (inputs)."""
    last = len(cfg.sizes) - 1
    if layer == last or (0 < layer < last and cfg.activation in ("tanh", "sigmoid")):
        return 1.0
    m = float(np.nanmax(np.abs(values))) if values.size else 0.0
    return m if m > 0 else 1.0


def node_xy(cfg: PlaygroundConfig) -> list[list[tuple[float, float]]]:
    """Each neuron's centre in diagram units, by layer: columns COL apart, each layer centred on y = 0."""
    return [[(layer * COL, ((n - 1) / 2 - i) * ROW) for i in range(n)] for layer, n in enumerate(cfg.sizes)]


def network(look: Look, cfg: PlaygroundConfig, view: View, selected: tuple[int, int] | None = None,
            edge: tuple[int, int, int] | None = None, edge_points: bool = True) -> go.Figure:
    """The network: every neuron a small heatmap of its output over the input plane, every edge a line whose width
    is the |value| of its weight (or of ∂loss/∂w, `view.edges`) and whose colour is its sign. Invisible markers on
    the neurons and at the edges' middles carry the hover text and the clicks: a neuron's customdata is [layer,
    index], an edge's [linear layer, neuron, source]. `selected` (a neuron) and `edge` are outlined.
    `edge_points=False` leaves the edges' markers out (a picture redrawn twice a second: up to 384 hover texts
    were a third of its cost)."""
    centres = node_xy(cfg)
    step = max(1, len(look.ticks) // THUMB)
    data: list[dict] = []
    values = look.grads if view.edges == "gradient" else look.weights
    biggest = max((float(np.abs(v).max()) for v in values if v.size), default=0.0) or 1.0
    buckets: dict[tuple[int, bool], tuple[list, list]] = {}
    mid_x, mid_y, mid_text, mid_custom = [], [], [], []
    for layer, (w, grad) in enumerate(zip(look.weights, look.grads)):
        v = values[layer]
        for j, (x1, y1) in enumerate(centres[layer + 1]):
            for i, (x0, y0) in enumerate(centres[layer]):
                share = abs(float(v[j, i])) / biggest
                key = (min(len(EDGE_WIDTHS) - 1, int(share * len(EDGE_WIDTHS))), bool(v[j, i] >= 0))
                xs, ys = buckets.setdefault(key, ([], []))
                xs += [x0 + 0.5, x1 - 0.5, np.nan]  # NaN: a gap between two edges of one trace
                ys += [y0, y1, np.nan]
                if edge_points:
                    mid_x.append((x0 + x1) / 2)
                    mid_y.append((y0 + y1) / 2)
                    mid_custom.append([layer, j, i])
                    mid_text.append(f"{node_name(layer, i, cfg)} → {node_name(layer + 1, j, cfg)}<br>weight "
                                    f"{num(w[j, i])}<br>∂loss/∂w {float(grad[j, i]):.3g}<br>click to type a weight")
    for (width, positive), (xs, ys) in sorted(buckets.items()):
        colour = ROLE["positive"] if positive else ROLE["negative"]
        # as arrays: copying figures walks a list element by element (a 6 x 8 network has ~2,000 coordinates)
        data.append({"type": "scatter", "x": np.array(xs), "y": np.array(ys), "mode": "lines", "hoverinfo": "skip",
                     "showlegend": False,
                     "line": {"color": colour if width else MUTED, "width": EDGE_WIDTHS[width]}, "opacity": 0.75})
    node_x, node_y, node_text, custom = [], [], [], []
    for layer, tiles in enumerate(look.layers):
        if not len(tiles):
            continue
        data.append(_column(tiles[:, ::step, ::step], centres[layer], cfg, layer))
        flat = tiles.reshape(len(tiles), -1)
        for i, (lo, hi, (cx, cy)) in enumerate(zip(flat.min(1), flat.max(1), centres[layer])):
            node_x.append(cx)
            node_y.append(cy)
            custom.append([layer, i])
            node_text.append(_node_text(look, cfg, layer, i, float(lo), float(hi)))
    # Short number lists stay lists: Plotly checks every numpy array with narwhals (about 0.2 ms each), while
    # the heatmaps' large arrays go as typed arrays.
    hidden = {"marker": {"opacity": 0}}
    data.append({"type": "scatter", "x": mid_x, "y": mid_y, "mode": "markers", "hovertext": mid_text,
                 "customdata": mid_custom, "hoverinfo": "text", "marker": {"size": 10, "opacity": 0, "color": "#000"},
                 "selected": hidden, "unselected": hidden, "showlegend": False, "name": "edges"})
    data.append({"type": "scatter", "x": node_x, "y": node_y, "mode": "markers", "customdata": custom,
                 "hovertext": node_text, "hoverinfo": "text", "marker": {"size": 28, "opacity": 0, "color": "#000"},
                 "selected": hidden, "unselected": hidden, "showlegend": False, "name": "neurons"})
    rows = max(max(cfg.sizes), 3)
    top = (rows - 1) / 2 * ROW + 0.5
    shapes = []
    if selected is not None and selected[0] < len(centres) and selected[1] < len(centres[selected[0]]):
        sx, sy = centres[selected[0]][selected[1]]
        for colour, width, pad in (("#ffffff", 5, 0.12), (ROLE["selected"], 2, 0.12)):
            shapes.append({"type": "rect", "x0": sx - 0.5 - pad, "x1": sx + 0.5 + pad, "y0": sy - 0.5 - pad,
                           "y1": sy + 0.5 + pad, "line": {"color": colour, "width": width}})
    if edge is not None and edge[0] < len(centres) - 1 and edge[1] < len(centres[edge[0] + 1]) \
            and edge[2] < len(centres[edge[0]]):
        (x0, y0), (x1, y1) = centres[edge[0]][edge[2]], centres[edge[0] + 1][edge[1]]
        for colour, width in (("#ffffff", 7), (ROLE["selected"], 3)):
            shapes.append({"type": "line", "x0": x0 + 0.5, "y0": y0, "x1": x1 - 0.5, "y1": y1,
                           "line": {"color": colour, "width": width}})
    last = len(cfg.sizes) - 1
    heads = [("features" if layer == 0 else "output" if layer == last else f"hidden {layer}")
             + (f" ({n})" if 0 < layer < last else "") for layer, n in enumerate(cfg.sizes)]
    notes = [{"text": h, "x": layer * COL, "y": top + 0.15, "xref": "x", "yref": "y", "showarrow": False,
              "yanchor": "bottom", "font": {"size": 11}} for layer, h in enumerate(heads)]
    notes += [{"text": FEATURES[f].label, "x": -0.6, "y": cy, "xref": "x", "yref": "y", "showarrow": False,
               "xanchor": "right", "font": {"size": 11}} for f, (_, cy) in zip(cfg.features, centres[0])]
    if not cfg.features:
        notes.append({"text": "no features on", "x": 0, "y": 0, "xref": "x", "yref": "y", "showarrow": False,
                      "font": {"size": 11, "color": ROLE["neutral"]}})
    layout = {"height": int(np.clip(90 + 40 * rows, 230, 420)), "margin": margin(8, side=4, b=4),
              "showlegend": False, "shapes": shapes, "annotations": notes, "clickmode": "event+select",
              "coloraxis": {"colorscale": TILE_COLOURS, "cmin": GAP, "cmax": TILE_LEVELS, "showscale": False},
              "dragmode": False, "hovermode": "closest",
              "xaxis": {"visible": False, "range": [-1.9, last * COL + 0.7], "constrain": "domain"},
              "yaxis": {"visible": False, "range": [-top - 0.2, top + 0.75], "scaleanchor": "x",
                        "constrain": "domain"}}
    return figure(data, layout)


def _column(tiles: np.ndarray, centres: list[tuple[float, float]], cfg: PlaygroundConfig, layer: int) -> dict:
    """One heatmap trace for a whole layer: its tiles (neurons, T, T) stacked into one column image at their places,
    the gaps between them GAP (drawn transparent), values as int8 in ±TILE_LEVELS of the layer's colour range (inputs:
    each feature's own). One trace per layer instead of one per neuron: a 6 × 8 network is 8 traces, not 56, which
    halves building and sending the figure."""
    n, cells = len(tiles), tiles.shape[1]
    bottom = centres[-1][1] - 0.5
    height = int(round(((n - 1) * ROW + 1) * cells))
    column = np.full((height, cells), GAP, dtype=np.int8)
    for tile, (_, cy) in zip(tiles, centres):
        limit = _limit(cfg, layer, tile if layer == 0 else tiles)
        start = int(round((cy - 0.5 - bottom) * cells))
        column[start:start + cells] = np.clip(np.round(tile / limit * TILE_LEVELS), -TILE_LEVELS, TILE_LEVELS)
    return {"type": "heatmap", "z": column, "x0": centres[0][0] - 0.5 + 0.5 / cells, "dx": 1 / cells,
            "y0": bottom + 0.5 / cells, "dy": 1 / cells, "coloraxis": "coloraxis", "hoverinfo": "skip"}


def _node_text(look: Look, cfg: PlaygroundConfig, layer: int, i: int, lo: float, hi: float) -> str:
    name = node_name(layer, i, cfg)
    span = f"from {num(lo)} to {num(hi)} over the plane"
    if layer == 0:
        return f"{name}: the feature itself, {span}"
    bias = num(float(look.biases[layer - 1][i]))
    what = "output" if layer == len(cfg.sizes) - 1 else ACTIVATION_LABELS[cfg.activation]
    stuck = " · stuck (gradient about 0 at every training point)" \
        if 0 < layer < len(cfg.sizes) - 1 and look.stuck[layer - 1][i] else ""
    return f"{name} ({what}): bias {bias}, {span}{stuck}<br>click to enlarge"


def neuron(look: Look, cfg: PlaygroundConfig, layer: int, index: int,
           train: tuple[np.ndarray, np.ndarray]) -> go.Figure:
    """One neuron's output over the whole plane, at full resolution, with the training points."""
    tiles = look.layers[layer]
    limit = _limit(cfg, layer, tiles[index] if layer == 0 else tiles)
    t = look.ticks
    name = node_name(layer, index, cfg)
    data = [{"type": "heatmap", "x": t, "y": t, "z": tiles[index], **diverging(limit), "opacity": 0.85,
             "colorbar": {"thickness": 10, "len": 0.8},
             "hovertemplate": f"x₁ %{{x:.2f}}, x₂ %{{y:.2f}}: {name} = %{{z:.3f}}<extra></extra>"},
            *_points(*train, cfg, "train", "#ffffff", size=4)]
    layout = {"title": heading(f"{name} over the input plane"), "height": 340, "margin": margin(40, b=30),
              "showlegend": False, "xaxis": {**PLANE_AXIS, "title": {"text": "x₁"}},
              "yaxis": {**PLANE_AXIS, "title": {"text": "x₂"}, "scaleanchor": "x"}}
    return figure(data, layout)


def loss_curves(train: Sequence[float], test: Sequence[float], baseline: float, points: int = 600) -> go.Figure:
    """Train and test loss per epoch (epoch 0: before training), at most `points` per curve, and the loss of the best
    constant output as a dashed line: a curve that stays on it has learned nothing."""
    train, test = np.asarray(train), np.asarray(test)
    step = max(1, -(-len(train) // points))
    epochs = np.arange(len(train))[::step]
    if len(train) and epochs[-1] != len(train) - 1:
        epochs = np.append(epochs, len(train) - 1)
    data = [{"type": "scatter", "x": epochs, "y": train[epochs], "mode": "lines", "name": "train",
             "line": {"color": ROLE["train"], "width": 2}},
            {"type": "scatter", "x": epochs, "y": test[epochs], "mode": "lines", "name": "test",
             "line": {"color": ROLE["validation"], "width": 2}}]
    layout = {"height": 220, "margin": margin(30, b=35), "legend": top_legend(1.0),
              "xaxis": {"title": {"text": "epoch"}, "range": [0, max(10, len(train) - 1)], "tickformat": ",d"},
              "yaxis": {"title": {"text": "loss"}, "rangemode": "tozero"},
              "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": baseline, "y1": baseline,
                          "line": {"color": ROLE["neutral"], "dash": "dash", "width": 1}}],
              "annotations": [{"text": "constant guess", "xref": "paper", "x": 1, "xanchor": "right", "y": baseline,
                               "yanchor": "top", "showarrow": False,
                               "font": {"size": 10, "color": ROLE["neutral"]}}]}
    return figure(data, layout)
