"""Convolutions: CNNDemo's shapes, filters, feature maps, one output value by hand, the size formula, mistakes."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

import numpy as np
import streamlit as st
import torch

from core import conv
from core.codegen import training_code
from core.data import normalize, to_input
from core.figures import conv as conv_figures
from core.figures.base import ROLE, symmetric_limit
from core.figures.images import image, mosaic
from core.figures.training import confusion
from core.fmt import num
from core.inspection import activations, confusion_matrix
from ui import cache
from ui.code import TRAINING_CAPTION, code_panel
from ui.training import config_controls, run_overlay, training_panel

K = "conv"  # widget-key prefix of this page
DRAWN = "drawn_digit"  # session key the Draw page leaves its preprocessed 28×28 drawing under

ensure_navigation()
st.title(":material/grid_on: Convolutions")
st.markdown(
    "A convolution slides a small grid of weights (a **kernel**) over the image; at every position it multiplies "
    "the pixels under it by the weights and adds them up. `CNNDemo` stacks two such layers, each followed by "
    "ReLU and a 2×2 max-pool, then two Linear layers. Train it below, then look inside.")

cfg = config_controls("cnn", K)
result = training_panel(cfg, K)
run_overlay(cfg, K)
code_panel(training_code(cfg), caption=TRAINING_CAPTION)

init = cache.initial_model(cfg.model, cfg.seed)
model = result[1] if result else init
state_label = "trained" if result else "untrained (initial weights: train above to see what learning changes)"
data = cache.mnist()

# Only the open tab runs (its .open is tracked), and the URL remembers it (?conv_tab=Filters).
tab_shape, tab_filters, tab_maps, tab_sandbox, tab_mistakes = st.tabs(
    ["Shape flow", "Filters", "Feature maps & arithmetic", "Conv sandbox", "Mistakes"],
    key=f"{K}_tab", on_change="rerun", bind="query-params")


# ------------------------------------------------------------------ shape flow
def shape_flow_tab() -> None:
    stages = cache.shape_stages(cfg.model)
    st.markdown("Each block is the tensor **after** that layer, for one 1×28×28 image (measured by running the "
                "model, not typed in). Below each layer: its parameter arithmetic, weights + biases.")
    st.plotly_chart(conv_figures.shape_flow([(s.name, s.kind, s.shape, s.formula, s.params) for s in stages]),
                    key=f"{K}_flow")
    st.info("**Why is the Linear layer's input 32·7·7?** " + conv.flatten_explanation(stages),
            icon=":material/lightbulb:")
    st.dataframe(
        [{"layer": s.name, "type": s.kind, "output shape": "×".join(map(str, s.shape)),
          "parameters": num(s.params), "arithmetic": s.formula or "—"} for s in stages],
        hide_index=True, key=f"{K}_table", width="stretch", height=35 * (len(stages) + 1) + 3)
    st.caption(f"Total: **{sum(s.params for s in stages):,}** parameters, "
               f"{sum(s.params for s in stages if s.kind == 'Conv2d'):,} of them in the two conv layers.")


# ------------------------------------------------------------------ filters
def filters_tab() -> None:
    w0_1, w0_2 = init.conv1.weight.cpu().numpy(), init.conv2.weight.cpu().numpy()  # (16,1,3,3), (32,16,3,3)
    same = st.toggle("Same colour scale before and after", value=True, key=f"{K}_same_scale",
                     help="On: colours compare directly (weights grow during training). Off: each picture uses "
                          "its own range, which shows patterns in small weights.")
    c1, c2 = st.columns(2)
    if result:
        w1_1, w1_2 = model.conv1.weight.cpu().numpy(), model.conv2.weight.cpu().numpy()
        lim1 = symmetric_limit(w0_1, w1_1) if same else None
        c1.plotly_chart(mosaic(w0_1[:, 0], 8, title="conv1 before training (initialisation)", tile_label="filter",
                               limit=lim1, colorbar_title="weight"), key=f"{K}_f1_init")
        c2.plotly_chart(mosaic(w1_1[:, 0], 8, title="conv1 after training", tile_label="filter", limit=lim1,
                               colorbar_title="weight"), key=f"{K}_f1_trained")
    else:
        c1.plotly_chart(mosaic(w0_1[:, 0], 8, title="conv1 at initialisation", tile_label="filter",
                               colorbar_title="weight"), key=f"{K}_f1_init")
        c2.info("Train the model to see the same 16 filters after training, side by side.")
    st.markdown("Red weights reward ink under them, blue weights punish it; a filter with red on one side and blue "
                "on the other responds to an **edge**. Initial weights are random noise, uniform in "
                "±1/√(fan-in) = ±1/3 for conv1.")
    c1, c2 = st.columns([2, 1])
    which = c1.radio("conv2 weights", ["after training", "initialisation"] if result else ["initialisation"],
                     horizontal=True, key=f"{K}_f2_which")
    out_ch = c2.number_input(f"conv2 output channel (0–{w0_2.shape[0] - 1})", 0, w0_2.shape[0] - 1, 0,
                             key=f"{K}_f2_out")
    w2 = w1_2 if result and which == "after training" else w0_2
    lim2 = symmetric_limit(w0_2, w1_2) if result and same else symmetric_limit(w2)
    st.plotly_chart(conv_figures.channel_kernels(w2, int(out_ch), lim2,
                                                 f"conv2 output channel {out_ch}: its {w2.shape[1]} kernels, {which}"),
                    key=f"{K}_f2")
    st.caption(f"conv2 has {w2.shape[0]} output channels. Each one owns {w2.shape[1]} kernels of 3×3, one per input "
               f"channel (the {w2.shape[1]} maps of pool1): it slides each kernel over its input map and adds the "
               f"{w2.shape[1]} results, plus one bias. Colours on the layer's shared scale.")


# ------------------------------------------------------------------ feature maps + arithmetic (a fragment)
def _goto(row: int, col: int) -> None:
    st.session_state[f"{K}_ar_row"], st.session_state[f"{K}_ar_col"] = row, col


def _pick_random() -> None:
    st.session_state[f"{K}_index"] = int(np.random.default_rng().integers(len(data.test)))


@st.fragment
def feature_maps() -> None:
    sources = ["test digit"] + (["your drawing"] if st.session_state.get(DRAWN) is not None else [])
    c1, c2, c3 = st.columns([2, 2, 1])
    source = c1.radio("Image", sources, horizontal=True, key=f"{K}_source",
                      help="Draw on the 'Draw a digit' page and your drawing appears here too.")
    if source == "your drawing":
        x = torch.tensor(st.session_state[DRAWN], dtype=torch.float32)
        x = normalize(x).reshape(1, 1, 28, 28).to(cache.device())  # (1, 1, 28, 28)
        caption = "your drawing"
    else:
        i = c2.number_input(f"Test digit # (0–{len(data.test) - 1})", 0, len(data.test) - 1, key=f"{K}_index")
        c3.button("Another", icon=":material/casino:", on_click=_pick_random, key=f"{K}_random")
        x = to_input(data.test.images[i:i + 1], cache.device())  # (1, 1, 28, 28)
        caption = f"test digit #{i}, label {int(data.test.labels[i])}"
    acts = dict(activations(model, x))
    pred = int(acts["fc2"].argmax(1))
    ci, cm = st.columns([1, 5])
    ci.plotly_chart(image(x[0, 0].cpu().numpy(), "input", 200, show_scale=False), key=f"{K}_input")
    ci.markdown(f"{caption}  \n{'Trained' if result else 'Untrained'} model says **{pred}**")
    with cm:
        st.markdown("Every channel after each layer (" + state_label + "). conv outputs are signed: red positive, "
                    "blue negative, white 0. After ReLU nothing is negative, so relu and pool maps use a scale "
                    "from white (0) to red; each picture on its own scale. ReLU turns every blue value to 0; "
                    "max-pool keeps the largest value of each 2×2 block.")
        for row in (("conv1", "relu1", "pool1"), ("conv2", "relu2", "pool2")):
            cols = st.columns(3)
            for col, name in zip(cols, row):
                a = acts[name][0].cpu().numpy()  # (C, H, W)
                col.plotly_chart(mosaic(a, 4 if a.shape[0] == 16 else 8, tile_label="channel", height=260,
                                        title=f"{name}: {'×'.join(map(str, a.shape))}", colorbar_title="value",
                                        colours="diverging" if name.startswith("conv") else "sequential"),
                                 key=f"{K}_maps_{name}")

    st.subheader("One output value, by hand")
    c1, c2, c3, c4, c5 = st.columns(5)
    layer_name = c1.radio("Layer", ["conv1", "conv2"], horizontal=True, key=f"{K}_ar_layer")
    layer = getattr(model, layer_name)
    inp = acts["input" if layer_name == "conv1" else "pool1"][0]  # (C_in, H, W)
    out = acts[layer_name][0]  # (C_out, H, W)
    ch = c2.number_input(f"Output channel (0–{out.shape[0] - 1})", 0, out.shape[0] - 1, 0, key=f"{K}_ar_ch")
    for axis, size in (("row", out.shape[1]), ("col", out.shape[2])):  # start mid-map; stay inside this layer's map
        if st.session_state.get(f"{K}_ar_{axis}", size) >= size:
            st.session_state[f"{K}_ar_{axis}"] = size // 2
    r = c3.slider("Output row", 0, out.shape[1] - 1, key=f"{K}_ar_row")  # value: session state (a button sets it)
    c = c4.slider("Output column", 0, out.shape[2] - 1, key=f"{K}_ar_col")
    peak = divmod(int(out[int(ch)].argmax()), out.shape[2])
    c3.button("Strongest", icon=":material/my_location:", key=f"{K}_ar_peak", on_click=_goto, args=peak,
              help=f"Jump to the strongest response: the output position where channel {ch} responds most to this "
                   "image.")
    in_ch = 0
    if inp.shape[0] > 1:
        in_ch = c5.number_input(f"Input channel (0–{inp.shape[0] - 1})", 0, inp.shape[0] - 1, 0,
                                key=f"{K}_ar_in", help="conv2 sums over all 16 channels of pool1; the "
                                "9 products of one of them are shown, every channel's sum below.")
    else:
        c5.caption("conv1 has one input channel: the image.")
    step = conv.conv_at(inp, layer, int(ch), int(r), int(c))
    t, b = step.rows_in
    le, ri = step.cols_in
    a1, a2, a3 = st.columns([1, 1, 3])
    in_map = inp[int(in_ch)].cpu().numpy()  # (H, W)
    src = "input" if layer_name == "conv1" else f"pool1 ch {in_ch}"
    a1.plotly_chart(image(in_map, f"{src}: the window", 230, diverging=layer_name == "conv2",
                          show_scale=False, box=(t, b, le, ri)), key=f"{K}_ar_in_img")
    a2.plotly_chart(image(out[int(ch)].cpu().numpy(), f"{layer_name} ch {ch}: ({r}, {c})", 230,
                          diverging=True, show_scale=False, box=(int(r), int(r) + 1, int(c), int(c) + 1)),
                    key=f"{K}_ar_out_img")
    a3.plotly_chart(conv_figures.arithmetic(step.patch[int(in_ch)], step.kernel[int(in_ch)],
                                            step.products[int(in_ch)], int(in_ch),
                                            patch_limit=symmetric_limit(in_map),
                                            kernel_limit=symmetric_limit(layer.weight.cpu().numpy())),
                    key=f"{K}_ar_fig")
    st.markdown(f"Sum of the 9 products (channel {in_ch}): `{conv.arithmetic_text(step, int(in_ch))}`")
    if inp.shape[0] > 1:
        st.plotly_chart(conv_figures.channel_sums(step.channel_sums, step.bias, step.value), key=f"{K}_ar_sums")
    fm = float(out[int(ch), int(r), int(c)])
    st.success(f"{conv.arithmetic_text(step)} — and the feature map computed by PyTorch holds **{num(fm, 4)}** at "
               f"({r}, {c}): {'the same as by hand' if abs(fm - step.value) < 1e-4 else 'not what the hand sum gives'}."
               + (" Part of the window hangs over the border: those cells read 0, the padding (not −0.42, the "
                  "value of blank paper after normalization)." if (b - t) * (ri - le) < step.patch[0].size else ""),
               icon=":material/calculate:")




# ------------------------------------------------------------------ sandbox
def sandbox_tab() -> None:
    st.markdown("Change the settings and watch the output size follow PyTorch's formula. Invalid settings are "
                "allowed here on purpose: see what goes wrong, and what PyTorch says.")
    op = st.radio("Layer", list(conv.OP_LABELS), format_func=conv.OP_LABELS.get, horizontal=True, key=f"{K}_sb_op")
    c1, c2, c3, c4, c5 = st.columns(5)
    spec = conv.ConvSpec(
        size=c1.slider("Input size", 1, 32, 7, key=f"{K}_sb_n"),
        kernel=c2.slider("Kernel size", 1, 9, 3, key=f"{K}_sb_k"),
        stride=c3.slider("Stride", 0, 5, 2 if op == "pool" else 1, key=f"{K}_sb_s_{op}"),
        padding=c4.slider("Padding", 0, 4, 0, key=f"{K}_sb_p"),
        dilation=c5.slider("Dilation", 1, 3, 1, key=f"{K}_sb_d"), op=op)
    res = conv.check(spec)
    torch_size, torch_error = conv.pytorch_output_size(spec)
    st.markdown(f"`{spec.torch_call()}` on a 1×1×{spec.size}×{spec.size} input:")
    st.code(res.formula, language=None)
    if res.ok:
        agree = "PyTorch agrees" if torch_size == res.size else f"PyTorch says {torch_size}"
        st.success(f"Output: **{res.size}×{res.size}**. {agree}: the real layer returns "
                   f"1×1×{torch_size}×{torch_size}.", icon=":material/check_circle:")
        for note in res.notes:
            st.warning(note, icon=":material/visibility:")
        cov = conv.coverage(spec)
        st.plotly_chart(conv_figures.coverage(cov.counts, cov.is_padding, cov.uncovered, cov.first_taps,
                                              f"Where the kernel lands on the padded {spec.padded}×{spec.padded} "
                                              "input (gray = padding)"), key=f"{K}_sb_cov")
    else:
        st.error("This configuration is invalid: " + "; ".join(res.problems) + ".", icon=":material/block:")
        st.caption(f"PyTorch, asked to run it, refuses: “{torch_error}”" if torch_error else
                   f"(PyTorch would return {torch_size}.)")


# ------------------------------------------------------------------ mistakes
def _cell_clicked() -> None:
    """A click on a confusion-matrix cell chooses that (true, predicted) pair."""
    points = st.session_state[f"{K}_cm"].selection.points
    if points:
        st.session_state[f"{K}_cm_true"], st.session_state[f"{K}_cm_pred"] = int(points[0]["y"]), int(points[0]["x"])


def mistakes_tab() -> None:
    probs = cache.test_probabilities(cfg) if result else None
    if probs is None:
        st.info("Train the model (or load a stored run) to see where it goes wrong on the test set.")
        return
    labels = data.test.labels.numpy()
    preds = probs.argmax(1)
    cmat = confusion_matrix(torch.from_numpy(labels), torch.from_numpy(preds)).numpy()
    wrong = int((preds != labels).sum())
    off = cmat.copy()
    np.fill_diagonal(off, 0)
    worst = np.unravel_index(int(off.argmax()), off.shape)
    for name, v in (("true", worst[0]), ("pred", worst[1])):  # first visit: the most frequent mistake
        st.session_state.setdefault(f"{K}_cm_{name}", int(v))
    cl, cr = st.columns([3, 2])
    cl.plotly_chart(confusion(cmat, clickable=True), key=f"{K}_cm", on_select=_cell_clicked,
                    selection_mode="points")
    with cr:
        st.markdown(f"**{wrong}** of {len(labels):,} test digits are misclassified ({100 * wrong / len(labels):.1f}%)."
                    " Rows: the true digit; columns: what the CNN said. **Click a cell**, or choose it here:")
        s1, s2 = st.columns(2)
        true_c = s1.selectbox("True digit", range(10), key=f"{K}_cm_true")
        pred_c = s2.selectbox("Predicted as", range(10), key=f"{K}_cm_pred")
        idx = np.nonzero((labels == true_c) & (preds == pred_c))[0]
        if true_c == pred_c:
            st.info(f"This cell on the diagonal counts the {len(idx)} correctly classified {true_c}s; "
                    "pick two different digits to see mistakes.")
        elif len(idx) == 0:
            st.info(f"No {true_c} was mistaken for a {pred_c}. The most frequent mistake is "
                    f"{worst[0]} → {worst[1]} ({off.max()} digits).")
        else:
            st.markdown(f"**{len(idx)}** test digit(s) that are **{true_c}** but were predicted **{pred_c}** "
                        "are shown below with their 10 probabilities "
                        f"(<span style='color:{ROLE['predicted']}'>orange: predicted</span>, "
                        f"<span style='color:{ROLE['true']}'>green: true class</span>).", unsafe_allow_html=True)
    if true_c != pred_c and len(idx):
        start = 0
        if len(idx) > 8:
            start = st.slider("Show from", 0, len(idx) - 1, 0, 8, key=f"{K}_cm_start")
        show = idx[start:start + 8]
        st.plotly_chart(conv_figures.mistakes(data.test.images[show].numpy(), probs[show], true_c, pred_c,
                                              show.tolist()), key=f"{K}_cm_fig")

for tab, render in ((tab_shape, shape_flow_tab), (tab_filters, filters_tab), (tab_maps, feature_maps),
                    (tab_sandbox, sandbox_tab), (tab_mistakes, mistakes_tab)):
    if tab.open is not False:  # None when tabs are not tracked: then every tab runs
        with tab:
            render()
