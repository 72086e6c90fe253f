"""The one table of the app's pages, in the learning path's order: the sidebar navigation, Home's numbered path and
each page's last line ("Next: ...") are all made from it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import streamlit as st


@dataclass(frozen=True)
class Stop:
    """One page: its file, its sidebar entry, what it teaches (Home's list) and what to try there (the previous
    page's link)."""

    page: str  # "pages/<key>.py"; <key> is also the page's address
    title: str
    blurb: str
    try_this: str
    icon: str = ":material/article:"
    section: str = "Concepts"  # the sidebar group

    @property
    def key(self) -> str:
        return Path(self.page).stem


PATH: tuple[Stop, ...] = (
    Stop("pages/home.py", "Home", "What the app teaches and where to start.",
         "See the whole path again.",
         icon=":material/home:", section="Start"),
    Stop("pages/tensors.py", "Tensors & autograd", "Build tensors, apply operations, see broadcasting, strides and "
         "views; watch `loss.backward()` fill in gradients on a computation graph.",
         "Try: pick an operation, predict the result's shape before you look, then run backward on the graph.",
         icon=":material/data_array:"),
    Stop("pages/playground.py", "Playground", "TensorFlow Playground in real PyTorch: a small network learns a 2-D "
         "boundary while you watch, every neuron drawn as a heatmap of its output, every edge as its weight.",
         "Try: XOR with no hidden layer, then add x₁·x₂ or a hidden layer, and watch it learn.",
         icon=":material/scatter_plot:"),
    Stop("pages/fully_connected.py", "Fully connected net", "Train `Net2` (784 → 128 → 10) on MNIST, watch the "
         "loss fall live, and look at the weights, predictions and mistakes it ends up with.",
         "Try: train Net2 with the default settings, then again with 16 hidden units, and compare the curves.",
         icon=":material/hub:"),
    Stop("pages/losses.py", "Loss functions", "CrossEntropy taken apart into LogSoftmax and NLL; MSE vs L1 and why "
         "outliers matter.",
         "Try: make one logit much larger than the target's and watch the loss and its gradient grow.",
         icon=":material/trending_down:"),
    Stop("pages/optimizers.py", "Optimizers", "SGD, momentum and Adam racing down loss surfaces, then training the "
         "real network side by side.",
         "Try: race SGD and Adam on the Rosenbrock valley, then train your network with each of them.",
         icon=":material/landscape:"),
    Stop("pages/layer_shapes.py", "Layer shapes", "Stack layers and watch the shapes flow; the layer that doesn't "
         "fit, named with the number that would; parameters, mult-adds and memory per layer; ResNet-18 inside.",
         "Try: stack layers until one does not fit, and read which number would.",
         icon=":material/stacks:"),
    Stop("pages/convolutions.py", "Convolutions", "`CNNDemo`: filters, feature maps, why the Linear layer takes "
         "32·7·7 inputs, and the arithmetic of one output value, step by step.",
         "Try: train the CNN and compare its accuracy with your fully connected net's.",
         icon=":material/grid_on:"),
    Stop("pages/draw.py", "Draw a digit", "Your drawing, preprocessed like MNIST, through your own trained MLP and "
         "CNN, with feature maps and saliency.",
         "Try: draw a digit off-centre and see whether your MLP and your CNN still agree.",
         icon=":material/draw:"),
    Stop("pages/transfer.py", "Transfer learning", "ResNet-18: frozen vs trainable parameters, feature extraction "
         "vs fine-tuning, on CIFAR-10 with ImageNet weights, on a few-label digits task, or on classes of your own "
         "photos.",
         "Try: feature extraction and fine-tuning on the same few labels, and compare accuracy and time.",
         icon=":material/model_training:"),
    Stop("pages/saliency.py", "Saliency", "Upload a photo (or pick one) and see why a model predicted what it did: "
         "seven Captum attribution methods side by side, honest about sign and scale.",
         "Try: two attribution methods on the same photo, and see where they disagree.",
         icon=":material/center_focus_strong:"),
    Stop("pages/runs.py", "Training runs", "Every run you trained, in one table, with loss and accuracy curves "
         "overlaid to compare them.",
         "Try: overlay all your runs and find the one that overfits first.",
         icon=":material/monitoring:", section="Your work"),
)


def navigation() -> dict[str, list]:
    """The sidebar: every page of the table as an st.Page, grouped by section in the table's order."""
    sections: dict[str, list] = {}
    for stop in PATH:
        sections.setdefault(stop.section, []).append(
            st.Page(stop.page, title=stop.title, icon=stop.icon, default=stop is PATH[0]))
    return sections


def following(page_file: str) -> Stop:
    """The stop after the page whose script is `page_file` (the last page leads back Home)."""
    names = [Path(s.page).name for s in PATH]
    i = names.index(Path(page_file).name)
    return PATH[(i + 1) % len(PATH)]


def next_label(page_file: str) -> str:
    """The label (markdown) of the link that ends the page whose script is `page_file`; no other page draws it."""
    stop = following(page_file)
    return f"Next: **{stop.title}**" if stop.page != PATH[0].page else "Back to the start: **Home**"


def next_step(page_file: str) -> None:
    """The last thing on every page: a link to the next page on the path and what to try there.
    Call as `next_step(__file__)`."""
    stop = following(page_file)
    st.divider()
    with st.container(border=True):
        label = next_label(page_file)
        try:
            st.page_link(stop.page, label=label, icon=":material/arrow_forward:")
        except st.errors.StreamlitAPIException:  # the page run on its own (tests): no navigation to link into
            st.markdown(label)
        st.caption(stop.try_this)


def stop_here(page_file: str) -> NoReturn:
    """End the page early (nothing trained yet, no picture, no model), still with its link to the next page.
    Every early stop goes through here: `stop_here(__file__)` instead of `st.stop()`."""
    next_step(page_file)
    st.stop()
