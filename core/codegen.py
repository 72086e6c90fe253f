"""Plain PyTorch code equivalent to a TrainConfig (shown in the app's code panels).

The code is self-contained and runnable: tests execute it on a small dataset.
"""
from __future__ import annotations

from core.config import TrainConfig
from core.data import MNIST_MEAN, MNIST_STD
from core.models import MNIST_INPUT, architecture, model_code

_OPTIMIZERS = {
    "sgd": "torch.optim.SGD(model.parameters(), lr={lr!r})",
    "momentum": "torch.optim.SGD(model.parameters(), lr={lr!r}, momentum={momentum!r})",
    "adam": "torch.optim.Adam(model.parameters(), lr={lr!r})",
}
_IMPORTS = ("import torch", "import torch.nn.functional as F", "from torch import nn",
            "from torchvision import datasets")


def training_code(cfg: TrainConfig) -> str:
    """A runnable program that trains `cfg` on MNIST; the model's code comes from its registry entry."""
    shape = architecture(cfg.model.arch).input_shape
    if shape != MNIST_INPUT:
        raise ValueError(f"{cfg.model.arch} takes {shape} inputs, not MNIST digits {MNIST_INPUT}")
    code = model_code(cfg.model)
    imports = "\n".join(dict.fromkeys(code.imports + _IMPORTS))  # each import once, the model's first
    c, h, w = shape
    opt = _OPTIMIZERS[cfg.optimizer].format(lr=cfg.lr, momentum=cfg.momentum)
    return f'''{imports}

device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed({cfg.seed})

# Decode MNIST once into tensors on the device: no per-sample PIL transforms.
train_set = datasets.MNIST("data", train=True, download=True)
test_set = datasets.MNIST("data", train=False, download=True)

def to_input(images):  # uint8 (N, {h}, {w}) -> normalized float (N, {c}, {h}, {w})
    return ((images.float() / 255 - {MNIST_MEAN}) / {MNIST_STD}).unsqueeze(1).to(device)

x_train, y_train = to_input(train_set.data), train_set.targets.to(device)
x_test, y_test = to_input(test_set.data), test_set.targets.to(device)

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
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(f"epoch {{epoch + 1}}: last batch loss {{loss.item():.4f}}, test accuracy {{accuracy:.2%}}")
'''
