"""Captum Saliency on shared models: shape, sign kept, no .grad left behind, no memory growth."""
import gc
import resource
import warnings

import conv_fixtures  # noqa: F401  (offline, temp home)
import numpy as np
import torch
import torch.nn.functional as F

from core.config import ModelConfig
from core.explain import saliency
from core.models import build_model


def shared_model(arch: str) -> torch.nn.Sequential:
    """Like ui.cache's stored models: eval mode, requires_grad off."""
    model = build_model(ModelConfig(arch=arch, hidden=16), torch.Generator().manual_seed(0))
    return model.requires_grad_(False).eval()


def test_saliency_shape_and_target():
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for arch in ("net2", "cnn"):
        model = shared_model(arch)
        sal = saliency(model, x)
        assert sal.grad.shape == (28, 28) and sal.grad.dtype == np.float32
        assert sal.target == int(model(x).argmax(1))
        assert np.isfinite(sal.grad).all() and sal.limit > 0
        assert (sal.grad < 0).any() and (sal.grad > 0).any()  # the sign is kept
        assert saliency(model, x, target=3).target == 3


def test_saliency_is_the_input_gradient():
    model = shared_model("cnn")
    x = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xx)[0, 4], xx)
    assert np.allclose(saliency(model, x, target=4).grad, g[0, 0].numpy(), atol=1e-6)


def test_no_grad_left_on_parameters_even_if_they_require_grad():
    for requires in (False, True):
        model = build_model(ModelConfig(arch="cnn", hidden=16)).eval().requires_grad_(requires)
        saliency(model, torch.randn(1, 1, 28, 28))
        assert all(p.grad is None for p in model.parameters())
        assert all(p.requires_grad == requires for p in model.parameters())  # not toggled
        assert not model.training
        assert not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks for m in model.modules())


def test_works_inside_no_grad_and_rejects_batches():
    model = shared_model("net2")
    with torch.no_grad():
        assert saliency(model, torch.randn(1, 1, 28, 28)).grad.shape == (28, 28)
    try:
        saliency(model, torch.randn(2, 1, 28, 28))
    except ValueError as e:
        assert "one image" in str(e)
    else:
        raise AssertionError("a batch of 2 should be refused")


def _live_tensors() -> int:
    with warnings.catch_warnings():  # isinstance on every gc object pokes deprecated torch attributes
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_hundred_runs_without_memory_growth():
    model = shared_model("cnn")
    x = torch.randn(1, 1, 28, 28)
    for _ in range(10):  # warm-up: Captum import, allocator pools
        saliency(model, x)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    live_before = _live_tensors()
    for _ in range(100):
        saliency(model, x)
    gc.collect()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    live_after = _live_tensors()
    assert grown_kib < 20 * 1024, f"peak memory grew by {grown_kib / 1024:.1f} MiB over 100 runs"
    assert live_after - live_before <= 2  # no tensors kept alive (graphs, activations)
    assert F.softmax(model(x), 1).shape == (1, 10)
