"""Layer shapes page: the builder's stack editor (kept in the URL), its cached measurements, the registry's
models measured the same way, and the training settings of a stack that fits the digits.

Every cache here is keyed by the stack's link text, a ModelConfig or plain ints, never by a tensor or module.
Models are built on the meta device (shapes only): the table and the graph need no weights."""
from __future__ import annotations

import streamlit as st
import torch

from core.models import graph, stacks
from core.models.inspection import Summary, summarize
from core.models.registry import ARCHITECTURES, ModelConfig, architecture
from core.training.config import TrainConfig
from ui.text import md
from ui.training import config_controls

URL_KEY = "stack"
DEFAULT = "cnn"


def _set(key: str, stack: stacks.Stack) -> None:
    """Replace the stack: new widget keys (so widgets show it), and the URL follows."""
    st.session_state[f"{key}_text"] = stacks.encode(stack)
    st.session_state[f"{key}_version"] = st.session_state.get(f"{key}_version", 0) + 1


def _start(key: str) -> None:
    if f"{key}_text" in st.session_state:
        return
    raw = st.query_params.get(URL_KEY)
    got = stacks.decode(raw) if raw else stacks.Decoded(stacks.PRESETS[DEFAULT].stack)
    if got.stack is None:
        st.warning(f"Ignored the layers in the page address: {md(got.error, 300)}.")
        got = stacks.Decoded(stacks.PRESETS[DEFAULT].stack)
    _set(key, got.stack)


def _layer_widgets(layer: stacks.Layer, wkey: str) -> stacks.Layer:
    """Number inputs for each argument of one layer (bounded as in links) -> the layer they describe."""
    if not layer.args:
        return layer
    cols = st.columns(len(layer.args))
    values = {}
    for col, a in zip(cols, layer.args):
        current = getattr(layer, a.name)
        if a.scale != 1:
            values[a.name] = col.number_input(a.name, a.lo / a.scale, a.hi / a.scale, float(current), 0.05,
                                              key=f"{wkey}_{a.name}")
        else:
            values[a.name] = int(col.number_input(a.name, a.lo, a.hi, int(current), key=f"{wkey}_{a.name}"))
    return type(layer)(**values)


def stack_editor(key: str = "ls") -> stacks.Stack:
    """Preset picker, input shape and one row of controls per layer -> the stack (mirrored in ?stack=...)."""
    _start(key)
    stack = stacks.decode(st.session_state[f"{key}_text"]).stack
    assert stack is not None  # only encoded stacks are stored
    v = st.session_state[f"{key}_version"]
    top = st.columns([3, 1])
    preset = top[0].selectbox("Start from a preset", list(stacks.PRESETS),
                              format_func=lambda k: stacks.PRESETS[k].label, index=None,
                              placeholder="Choose a preset…", key=f"{key}_preset_{v}")
    if preset is not None:
        _set(key, stacks.PRESETS[preset].stack)
        st.rerun()
    c, h, w = (int(col.number_input(f"input {a.name}", a.lo, a.hi, stack.input_shape[i], key=f"{key}_in_{a.name}_{v}"))
               for i, (col, a) in enumerate(zip(st.columns(3), stacks.INPUT_ARGS)))
    layers: list[stacks.Layer] = []
    for i, layer in enumerate(stack.layers):
        left, mid, right = st.columns([1.2, 6, 0.6], vertical_alignment="bottom")
        left.markdown(f"**{i}** · `{layer.kind}`")
        with mid:
            layers.append(_layer_widgets(layer, f"{key}_{i}_{layer.kind}_{v}"))
        if right.button("", icon=":material/delete:", key=f"{key}_del_{i}_{v}", help="Remove this layer"):
            _set(key, stacks.Stack(stack.input_shape, stack.layers[:i] + stack.layers[i + 1:]))
            st.rerun()
    add_kind, add_at, add_btn = st.columns([3, 2, 1], vertical_alignment="bottom")
    kind = add_kind.selectbox("Add a layer", list(stacks.KINDS), key=f"{key}_add_kind")
    at = add_at.number_input("at position", 0, len(stack.layers), len(stack.layers), key=f"{key}_add_at_{v}")
    if add_btn.button("Add", icon=":material/add:", key=f"{key}_add", disabled=len(stack.layers) >= stacks.MAX_LAYERS):
        layers_ = stack.layers[:at] + (_new_layer(kind, stack, at),) + stack.layers[at:]
        _set(key, stacks.Stack(stack.input_shape, layers_))
        st.rerun()
    edited = stacks.Stack((c, h, w), tuple(layers))
    if edited != stack:
        st.session_state[f"{key}_text"] = stacks.encode(edited)
    st.query_params[URL_KEY] = stacks.encode(edited)
    return edited


def _new_layer(kind: str, stack: stacks.Stack, at: int) -> stacks.Layer:
    """A new layer whose numbers fit the shape at that position when they can."""
    prop = stacks.propagate(stacks.Stack(stack.input_shape, stack.layers[:at]))
    shape = prop.output_shape
    fitted = {"Conv2d": lambda: stacks.Conv2d(shape[0] if len(shape) == 3 else 1, 16, 3, padding=1),
              "BatchNorm2d": lambda: stacks.BatchNorm2d(shape[0] if len(shape) == 3 else 16),
              "Linear": lambda: stacks.Linear(shape[-1], 10)}
    return fitted.get(kind, stacks.KINDS[kind])()


def apply_fix(key: str, stack: stacks.Stack, error: stacks.Mismatch) -> None:
    if error.fix is not None:
        layers = list(stack.layers)
        layers[error.index] = error.fix
        _set(key, stacks.Stack(stack.input_shape, tuple(layers)))


@st.cache_data(show_spinner=False, max_entries=64)
def stack_summary(text: str, batch: int) -> Summary:
    """Measured on a model built from the layers that fit (a partial model when one doesn't)."""
    stack = stacks.decode(text).stack
    assert stack is not None
    prop = stacks.propagate(stack)
    fitting = stacks.Stack(stack.input_shape, stack.layers[:len(prop.rows)])
    return summarize(stacks.build(fitting), (batch,) + tuple(stack.input_shape))


@st.cache_data(show_spinner=False, max_entries=64)
def stack_dot(text: str) -> str:
    stack = stacks.decode(text).stack
    assert stack is not None
    fitting = stacks.Stack(stack.input_shape, stack.layers[:len(stacks.propagate(stack).rows)])
    return graph.module_dot(stacks.build(fitting), (1,) + tuple(stack.input_shape))


SIDES = {"resnet18": (32, 64, 128, 224)}  # input sides offered per registry entry (else its own side)
HEADS = (10, 1000)  # classes offered for a registry model's head
BUILT = "built"  # the registry entry of the builder's stacks


def registry_models() -> list[str]:
    """Every registry entry: the app's models, and the builder's stack (entry "built")."""
    return list(ARCHITECTURES)


def _shape_only(model: ModelConfig, classes: int, side: int) -> tuple[torch.nn.Module, tuple[int, int, int]]:
    entry = architecture(model.arch)
    shape = (entry.input_shape[0], side, side)
    with torch.device("meta"):  # no weights initialized: shapes and counts only
        return entry.builder(model, shape, classes), shape


@st.cache_data(show_spinner="Measuring every layer…", max_entries=16)
def model_summary(model: ModelConfig, classes: int, batch: int, side: int) -> Summary:
    module, shape = _shape_only(model, classes, side)
    return summarize(module, (batch, *shape))


@st.cache_data(show_spinner="Tracing the graph…", max_entries=8)
def model_dot(model: ModelConfig, classes: int, side: int) -> str:
    module, shape = _shape_only(model, classes, side)
    return graph.module_dot(module, (1, *shape))


def registry_spec(arch: str, text: str) -> ModelConfig | None:
    """The entry's default spec; for an entry built from a stack, the builder's stack `text` when it fits the
    entry (the digits: 1×28×28 in, 10 scores out), else None."""
    check = architecture(arch).spec_error
    if check is None:
        return ModelConfig(arch)
    return ModelConfig(arch, spec=text) if not check(text) else None


def built_config(text: str) -> ModelConfig | None:
    """The registry spec of the builder's stack when it fits the digits, else None."""
    return registry_spec(BUILT, text)


def train_settings(model: ModelConfig) -> TrainConfig:
    """The shared training controls (optimizer, learning rate, batch, epochs, seed) for a built stack."""
    return config_controls(BUILT, "ls_train", model)


def memory(nbytes: int) -> str:
    """'40 B', '3.1 KiB', '12.3 MiB': readable at every size (a 10-class output is 40 bytes per sample)."""
    size, unit = float(nbytes), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:,.0f} B" if unit == "B" else f"{size:,.1f} {unit}"


def summary_table(summary: Summary, max_depth: int) -> None:
    """The torchinfo-style table, containers folded below `max_depth`."""
    rows = [{"layer": "  " * (s.depth - 1) + (s.name or "model"), "type": s.kind, "depth": s.depth,
             "output shape": str(list(s.output_shape)), "params": s.total_params, "trainable": s.trainable,
             "mult-adds": s.mult_adds, "activation memory": memory(s.activation_bytes)}
            for s in summary.rows if s.depth <= max_depth]
    st.dataframe(rows, hide_index=True, width="stretch",
                 column_config={"type": st.column_config.TextColumn(width=110),  # BatchNorm2d fits
                                "depth": st.column_config.NumberColumn(width=60),
                                "trainable": st.column_config.TextColumn(width=80),
                                "params": st.column_config.NumberColumn(format="localized"),
                                "mult-adds": st.column_config.NumberColumn(format="localized")})
    st.caption(f"Total **{summary.params:,}** parameters ({summary.trainable_params:,} trainable), "
               f"**{summary.mult_adds:,}** mult-adds for this batch (FlopCounterMode flops ÷ 2: it counts "
               "matrix products and convolutions; pooling, ReLU and BatchNorm count 0), output "
               f"{list(summary.output_shape)}.")
