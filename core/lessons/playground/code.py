"""The Playground's network as one runnable PyTorch program: the data (TFP's own recipe, the app's source), the
features, the nn.Sequential, TFP's initial weights, the loss and the loop, with every learning-rate or
regularization change made while it trained. Run as is, it prints the losses the page shows (a test checks).
No Streamlit here.
"""
from __future__ import annotations

import inspect

from core.lessons.playground.config import DATASETS, FEATURES, MOMENTUM, PlaygroundConfig
from core.lessons.playground.data import MAKERS
from core.lessons.playground.network import ACTIVATIONS, penalty
from core.lessons.playground.run import Segment
from core.optimizers import optimizer_code

_LOSS_CODE = {
    "mse": ("def data_loss(out, y):  # TensorFlow Playground's loss: ½·mean((output − label)²)\n"
            "    return 0.5 * F.mse_loss(out, y)\n"),
    "bce": ("def data_loss(out, y):  # cross-entropy of the logit against the label as 0/1\n"
            "    return F.binary_cross_entropy_with_logits(out, (y + 1) / 2)\n"),
}


def _model_code(cfg: PlaygroundConfig) -> str:
    sizes = cfg.sizes
    act = f"nn.{ACTIVATIONS[cfg.activation].__name__}()"
    rows = [f"    nn.Linear({a}, {b}), {act}," for a, b in zip(sizes[:-2], sizes[1:-1])]
    if cfg.problem == "classification" and cfg.loss == "mse":
        rows.append(f"    nn.Linear({sizes[-2]}, 1), nn.Tanh(),  # the output in [-1, 1]: its sign is the class")
    elif cfg.problem == "classification":
        rows.append(f"    nn.Linear({sizes[-2]}, 1),  # a logit: > 0 is class +1")
    else:
        rows.append(f"    nn.Linear({sizes[-2]}, 1),  # the predicted value")
    return "model = nn.Sequential(\n" + "\n".join(rows) + "\n)"


def _features_code(cfg: PlaygroundConfig) -> str:
    if not cfg.features:
        return ("def features(xy):  # no features switched on: the network sees only its biases\n"
                "    return xy.new_zeros(len(xy), 0)  # (N, 0)\n")
    exprs = ", ".join(FEATURES[f].expr for f in cfg.features)
    return ("def features(xy):  # the input layer: the features switched on\n"
            "    x1, x2 = xy[:, 0], xy[:, 1]\n"
            f"    return torch.stack([{exprs}], dim=1)  # (N, {len(cfg.features)})\n")


def program(cfg: PlaygroundConfig, segments: tuple[Segment, ...]) -> str:
    """The program that trains the network of `cfg` through `segments` (the stretches of epochs and their live
    settings; the last one is `cfg`'s) and prints its final losses, as the page computes them."""
    segments = tuple(s for s in segments if s.epochs or s.edits) or (Segment.of(cfg),)
    typed = any(s.edits for s in segments)
    regularized = any(s.regularization != "none" and s.reg_rate for s in segments)
    n, n_train = cfg.points, cfg.n_train
    batch = cfg.batch_size or n_train
    maker = MAKERS[cfg.dataset]
    first = segments[0].apply(cfg)
    opt = optimizer_code(cfg.optimizer, "model.parameters()", first.lr, MOMENTUM, fused=True)
    args = ", kind, rate" if regularized else ""
    add_penalty = ("        if kind != \"none\" and rate:\n"
                   "            loss = loss + penalty(model, kind, rate)\n") if regularized else ""
    if len(segments) == 1:
        s = segments[0]
        call = f'train_epoch("{s.regularization}", {s.reg_rate!r})' if regularized else "train_epoch()"
        loop = f"for epoch in range({s.epochs}):\n    {call}\n"
        if s.edits:
            loop = ("with torch.no_grad():  # the weights typed on the page\n"
                    + "".join(f"    model[{2 * e.layer}].weight[{e.neuron}, {e.source}] = {e.value!r}\n"
                              for e in s.edits) + "\n" + loop)
    else:
        def row(s: Segment) -> str:
            edits = ", ".join(f"({2 * e.layer}, {e.neuron}, {e.source}, {e.value!r})" for e in s.edits)
            return f'    ({s.epochs}, {s.lr!r}, "{s.regularization}", {s.reg_rate!r}' + (
                f", [{edits}])," if typed else "),")

        call = "train_epoch(kind, rate)" if regularized else "train_epoch()"
        what = "learning rate and regularization changed, or weights were typed," if typed else \
            "learning rate and regularization changed"
        loop = (f"# The {what} while it trained: each stretch with its own.\n"
                f"schedule = [  # (epochs, learning rate, regularization, rate"
                + (", weights typed before it: (module, row, column, value))" if typed else ")")
                + "\n" + "\n".join(row(s) for s in segments) + "\n]\n"
                + ("for epochs, lr, kind, rate, typed in schedule:\n" if typed else
                   "for epochs, lr, kind, rate in schedule:\n")
                + "    for group in optimizer.param_groups:\n"
                "        group[\"lr\"] = lr\n"
                + ("    with torch.no_grad():\n"
                   "        for module, row, column, value in typed:\n"
                   "            model[module].weight[row, column] = value\n" if typed else "")
                + "    for epoch in range(epochs):\n"
                f"        {call}\n")
    accuracy, shown = "", ""
    if cfg.problem == "classification":  # the output's sign is the class (a tanh output, or a logit)
        accuracy = "    accuracy = ((model(x_test) >= 0) == (y_test > 0)).float().mean().item()\n"
        shown = ", test accuracy {accuracy:.1%}"
    penalty_src = ("\n\n" + inspect.getsource(penalty)) if regularized else ""
    epochs = sum(s.epochs for s in segments)
    plural = f"{epochs:,} epoch{'s' if epochs != 1 else ''}"
    imports = "import math\n\n" if "math." in inspect.getsource(maker) else ""
    return f'''"""TensorFlow Playground's {DATASETS[cfg.dataset].label} data in plain PyTorch: {cfg.shape_label()}, \
{plural}. The network on the Playground page: same numbers."""
{imports}import torch
import torch.nn.functional as F
from torch import nn

g = torch.Generator().manual_seed({cfg.seed})  # one generator: data, split, initial weights, each epoch's order


{inspect.getsource(maker)}

xy, label = {maker.__name__}({n}, {cfg.noise / 100!r}, g)  # ({n}, 2) points in [-6, 6]², ({n},) labels
order = torch.randperm({n}, generator=g)  # shuffled; the first {cfg.train_pct}% are the training points
train, test = order[:{n_train}], order[{n_train}:]


{_features_code(cfg)}

x_train, y_train = features(xy[train]), label[train].unsqueeze(1)  # ({n_train}, {len(cfg.features)}), ({n_train}, 1)
x_test, y_test = features(xy[test]), label[test].unsqueeze(1)

{_model_code(cfg)}
with torch.no_grad():  # TensorFlow Playground's initial weights: uniform in [-0.5, 0.5), biases 0.1
    for layer in model:
        if isinstance(layer, nn.Linear):
            if layer.weight.numel():
                layer.weight.uniform_(-0.5, 0.5, generator=g)
            layer.bias.fill_(0.1)

optimizer = {opt}


{_LOSS_CODE[cfg.loss]}{penalty_src}


def train_epoch({args.removeprefix(", ")}):  # every training point once, in a new order, {batch} at a time
    order = torch.randperm({n_train}, generator=g)
    for i in range(0, {n_train}, {batch}):
        idx = order[i:i + {batch}]
        loss = data_loss(model(x_train[idx]), y_train[idx])
{add_penalty}        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


{loop}
with torch.no_grad():  # the page's numbers: the loss on all training and all test points
    train_loss = data_loss(model(x_train), y_train).item()
    test_loss = data_loss(model(x_test), y_test).item()
{accuracy}print(f"after {plural}: train loss {{train_loss:.6f}}, test loss {{test_loss:.6f}}{shown}")
'''.replace("\n\n\n\n", "\n\n\n")
