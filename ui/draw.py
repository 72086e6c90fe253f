"""The Draw page's model calls: a drawing through a stored model (read-only; attributions on a private twin)."""
from __future__ import annotations

import numpy as np
import torch

from core.attribution.methods import Attribution, AttributionSpec, attribute
from core.data.digits import Steps
from core.data.normalization import MNIST_NORM
from core.models.inspection import activations, predict_proba
from ui import resources


def probabilities(model: torch.nn.Module, steps: Steps) -> np.ndarray:
    """(10,) softmax probabilities of the drawing's normalized tensor."""
    return predict_proba(model, steps.tensor.to(resources.device()))[0].numpy()


def saliency(model: torch.nn.Module, steps: Steps) -> Attribution:
    """Captum's Saliency of the predicted class, on the ink in [0, 1] before normalizing (the model wrapped)."""
    pixels = torch.from_numpy(steps.centred)[None, None]  # (1, 1, 28, 28)
    return attribute(model, pixels, AttributionSpec("saliency"), MNIST_NORM)


def feature_maps(model: torch.nn.Module, steps: Steps) -> dict[str, torch.Tensor]:
    """Every layer's output for the drawing, by layer name (hooks on a private copy)."""
    return dict(activations(model, steps.tensor.to(resources.device())))
