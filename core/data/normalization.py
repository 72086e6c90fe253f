"""The normalization constants of every dataset and pretrained weight set: (mean per channel, std per channel)."""
from __future__ import annotations

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
Norm = tuple[tuple[float, ...], tuple[float, ...]]  # (mean per channel, std per channel) of pixels in [0, 1]


# The one definition of each normalization; models, attribution, transfer and benchmarks import these.
MNIST_NORM: Norm = ((MNIST_MEAN,), (MNIST_STD,))
DIGITS_NORM: Norm = ((MNIST_MEAN,) * 3, (MNIST_STD,) * 3)  # MNIST digits as 3-channel images


IMAGENET_NORM: Norm = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # ResNet18_Weights.IMAGENET1K_V1.transforms()
CIFAR_NORM: Norm = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
