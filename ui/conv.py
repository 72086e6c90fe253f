"""The Convolutions page's cached models and its tabs (shape flow, filters, feature maps with one output value
by hand, the size sandbox), plus the feature-map widget the Draw page shares. Every renderer takes its inputs
as parameters."""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from urllib.parse import urlencode

import numpy as np
import streamlit as st
import torch
from torch import nn

from core.data.digits import ink_input
from core.data.mnist import to_input
from core.figures import conv as conv_figures
from core.figures.base import symmetric_limit
from core.figures.images import image, mosaic
from core.fmt import num
from core.lessons import conv_stages
from core.models import conv_arithmetic, stacks
from core.models.inspection import activations
from core.models.registry import ModelConfig
from ui import address, resources
from ui.layers import URL_KEY
from ui.plotly_select import clicked_cell
from ui.session import drawn_digit


@st.cache_resource(show_spinner=False, max_entries=8)
def initial_model(model: ModelConfig, seed: int) -> nn.Sequential:
    """The weights a run with this seed starts from: build_model(cfg, Generator().manual_seed(seed))."""
    return conv_stages.initial_model(model, seed).to(resources.device())


@st.cache_data(show_spinner=False, max_entries=16)
def shape_stages(model: ModelConfig) -> list[conv_stages.Stage]:
    return conv_stages.shape_stages(conv_stages.initial_model(model, 0))


# Tiles per row of a feature-map mosaic: a mosaic gets ~700 px at 1280 px (sidebar open), ~85 px a tile.
TILE_COLUMNS = 8


def _zoom_to(key: str, layer: str, cols: int, n: int) -> None:
    cell = clicked_cell(f"{key}_maps_{layer}")
    if cell is not None and cell[0] * cols + cell[1] < n:
        st.session_state[f"{key}_zoom"] = (layer, cell[0] * cols + cell[1])


@st.dialog("One channel, zoomed", width="medium")
def _zoomed(a: np.ndarray, layer: str, ch: int, key: str) -> None:
    st.plotly_chart(image(a, f"{layer} channel {ch} ({a.shape[0]}×{a.shape[1]})", 420,
                          diverging=layer.startswith("conv"), show_scale=True), key=f"{key}_zoomed")
    st.caption(f"Channel {ch} of {layer}: hover for each value. Close this and click another tile to zoom it.")


def feature_map_grid(acts: dict[str, torch.Tensor], layers: Sequence[str], key: str) -> None:
    """Every channel of the named activations, one mosaic per layer across the page's width (tiles large enough
    to see); a click on a tile opens that channel large, in a dialog."""
    zoom = st.session_state.pop(f"{key}_zoom", None)
    if zoom is not None and zoom[0] in layers and zoom[1] < acts[zoom[0]].shape[1]:
        _zoomed(acts[zoom[0]][0, zoom[1]].cpu().numpy(), zoom[0], zoom[1], key)  # (H, W)
    st.caption("Click any tile to see it large, with its values on hover.")
    for layer in layers:
        a = acts[layer][0].cpu().numpy()  # (C, H, W)
        cols = min(TILE_COLUMNS, a.shape[0])
        rows = -(-a.shape[0] // cols)
        st.plotly_chart(mosaic(a, cols, title=f"{layer}: {'×'.join(map(str, a.shape))}", tile_label="channel",
                               colorbar_title="value", height=60 + 88 * rows, clickable=True,
                               colours="diverging" if layer.startswith("conv") else "sequential"),
                        key=f"{key}_maps_{layer}", on_select=partial(_zoom_to, key, layer, cols, a.shape[0]),
                        selection_mode="points")


# ------------------------------------------------------------------ shape flow
def shape_flow_tab(model: ModelConfig, key: str) -> None:
    stages = shape_stages(model)
    st.markdown("Each block is the tensor **after** that layer, for one 1×28×28 image (measured by running the "
                "model, not typed in). Below each layer: its parameter arithmetic, weights + biases.")
    st.plotly_chart(conv_figures.shape_flow([(s.name, s.kind, s.shape, s.formula, s.params) for s in stages]),
                    key=f"{key}_flow")
    st.info("**Why is the Linear layer's input 32·7·7?** " + conv_stages.flatten_explanation(stages),
            icon=":material/lightbulb:")
    st.dataframe(
        [{"layer": s.name, "type": s.kind, "output shape": "×".join(map(str, s.shape)),
          "parameters": num(s.params), "arithmetic": s.formula or "—"} for s in stages],
        hide_index=True, key=f"{key}_table", width="stretch", height=35 * (len(stages) + 1) + 3)
    st.caption(f"Total: **{sum(s.params for s in stages):,}** parameters, "
               f"{sum(s.params for s in stages if s.kind == 'Conv2d'):,} of them in the two conv layers.")


# ------------------------------------------------------------------ filters
def filters_tab(init: nn.Module, trained: nn.Module | None, key: str) -> None:
    """conv1's filters and conv2's kernels at initialisation and, when `trained` is given, after training."""
    w0_1, w0_2 = init.conv1.weight.cpu().numpy(), init.conv2.weight.cpu().numpy()  # (16,1,3,3), (32,16,3,3)
    f = address.Form(address.Address(key, {"same_scale": address.flag("same", "same_scale"),
                                           "f2_which": address.choice("f2", "f2_which",
                                                                      ["after training", "initialisation"]),
                                           "f2_out": address.slider("f2_out", "f2_out", 0, 31, whole=True)}))
    same = f.keep("same_scale", st.toggle(
        "Same colour scale before and after", key=f.key("same_scale", True),
        help="On: colours compare directly (weights grow during training). Off: each picture uses its own range, "
             "which shows patterns in small weights."))
    c1, c2 = st.columns(2)
    if trained is not None:
        w1_1, w1_2 = trained.conv1.weight.cpu().numpy(), trained.conv2.weight.cpu().numpy()
        lim1 = symmetric_limit(w0_1, w1_1) if same else None
        c1.plotly_chart(mosaic(w0_1[:, 0], 8, title="conv1 before training (initialisation)", tile_label="filter",
                               limit=lim1, colorbar_title="weight"), key=f"{key}_f1_init")
        c2.plotly_chart(mosaic(w1_1[:, 0], 8, title="conv1 after training", tile_label="filter", limit=lim1,
                               colorbar_title="weight"), key=f"{key}_f1_trained")
    else:
        c1.plotly_chart(mosaic(w0_1[:, 0], 8, title="conv1 at initialisation", tile_label="filter",
                               colorbar_title="weight"), key=f"{key}_f1_init")
        c2.info("Train the model to see the same 16 filters after training, side by side.")
    st.markdown("Red weights reward ink under them, blue weights punish it; a filter with red on one side and blue "
                "on the other responds to an **edge**. Initial weights are random noise, uniform in "
                "±1/√(fan-in) = ±1/3 for conv1.")
    c1, c2 = st.columns([2, 1])
    options = ["after training", "initialisation"] if trained is not None else ["initialisation"]
    which_key = f.key("f2_which", options[0])
    if st.session_state[which_key] not in options:  # "after training" kept, and no trained run now
        st.session_state[which_key] = options[0]
    which = f.keep("f2_which", c1.radio("conv2 weights", options, horizontal=True, key=which_key))
    out_ch = f.keep("f2_out", c2.number_input(f"conv2 output channel (0–{w0_2.shape[0] - 1})", 0, w0_2.shape[0] - 1,
                                              key=f.key("f2_out", 0)))
    f.mirror()
    w2 = w1_2 if trained is not None and which == "after training" else w0_2
    lim2 = symmetric_limit(w0_2, w1_2) if trained is not None and same else symmetric_limit(w2)
    st.plotly_chart(conv_figures.channel_kernels(w2, int(out_ch), lim2,
                                                 f"conv2 output channel {out_ch}: its {w2.shape[1]} kernels, {which}"),
                    key=f"{key}_f2")
    st.caption(f"conv2 has {w2.shape[0]} output channels. Each one owns {w2.shape[1]} kernels of 3×3, one per input "
               f"channel (the {w2.shape[1]} maps of pool1): it slides each kernel over its input map and adds the "
               f"{w2.shape[1]} results, plus one bias. Colours on the layer's shared scale.")


# ------------------------------------------------------------------ feature maps + arithmetic (a fragment)
def _goto(key: str, row: int, col: int) -> None:
    st.session_state[f"{key}_ar_row"], st.session_state[f"{key}_ar_col"] = row, col


def _pick_random(key: str, n: int) -> None:
    st.session_state[f"{key}_index"] = int(np.random.default_rng().integers(n))


def _chosen_input(key: str) -> tuple[torch.Tensor, str]:
    """The test digit or the drawing picked by the user -> (normalized input (1, 1, 28, 28), caption)."""
    data = resources.mnist()
    drawn = drawn_digit()
    sources = ["test digit"] + (["your drawing"] if drawn is not None else [])
    f = address.Form(address.Address(key, {"source": address.choice("image", "source", sources),
                                           "index": address.slider("digit", "index", 0, len(data.test) - 1,
                                                                   whole=True)}))
    c1, c2, c3 = st.columns([2, 2, 1])
    source = f.keep("source", c1.radio("Image", sources, horizontal=True, key=f.key("source", sources[0]),
                                       help="Draw on the 'Draw a digit' page and your drawing appears here too."))
    if source == "your drawing" and drawn is not None:
        f.mirror()
        return ink_input(drawn).to(resources.device()), "your drawing"  # (1, 1, 28, 28)
    n = len(data.test)
    i = int(f.keep("index", c2.number_input(f"Test digit # (0–{n - 1})", 0, n - 1, key=f.key("index", 0))))
    c3.button("Another", icon=":material/casino:", on_click=_pick_random, args=(key, n), key=f"{key}_random")
    f.mirror()
    x = to_input(data.test.images[i:i + 1], resources.device())  # (1, 1, 28, 28)
    return x, f"test digit #{i}, label {int(data.test.labels[i])}"


@st.fragment
def feature_maps_tab(model: nn.Module, trained: bool, key: str) -> None:
    """Feature maps of one image through `model`, then one output value of conv1 or conv2 by hand."""
    x, caption = _chosen_input(key)
    acts = dict(activations(model, x))
    pred = int(acts["fc2"].argmax(1))
    state_label = "trained" if trained else "untrained (initial weights: train above to see what learning changes)"
    ci, cm = st.columns([1, 5])
    ci.plotly_chart(image(x[0, 0].cpu().numpy(), "input", 200, show_scale=False), key=f"{key}_input")
    cm.markdown(f"{caption}: the {'trained' if trained else 'untrained'} model says **{pred}**.\n\n"
                "Every channel after each layer (" + state_label + "). conv outputs are signed: red positive, "
                "blue negative, white 0. After ReLU nothing is negative, so relu and pool maps use a scale "
                "from white (0) to red; each picture on its own scale. ReLU turns every blue value to 0; "
                "max-pool keeps the largest value of each 2×2 block.")
    feature_map_grid(acts, ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2"), key)
    _one_value(model, acts, key)


def _pixel_clicked(key: str) -> None:
    """A click on the feature map picks that output pixel (the row and column inputs follow)."""
    cell = clicked_cell(f"{key}_ar_out_img")
    if cell is not None:
        _goto(key, *cell)


def _one_value(model: nn.Module, acts: dict[str, torch.Tensor], key: str) -> None:
    st.subheader("One output value, by hand")
    c1, c2, c3, c4, c5 = st.columns(5)
    f = address.Form(address.Address(f"{key}_ar", {
        "layer": address.choice("ar_layer", "layer", ["conv1", "conv2"]),
        **{name: address.slider(f"ar_{name}", name, 0, 31, whole=True) for name in ("ch", "row", "col", "in")}}))
    layer_name = f.keep("layer", c1.radio("Layer", ["conv1", "conv2"], horizontal=True, key=f.key("layer", "conv1")))
    layer = getattr(model, layer_name)
    inp = acts["input" if layer_name == "conv1" else "pool1"][0]  # (C_in, H, W)
    out = acts[layer_name][0]  # (C_out, H, W)
    sizes = {"ch": out.shape[0], "row": out.shape[1], "col": out.shape[2], "in": inp.shape[0]}
    keys = {name: f.key(name, 0 if name in ("ch", "in") else size // 2) for name, size in sizes.items()}
    for name, size in sizes.items():  # stay inside this layer's maps (rows and columns start mid-map)
        if st.session_state[keys[name]] >= size:
            st.session_state[keys[name]] = 0 if name in ("ch", "in") else size // 2
    ch = int(f.keep("ch", c2.number_input(f"Output channel (0–{out.shape[0] - 1})", 0, out.shape[0] - 1,
                                          key=keys["ch"])))
    # the keyboard way to the same pixel a click picks (value: session state, which a click or a button sets)
    r = int(f.keep("row", c3.number_input(f"Output row (0–{out.shape[1] - 1})", 0, out.shape[1] - 1,
                                          key=keys["row"])))
    c = int(f.keep("col", c4.number_input(f"Output column (0–{out.shape[2] - 1})", 0, out.shape[2] - 1,
                                          key=keys["col"])))
    in_ch = 0
    if inp.shape[0] > 1:
        in_ch = int(f.keep("in", c5.number_input(
            f"Input channel (0–{inp.shape[0] - 1})", 0, inp.shape[0] - 1, key=keys["in"],
            help="conv2 sums over all 16 channels of pool1; the 9 products of one of them are shown, every "
                 "channel's sum below.")))
    else:
        c5.caption("conv1 has one input channel: the image.")
    f.mirror()
    step = conv_arithmetic.conv_at(inp, layer, ch, r, c)
    t, b = step.rows_in
    le, ri = step.cols_in
    h1, h2 = st.columns([4, 1], vertical_alignment="center")
    h1.markdown(f"**Click a pixel of the feature map** (right) to take it apart: its input window is outlined on "
                f"the left, and below, the window × the kernel, element by element. Now: output pixel **({r}, {c})** "
                f"of {layer_name} channel {ch}.")
    peak = divmod(int(out[ch].argmax()), out.shape[2])
    h2.button("Strongest", icon=":material/my_location:", key=f"{key}_ar_peak", on_click=_goto, args=(key, *peak),
              help=f"Jump to the strongest response: the output position where channel {ch} responds most to this "
                   "image.")
    a1, a2 = st.columns(2)
    in_map = inp[in_ch].cpu().numpy()  # (H, W)
    src = "input" if layer_name == "conv1" else f"pool1 ch {in_ch}"
    a1.plotly_chart(image(in_map, f"{src}: the window it reads, rows {t}–{b - 1}, cols {le}–{ri - 1}", 320,
                          diverging=layer_name == "conv2", show_scale=False, box=(t, b, le, ri)),
                    key=f"{key}_ar_in_img")
    a2.plotly_chart(image(out[ch].cpu().numpy(), f"{layer_name} ch {ch}: pixel ({r}, {c})", 320,
                          diverging=True, show_scale=False, box=(r, r + 1, c, c + 1), clickable=True),
                    key=f"{key}_ar_out_img", on_select=partial(_pixel_clicked, key), selection_mode="points")
    st.plotly_chart(conv_figures.arithmetic(step.patch[in_ch], step.kernel[in_ch], step.products[in_ch], in_ch,
                                            patch_limit=symmetric_limit(in_map),
                                            kernel_limit=symmetric_limit(layer.weight.cpu().numpy())),
                    key=f"{key}_ar_fig")
    st.markdown(f"Sum of the 9 products (channel {in_ch}): `{conv_arithmetic.arithmetic_text(step, in_ch)}`")
    if inp.shape[0] > 1:
        st.plotly_chart(conv_figures.channel_sums(step.channel_sums, step.bias, step.value), key=f"{key}_ar_sums")
    fm = float(out[ch, r, c])
    st.success(f"{conv_arithmetic.arithmetic_text(step)} — and the feature map computed by PyTorch holds "
               f"**{num(fm, 4)}** at "
               f"({r}, {c}): {'the same as by hand' if abs(fm - step.value) < 1e-4 else 'not what the hand sum gives'}."
               + (" Part of the window hangs over the border: those cells read 0, the padding (not −0.42, the "
                  "value of blank paper after normalization)." if (b - t) * (ri - le) < step.patch[0].size else ""),
               icon=":material/calculate:")


# ------------------------------------------------------------------ sandbox
def sandbox_tab(key: str) -> None:
    st.markdown("Change the settings and watch the output size follow PyTorch's formula. Invalid settings are "
                "allowed here on purpose: see what goes wrong, and what PyTorch says.")
    here = address.Address(f"{key}_sb", {
        "op": address.choice("sb_op", "op", list(conv_arithmetic.OP_LABELS)),
        **{name: address.slider(f"sb_{name}", name, lo, hi, whole=True)
           for name, lo, hi in (("n", 1, 32), ("k", 1, 9), ("s", 0, 5), ("p", 0, 4), ("d", 1, 3))}})
    w = here.controls({"op": list(conv_arithmetic.OP_LABELS)[0]})
    op = st.radio("Layer", list(conv_arithmetic.OP_LABELS), format_func=conv_arithmetic.OP_LABELS.get, horizontal=True,
                  key=w["op"])
    stride_key = {"s": f"{key}_sb_s_{op}"}  # a pool's stride defaults to its kernel's 2, a conv's to 1
    w |= here.controls({"n": 7, "k": 3, "s": 2 if op == "pool" else 1, "p": 0, "d": 1}, stride_key)
    c1, c2, c3, c4, c5 = st.columns(5)
    spec = conv_arithmetic.ConvSpec(
        size=c1.slider("Input size", 1, 32, key=w["n"]), kernel=c2.slider("Kernel size", 1, 9, key=w["k"]),
        stride=c3.slider("Stride", 0, 5, key=w["s"]), padding=c4.slider("Padding", 0, 4, key=w["p"]),
        dilation=c5.slider("Dilation", 1, 3, key=w["d"]), op=op)
    here.mirror({"op": op, "n": spec.size, "k": spec.kernel, "s": spec.stride, "p": spec.padding, "d": spec.dilation},
                stride_key)
    res = conv_arithmetic.check(spec)
    torch_size, torch_error = conv_arithmetic.pytorch_output_size(spec)
    st.markdown(f"`{spec.torch_call()}` on a 1×1×{spec.size}×{spec.size} input:")
    st.code(res.formula, language=None)
    if res.ok:
        agree = "PyTorch agrees" if torch_size == res.size else f"PyTorch says {torch_size}"
        st.success(f"Output: **{res.size}×{res.size}**. {agree}: the real layer returns "
                   f"1×1×{torch_size}×{torch_size}.", icon=":material/check_circle:")
        for note in res.notes:
            st.warning(note, icon=":material/visibility:")
        cov = conv_arithmetic.coverage(spec)
        st.plotly_chart(conv_figures.coverage(cov.counts, cov.is_padding, cov.uncovered, cov.first_taps,
                                              f"Where the kernel lands on the padded {spec.padded}×{spec.padded} "
                                              "input (gray = padding)"), key=f"{key}_sb_cov")
    else:
        st.error("This configuration is invalid: " + "; ".join(res.problems) + ".", icon=":material/block:")
        st.caption(f"PyTorch, asked to run it, refuses: “{torch_error}”" if torch_error else
                   f"(PyTorch would return {torch_size}.)")
    stack = stacks.sandbox_stack(spec)
    if stack is not None:
        link = urlencode({URL_KEY: stacks.encode(stack)})  # a markdown link: works when the page runs alone, too
        st.markdown(f":material/stacks: [Open this layer in the Layer shapes builder](layer_shapes?{link}), "
                    "then stack more layers after it.")
