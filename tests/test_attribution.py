"""core.attribution: every method on Net2, CNNDemo and ResNet-18 against PyTorch itself; shared models untouched."""
from __future__ import annotations

import copy
import gc
import resource
import threading
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18
from torchvision.models.resnet import BasicBlock

from core.attribution.methods import (
    METHODS,
    AttributionError,
    AttributionSpec,
    MethodUnavailable,
    attribute,
    conv_layers,
    predict,
    unavailable_reason,
)
from core.attribution.twins import twin, twins
from core.data.normalization import IMAGENET_NORM, MNIST_NORM
from core.models.zoo import CNNDemo, Net2, reset_parameters

SHAPES = {"net2": (1, 28, 28), "cnn": (1, 28, 28), "resnet": (3, 32, 32)}
NORMS = {"net2": MNIST_NORM, "cnn": MNIST_NORM, "resnet": IMAGENET_NORM}
FAST = {"steps": 8, "samples": 4}  # small settings: the tests check correctness, the bench checks speed


def shared(kind: str, requires_grad: bool = False) -> nn.Module:
    """Like the app's cached models: eval mode, requires_grad off (or on, to check it is not toggled)."""
    g = torch.Generator().manual_seed(0)
    if kind == "resnet":
        model = resnet18(weights=None, num_classes=10)  # torchvision's init draws from the global RNG
        reset_parameters(model, g)
        with torch.no_grad():  # non-trivial BatchNorm statistics so eval mode matters
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1, generator=g)
                    m.running_var.uniform_(0.5, 1.5, generator=g)
    else:
        model = reset_parameters(Net2(16) if kind == "net2" else CNNDemo(16), g)
    return model.eval().requires_grad_(requires_grad)


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    return {k: shared(k) for k in SHAPES}


def image(kind: str, seed: int = 0) -> torch.Tensor:
    return torch.rand((1, *SHAPES[kind]), generator=torch.Generator().manual_seed(seed))  # (1, C, H, W) in [0, 1]


def spec(method: str, kind: str) -> AttributionSpec:
    return AttributionSpec(method, **FAST, **({"window": 8, "stride": 8} if kind == "resnet" else {}))


def normalized_logits(model: nn.Module, kind: str, x: torch.Tensor) -> torch.Tensor:
    mean, std = (torch.tensor(v).reshape(1, -1, 1, 1) for v in NORMS[kind])
    return model((x - mean) / std)


@pytest.mark.parametrize("kind", list(SHAPES))
@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_gives_a_finite_map_of_the_image_size(models, kind, method):
    model, x = models[kind], image(kind)
    reason = unavailable_reason(method, conv_layers(model, SHAPES[kind]))
    if reason is not None:  # Grad-CAM family on the fully connected net
        assert kind == "net2" and METHODS[method].needs_layer and "convolution layer" in reason
        with pytest.raises(MethodUnavailable):
            attribute(model, x, spec(method, kind), NORMS[kind])
        return
    a = attribute(model, x, spec(method, kind), NORMS[kind])
    h, w = SHAPES[kind][1:]
    assert a.values.shape[-2:] == (h, w) and a.values.ndim in (2, 3) and a.map2d().shape == (h, w)
    assert a.values.dtype == np.float32 and np.isfinite(a.values).all() and np.abs(a.values).max() > 0
    assert a.target == int(normalized_logits(model, kind, x).argmax(1)) and a.seconds > 0
    assert attribute(model, x, spec(method, kind), NORMS[kind], target=3).target == 3


def test_saliency_is_the_pixel_gradient_with_its_sign(models):
    model, x = models["cnn"], image("cnn", 1)
    xx = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(normalized_logits(model, "cnn", xx)[0, 4], xx)
    a = attribute(model, x, AttributionSpec("saliency"), MNIST_NORM, target=4)
    assert np.allclose(a.values, g[0].numpy(), atol=1e-6)
    assert (a.values < 0).any() and (a.values > 0).any()  # the sign is kept
    assert a.limit == pytest.approx(float(np.abs(g).max()))


def test_integrated_gradients_add_up_to_the_score_difference(models):
    model, x = models["cnn"], image("cnn", 2)
    for baseline in ("black", "blurred", "noise"):
        s = AttributionSpec("integrated_gradients", steps=300, baseline=baseline, seed=5)
        a = attribute(model, x, s, MNIST_NORM, target=2)
        from core.attribution.methods import BASELINES
        base = BASELINES[baseline](x, torch.Generator().manual_seed(5))
        with torch.no_grad():
            diff = float(normalized_logits(model, "cnn", x)[0, 2] - normalized_logits(model, "cnn", base)[0, 2])
        assert a.values.sum() == pytest.approx(diff, rel=0.03, abs=1e-3)


def test_grad_cam_is_the_papers_formula(models):
    """ReLU(sum_k mean(dS/dA_k) A_k) on relu2 of the CNN, upsampled bilinearly: computed here with plain autograd."""
    model, x = models["cnn"], image("cnn", 3)
    acts = {}
    h = model.relu2.register_forward_hook(lambda m, i, o: acts.setdefault("a", o))
    try:
        score = normalized_logits(model, "cnn", x.clone().requires_grad_(True))[0, 7]
    finally:
        h.remove()
    (grad,) = torch.autograd.grad(score, acts["a"])  # (1, 32, 14, 14)
    cam = F.relu((grad.mean((2, 3), keepdim=True) * acts["a"]).sum(1, keepdim=True))
    expected = F.interpolate(cam, size=(28, 28), mode="bilinear")[0, 0].detach().numpy()
    for relu in (True, False):
        a = attribute(model, x, AttributionSpec("grad_cam", relu=relu), MNIST_NORM, target=7)
        assert a.layer == "relu2" and a.values.shape == (28, 28)
        if relu:
            assert np.allclose(a.values, expected, atol=1e-6) and (a.values >= 0).all()
        else:
            assert a.values.min() <= expected.min()  # negative evidence kept without the ReLU
    other = attribute(model, x, AttributionSpec("grad_cam", layer="conv1"), MNIST_NORM, target=7)
    assert other.layer == "conv1" and other.values.shape == (28, 28)
    with pytest.raises(AttributionError):
        attribute(model, x, AttributionSpec("grad_cam", layer="no_such_layer"), MNIST_NORM)


def test_occlusion_of_the_whole_image_is_the_score_drop(models):
    model, x = models["cnn"], image("cnn", 4)
    a = attribute(model, x, AttributionSpec("occlusion", window=28, stride=28), MNIST_NORM, target=1)
    with torch.no_grad():
        drop = float(normalized_logits(model, "cnn", x)[0, 1] - normalized_logits(model, "cnn", 0 * x)[0, 1])
    assert np.allclose(a.values, drop, atol=1e-5)
    with pytest.raises(AttributionError, match="larger than the image"):
        attribute(model, x, AttributionSpec("occlusion", window=40), MNIST_NORM)


def test_smoothgrad_is_seeded_and_without_noise_is_saliency(models):
    model, x = models["net2"], image("net2", 5)
    sal = attribute(model, x, AttributionSpec("saliency"), MNIST_NORM, target=0).values
    flat = attribute(model, x, AttributionSpec("smoothgrad", samples=3, noise=0.0), MNIST_NORM, target=0).values
    assert np.allclose(flat, sal, atol=1e-6)
    s = AttributionSpec("smoothgrad", samples=5, noise=0.2, seed=9)
    first, again = (attribute(model, x, s, MNIST_NORM, target=0).values for _ in range(2))
    assert np.array_equal(first, again) and not np.allclose(first, sal)
    state = torch.get_rng_state()
    attribute(model, x, s, MNIST_NORM, target=0)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left as it was


def test_guided_backprop_matches_captum_on_a_plain_copy(models):
    from captum.attr import GuidedBackprop

    from core.attribution.methods import FromPixels

    model, x = models["cnn"], image("cnn", 6)
    raw = GuidedBackprop(FromPixels(copy.deepcopy(model), *MNIST_NORM)).attribute(x.clone(), target=5)
    ours = attribute(model, x, AttributionSpec("guided_backprop"), MNIST_NORM, target=5)
    assert np.allclose(ours.values, raw[0].detach().numpy(), atol=1e-6)


def test_resnet_twin_has_one_relu_per_use_and_the_same_logits(models):
    model = models["resnet"]
    x = image("resnet", 7)
    private = twin(model, one_relu_per_use=True)
    with torch.no_grad():
        assert torch.allclose(private(x), model(x), atol=1e-5)
    assert not any(isinstance(m, BasicBlock) for m in private.modules())  # blocks rewritten in the twin only
    assert sum(isinstance(m, BasicBlock) for m in model.modules()) == 8
    assert all(not m.inplace for m in private.modules() if isinstance(m, nn.ReLU))
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))  # the shared model is as it was
    shared_ptrs = {p.data_ptr() for p in model.parameters()}
    assert {p.data_ptr() for p in private.parameters()} == shared_ptrs  # no weights copied
    counts: dict[str, int] = {}
    hooks = [m.register_forward_hook(lambda *_, n=n: counts.__setitem__(n, counts.get(n, 0) + 1))
             for n, m in private.named_modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        private(x)
    for h in hooks:
        h.remove()
    assert len(counts) == 17 and set(counts.values()) == {1}  # 1 stem ReLU + 2 per block, each used once


def test_guided_methods_refuse_a_relu_module_used_twice():
    class Reuses(nn.Module):  # not in SPLIT_RELU: the twin cannot give it one ReLU per use
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.relu, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Linear(4 * 28 * 28, 10)

        def forward(self, x):
            return self.fc(self.relu(self.relu(self.conv(x)) - 0.1).flatten(1))

    model = Reuses().eval()
    with pytest.raises(MethodUnavailable, match="one ReLU module per use"):
        attribute(model, image("cnn"), AttributionSpec("guided_backprop"), MNIST_NORM)
    assert attribute(model, image("cnn"), AttributionSpec("saliency"), MNIST_NORM).values.shape == (1, 28, 28)


def test_default_grad_cam_layer_per_model(models):
    assert conv_layers(models["cnn"], (1, 28, 28)).default == "relu2"
    assert conv_layers(models["net2"], (1, 28, 28)).names == ()
    big = conv_layers(models["resnet"], (3, 224, 224))
    assert big.default == "layer4" and big.shapes[big.names.index("layer4")] == (512, 7, 7)
    assert "layer4.1" in big.names and "layer1.0.conv1" in big.names
    small = conv_layers(models["resnet"], (3, 32, 32))
    assert small.default == "layer3" and small.flat == ("layer4",)  # layer4 is 1×1 at 32 px: named, left out
    assert big.flat == () and conv_layers(models["cnn"], (1, 28, 28)).flat == ()


def snapshot(model: nn.Module) -> dict:
    return {"state": {k: v.clone() for k, v in model.state_dict().items()},
            "modes": [m.training for m in model.modules()],
            "requires_grad": [p.requires_grad for p in model.parameters()],
            "grads": [p.grad for p in model.parameters()],
            "hooks": [len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                      + len(m._backward_pre_hooks) for m in model.modules()],
            "modules": [type(m) for m in model.modules()],
            "inplace": [m.inplace for m in model.modules() if isinstance(m, nn.ReLU)]}


def assert_untouched(before: dict, model: nn.Module) -> None:
    after = snapshot(model)
    assert all(torch.equal(before["state"][k], after["state"][k]) for k in before["state"])
    assert {k: v for k, v in before.items() if k != "state"} == {k: v for k, v in after.items() if k != "state"}


@pytest.mark.parametrize("requires_grad", [False, True])
def test_the_shared_model_is_untouched_by_every_method(requires_grad):
    for kind in ("cnn", "resnet"):
        model = shared(kind, requires_grad)
        before = snapshot(model)
        for method in METHODS:
            attribute(model, image(kind), spec(method, kind), NORMS[kind])
        assert all(p.grad is None for p in model.parameters())
        assert_untouched(before, model)


@pytest.mark.parametrize("shared_twins", [False, True])
def test_two_threads_on_one_model_do_not_interfere(models, shared_twins):
    """Each call's own twin, or one cached pair of twins both threads use under its lock (as the page does)."""
    model = models["resnet"]
    before = snapshot(model)
    reuse = twins(model) if shared_twins else None
    jobs = [("guided_backprop", 0), ("grad_cam", 1), ("saliency", 2), ("guided_grad_cam", 3)] * 2
    expected = {j: attribute(model, image("resnet", j[1]), spec(j[0], "resnet"), IMAGENET_NORM).values for j in jobs}
    results: dict = {}
    errors: list = []
    start = threading.Barrier(2)

    def work(part):
        try:
            start.wait()
            for j in part:
                results[j] = attribute(model, image("resnet", j[1]), spec(j[0], "resnet"), IMAGENET_NORM,
                                       reuse=reuse).values
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(jobs[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(np.allclose(results[j], expected[j], atol=1e-5) for j in jobs)
    assert_untouched(before, model)


def test_predict_gives_the_top_five_with_probabilities(models):
    model, x = models["resnet"], image("resnet", 8)
    p = predict(model, x, IMAGENET_NORM)
    ref = F.softmax(normalized_logits(model, "resnet", x), 1)[0].detach().numpy()
    assert np.allclose(p.probs, ref, atol=1e-6) and len(p.top) == 5
    assert [c for c, _ in p.top] == list(np.argsort(-ref)[:5]) and p.predicted == int(ref.argmax())
    assert all(a >= b for (_, a), (_, b) in zip(p.top, p.top[1:]))


@pytest.mark.parametrize("bad", [{"method": "lime"}, {"steps": 0}, {"samples": 0}, {"noise": 2.0},
                                 {"baseline": "white"}, {"window": 0}])
def test_bad_settings_are_refused_in_words(bad):
    with pytest.raises(AttributionError):
        AttributionSpec(**bad)


def test_a_class_that_does_not_exist_and_a_batch_are_refused(models):
    with pytest.raises(AttributionError, match="does not exist"):
        attribute(models["cnn"], image("cnn"), AttributionSpec("saliency"), MNIST_NORM, target=10)
    with pytest.raises(AttributionError, match="one image"):
        attribute(models["cnn"], torch.rand(2, 1, 28, 28), AttributionSpec("saliency"), MNIST_NORM)
    with torch.no_grad():  # works when the caller is inside no_grad
        a = attribute(models["cnn"], image("cnn"), AttributionSpec("saliency"), MNIST_NORM)
    assert a.values.shape == (1, 28, 28)


def _live_tensors() -> int:
    with warnings.catch_warnings():  # isinstance on every gc object pokes deprecated torch attributes
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_hundred_attributions_without_memory_growth(models):
    model, x = models["cnn"], image("cnn")
    specs = [AttributionSpec("saliency"), AttributionSpec("grad_cam"), AttributionSpec("guided_backprop")]
    for i in range(9):  # warm-up: Captum import, allocator pools
        attribute(model, x, specs[i % 3], MNIST_NORM)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    live_before = _live_tensors()
    for i in range(100):
        attribute(model, x, specs[i % 3], MNIST_NORM)
    gc.collect()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 20 * 1024, f"peak memory grew by {grown_kib / 1024:.1f} MiB over 100 runs"
    assert _live_tensors() - live_before <= 2  # no tensors kept alive (graphs, activations, twins)
    assert snapshot(model)["hooks"] == [0] * len(list(model.modules()))


@pytest.mark.parametrize("method", list(METHODS))
def test_the_code_shown_computes_the_same_map(models, method):
    from core.attribution.code import attribution_code

    model, x = models["cnn"], image("cnn", 9)
    baseline = "blurred" if method == "integrated_gradients" else "black"
    s = AttributionSpec(method, steps=10, samples=3, baseline=baseline,
                        layer="relu2" if METHODS[method].needs_layer else None)
    code = attribution_code(s, MNIST_NORM, 28)
    scope = {"model": copy.deepcopy(model), "pixels": x.clone(), "target": 4}
    with torch.random.fork_rng():
        exec(compile(code, f"<{method} code>", "exec"), scope)  # noqa: S102 - our own generated code, tested
    ours = attribute(model, x, s, MNIST_NORM, target=4).values
    assert np.allclose(scope["attr"].detach().numpy().reshape(ours.shape), ours, atol=1e-5), code


def test_normalizations_are_defined_once_and_match_torchvision():
    """MNIST_NORM / IMAGENET_NORM / CIFAR_NORM live in core.data.normalization only; ImageNet's equals the weights'
    own transform."""
    import re
    from pathlib import Path

    from torchvision.models import ResNet18_Weights

    from core.data import normalization as data

    t = ResNet18_Weights.IMAGENET1K_V1.transforms()
    assert data.IMAGENET_NORM == (tuple(t.mean), tuple(t.std))
    assert data.MNIST_NORM == ((data.MNIST_MEAN,), (data.MNIST_STD,))
    root = Path(__file__).resolve().parents[1]
    defining = re.compile(r"^\s*(MNIST|IMAGENET|CIFAR|DIGITS)_NORM\b[^=\n]*=(?!=)", re.M)
    found = [str(p.relative_to(root)) for d in ("core", "ui", "pages", "bench") for p in (root / d).rglob("*.py")
             if defining.search(p.read_text())]
    assert found == ["core/data/normalization.py"]


def test_reused_twins_give_the_same_maps_and_stay_clean():
    """attribute(..., reuse=twins(model)) == a fresh twin per call, for every method; the model and the twins
    are left as they were (no hooks, modes, grads), and twins of another model are refused."""
    for kind in ("cnn", "resnet"):
        model = shared(kind)
        before = snapshot(model)
        reuse = twins(model)
        clean = (snapshot(reuse.plain), snapshot(reuse.guided))
        for method in METHODS:
            fresh = attribute(model, image(kind), spec(method, kind), NORMS[kind], target=1).values
            again = attribute(model, image(kind), spec(method, kind), NORMS[kind], target=1, reuse=reuse).values
            assert np.allclose(fresh, again, atol=1e-6), (kind, method)
        assert_untouched(before, model)
        assert_untouched(clean[0], reuse.plain)
        assert_untouched(clean[1], reuse.guided)
        assert not reuse.lock.locked()
    with pytest.raises(ValueError, match="another model"):
        attribute(shared("cnn"), image("cnn"), AttributionSpec("saliency"), MNIST_NORM, reuse=twins(shared("cnn")))
