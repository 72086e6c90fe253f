"""The layer builder and its measured layer table (core.models.inspection.summarize), checked against PyTorch itself."""
from __future__ import annotations

import contextlib
import io
import random

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from core.models import stacks
from core.models.inspection import summarize
from core.models.zoo import CNNDemo, Net2


def random_layer(rng: random.Random, shape: tuple[int, ...]) -> stacks.Layer:
    """A layer that usually fits `shape` (channel counts follow it 19 times in 20), sometimes not."""
    c = shape[0] if len(shape) == 3 and rng.random() < 0.95 else rng.randint(1, 8)
    stride = 0 if rng.random() < 0.03 else rng.choice([1, 1, 1, 2, 3])
    maps = len(shape) == 3 and min(shape[1:]) > 1
    kind = rng.choice(list(stacks.KINDS) if maps or rng.random() < 0.05 else ["Linear", "ReLU", "Dropout", "Flatten"])
    if kind == "Conv2d":
        return stacks.Conv2d(c, rng.randint(1, 8), rng.randint(1, 5), stride, rng.randint(0, 2), rng.choice([1, 1, 2]))
    if kind in ("MaxPool2d", "AvgPool2d"):
        k = rng.randint(1, 4)
        return stacks.KINDS[kind](k, rng.choice([stride, k]), rng.choice([0, 0, 0, 1, 2]))
    if kind == "BatchNorm2d":
        return stacks.BatchNorm2d(c)
    if kind == "Linear":
        last = shape[-1] if rng.random() < 0.92 else rng.randint(1, 50)
        flat = 1
        for d in shape:
            flat *= d
        return stacks.Linear(rng.choice([last, last, flat]), rng.randint(1, 32))
    if kind == "Dropout":
        return stacks.Dropout(rng.choice([0.0, 0.25, 0.5, 1.0]))
    return stacks.KINDS[kind]()


def random_stack(rng: random.Random) -> stacks.Stack:
    shape: tuple[int, ...] = (rng.randint(1, 4), rng.randint(3, 24), rng.randint(3, 24))
    stack = stacks.Stack(shape, ())  # type: ignore[arg-type]
    for _ in range(rng.randint(1, 8)):
        prop = stacks.propagate(stack)
        stack = stacks.Stack(stack.input_shape, stack.layers + (random_layer(rng, prop.output_shape),))
    return stack


STACKS = [random_stack(random.Random(seed)) for seed in range(400)]


def run_layers(stack: stacks.Stack, batch: int = 2) -> tuple[list[tuple[int, ...]], int | None]:
    """Real forward, layer by layer: output shapes (no batch) and the index of the first layer PyTorch refuses."""
    x = torch.zeros((batch,) + tuple(stack.input_shape))
    shapes = []
    with torch.inference_mode():
        for i, layer in enumerate(stack.layers):
            try:
                x = layer.build().eval()(x)
            except (RuntimeError, ValueError, IndexError):
                return shapes, i
            shapes.append(tuple(x.shape[1:]))
    return shapes, None


def test_propagation_equals_real_forward_for_random_stacks():
    n_ok = n_failed = 0
    for stack in STACKS:
        prop = stacks.propagate(stack)
        shapes, failed = run_layers(stack)
        assert [r.out_shape for r in prop.rows] == shapes, stacks.encode(stack)
        assert (prop.error.index if prop.error else None) == failed, stacks.encode(stack)
        for row in prop.rows:  # the parameter arithmetic counts what PyTorch allocates
            assert row.params == sum(p.numel() for p in row.layer.build().parameters())
        n_ok += prop.ok
        n_failed += not prop.ok
    assert n_ok > 200 and n_failed > 100  # both sides are really exercised


def test_fix_repairs_the_failing_layer():
    repaired = 0
    for stack in STACKS:
        prop = stacks.propagate(stack)
        if prop.error is None or prop.error.fix is None:
            continue
        i = prop.error.index
        fixed = stacks.Stack(stack.input_shape, stack.layers[:i] + (prop.error.fix,))
        assert stacks.propagate(fixed).ok, prop.error.message()
        assert run_layers(fixed)[1] is None
        repaired += 1
    assert repaired > 20


def test_broken_preset_names_the_layer_and_the_number():
    prop = stacks.propagate(stacks.PRESETS["broken"].stack)
    assert prop.error is not None and prop.error.index == 7 and isinstance(prop.error.layer, stacks.Linear)
    assert prop.error.suggestion == "in_features should be 1568 = 32·7·7"
    assert "Layer 7 `nn.Linear(6272, 128)`" in prop.error.message()
    assert [r.out_shape for r in prop.rows][-2:] == [(32, 7, 7), (1568,)]  # the rows up to the failure
    assert prop.error.fix == stacks.Linear(1568, 128)
    with pytest.raises(stacks.StackError, match="1568 = 32·7·7"):
        stacks.build(stacks.PRESETS["broken"].stack)


@pytest.mark.parametrize("stack,index,words,number", [
    (stacks.Stack((1, 5, 5), (stacks.Conv2d(1, 4, 7),)), 0, "kernel spans 7", "kernel_size should be at most 5"),
    (stacks.Stack((1, 5, 5), (stacks.MaxPool2d(2, 0),)), 0, "stride is 0", "stride should be at least 1"),
    (stacks.Stack((3, 8, 8), (stacks.Conv2d(3, 4, 3), stacks.Conv2d(3, 4, 3))), 1, "input has 4 channels",
     "in_channels should be 4"),
    (stacks.Stack((3, 8, 8), (stacks.Conv2d(3, 4, 3), stacks.BatchNorm2d(3))), 1, "input has 4 channels",
     "num_features should be 4"),
    (stacks.Stack((3, 8, 8), (stacks.Conv2d(3, 4, 3), stacks.Linear(144, 10))), 1, "last dimension",
     "in_features should be 144 = 4·6·6"),
    (stacks.Stack((1, 9, 9), (stacks.Flatten(), stacks.ReLU(), stacks.Linear(80, 2))), 2, "81 features",
     "in_features should be 81"),
    (stacks.Stack((1, 9, 9), (stacks.AvgPool2d(2, 1, 2),)), 0, "half the kernel", "padding should be at most 1"),
])
def test_mismatch_explanations(stack, index, words, number):
    err = stacks.propagate(stack).error
    assert err is not None and err.index == index
    assert words in err.reason and number in err.suggestion
    assert run_layers(stack)[1] == index  # PyTorch refuses the same layer


def test_net2_and_cnn_presets_are_the_registry_definitions():
    """Same parameter names and shapes as the registry's models: read from them, not a second copy."""
    from core.models.registry import ModelConfig, build_model

    for key in ("net2", "cnn"):
        registry = build_model(ModelConfig(key))
        built = stacks.build(stacks.PRESETS[key].stack)
        assert [(n, tuple(p.shape)) for n, p in built.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in registry.named_parameters()]
        assert [n for n, _ in built.named_children()] == [n for n, _ in registry.named_children()]
        assert stacks.from_module(built, (1, 28, 28)) == stacks.PRESETS[key].stack
    with pytest.raises(ValueError, match="not one the layer builder makes"):
        stacks.from_module(nn.Sequential(nn.Conv2d(1, 2, (3, 5))), (1, 28, 28))  # not square
    with pytest.raises(ValueError, match="named"):
        stacks.from_module(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), (1, 28, 28))  # named 0, 1


def test_presets_match_the_app_models():
    for key, model in (("net2", Net2()), ("cnn", CNNDemo())):
        stack = stacks.PRESETS[key].stack
        built = stacks.build(stack)
        assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in model.parameters())
        x = torch.zeros(2, 1, 28, 28)
        with torch.inference_mode():
            real = [tuple(y.shape[1:]) for y in _walk(model, x)]
        assert [r.out_shape for r in stacks.propagate(stack).rows] == real
    assert stacks.propagate(stacks.PRESETS["lenet5"].stack).output_shape == (10,)
    assert sum(p.numel() for p in stacks.build(stacks.PRESETS["lenet5"].stack).parameters()) == 61_706


def _walk(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    outs = []
    for layer in model:
        x = layer(x)
        outs.append(x)
    return outs


def test_builder_and_conv_sandbox_share_one_formula():
    from core.models import conv_arithmetic

    for op in ("conv", "pool"):
        for n in (1, 3, 7, 28):
            for k in (1, 2, 3, 5):
                for s in (0, 1, 2, 3):
                    for p in (0, 1, 2):
                        spec = conv_arithmetic.ConvSpec(n, k, s, p, 1, op)
                        prop = stacks.propagate(stacks.sandbox_stack(spec))
                        res = conv_arithmetic.check(spec)
                        assert prop.ok == res.ok
                        if res.ok:
                            assert prop.rows[0].out_shape[1:] == (res.size, res.size)
                            assert prop.rows[0].size_formula == f"H = W: {res.formula}"
                        else:
                            assert prop.error.reason == "; ".join(res.problems)
    assert stacks.sandbox_stack(conv_arithmetic.ConvSpec(7, 3, 1, 0, 2, "pool")) is None


def test_which_stacks_fit_mnist():
    for key in ("net2", "cnn", "lenet5"):
        assert stacks.fits_task(stacks.PRESETS[key].stack) == ""
    assert "1568 = 32·7·7" in stacks.fits_task(stacks.PRESETS["broken"].stack)
    assert "(3, 28, 28)" in stacks.fits_task(stacks.Stack((3, 28, 28), (stacks.Flatten(), stacks.Linear(2352, 10))))
    assert "(5,)" in stacks.fits_task(stacks.Stack((1, 28, 28), (stacks.Flatten(), stacks.Linear(784, 5))))
    assert "nothing to train" in stacks.fits_task(stacks.Stack((1, 10, 1), (stacks.Flatten(),)), (1, 10, 1))


def test_layer_arithmetic_text():
    rows = stacks.propagate(stacks.PRESETS["cnn"].stack).rows
    assert rows[0].param_formula == "16·1·3·3 + 16" and rows[0].params == 160
    assert rows[0].size_formula == "H = W: out = ⌊(28 + 2·1 − 1·(3−1) − 1) / 1⌋ + 1 = ⌊27 / 1⌋ + 1 = 27 + 1 = 28"
    assert rows[2].size_formula.endswith("⌊26 / 2⌋ + 1 = 13 + 1 = 14")
    assert rows[6].size_formula == "32·7·7 = 1,568"
    assert rows[7].param_formula == "1568·128 + 128" and rows[7].params == 1568 * 128 + 128
    wide = stacks.propagate(stacks.Stack((1, 10, 7), (stacks.Conv2d(1, 2, 3, stride=2),))).rows[0]
    assert wide.out_shape == (2, 4, 3) and wide.size_formula.startswith("H: ") and "; W: " in wide.size_formula


def _exec_code(stack: stacks.Stack) -> tuple[nn.Module, str]:
    ns: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(stacks.code(stack), ns)  # the test runs the code exactly as the page shows it)
    return ns["model"], out.getvalue().strip()


def test_generated_code_runs_as_shown():
    valid = [p.stack for k, p in stacks.PRESETS.items() if k != "broken"]
    valid += [s for s in STACKS if stacks.propagate(s).ok][:25]
    for stack in valid:
        model, printed = _exec_code(stack)
        assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in stacks.build(stack).parameters())
        assert printed == f"torch.Size([8, {', '.join(map(str, stacks.propagate(stack).output_shape))}])"
        assert stacks.code(stack).rstrip().endswith(f"# {printed}")
        assert [type(m) for m in model] == [type(m) for m in stacks.build(stack)]


def test_code_marks_the_failing_layer():
    text = stacks.code(stacks.PRESETS["broken"].stack)
    assert "nn.Linear(6272, 128),  # <- does not fit: in_features should be 1568 = 32·7·7" in text
    with pytest.raises(RuntimeError):
        _exec_code(stacks.PRESETS["broken"].stack)


def test_links_round_trip():
    for stack in STACKS + [p.stack for p in stacks.PRESETS.values()]:
        text = stacks.encode(stack)
        assert len(text) <= stacks.MAX_TEXT and text.replace("_", "").replace(".", "").isalnum()
        assert stacks.decode(text) == stacks.Decoded(stack)
    assert stacks.encode(stacks.PRESETS["net2"].stack) == "i1.28.28_f_l784.128_r_l128.10"


@pytest.mark.parametrize("text", [
    "", "i1.28.28_", "x1.28.28", "i1.28", "i1.28.28.4", "i0.28.28", "i1.28.2000", "i1.28.28_q3",
    "i1.28.28_c1", "i1.28.28_c1.16.40", "i1.28.28_c1.16.3.1.1.1.1", "i1.28.28_l01.10", "i1.28.28_l-1.10",
    "i1.28.28_d101", "i1.28.28_m2..2", "i1.28.28_" + "_".join(["r"] * 31), "i1.28.28_r" * 100,
    "i1.28.28_l99999999999.10", "i１.28.28", "i1.28.28_c1.16.3%00", "i1.28.28_R",
])
def test_bad_link_text_gives_a_message(text):
    got = stacks.decode(text)
    assert got.stack is None and got.error


def test_random_text_never_raises():
    rng = random.Random(1)
    alphabet = "icmabrfld0123456789._-x %é\n"
    for _ in range(500):
        got = stacks.decode("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))))
        assert (got.stack is None) == bool(got.error)


def test_size_limits_refuse_huge_layers():
    err = stacks.propagate(stacks.Stack((64, 1024, 1024), (stacks.Conv2d(64, 1024, 3),))).error
    assert err is not None and "more than this app computes" in err.reason
    err = stacks.propagate(stacks.Stack((1, 1, 1), (stacks.Flatten(), stacks.Linear(1, 65536),
                                                    stacks.Linear(65536, 65536)))).error
    assert err is not None and err.index == 2 and "parameters" in err.reason


# ---------------------------------------------------------------- the summary (measured on the live model)
def test_mult_adds_agree_with_flop_counter_and_the_textbook():
    stack = stacks.Stack((3, 17, 13), (stacks.Conv2d(3, 8, 3, stride=2, padding=1), stacks.ReLU(), stacks.MaxPool2d(2),
                                       stacks.BatchNorm2d(8), stacks.Conv2d(8, 4, 2, dilation=2), stacks.Flatten(),
                                       stacks.Linear(8, 7), stacks.Dropout(), stacks.Linear(7, 5)))
    model, batch = stacks.build(stack), 3
    summary = summarize(model, (batch, 3, 17, 13))
    rows = stacks.propagate(stack).rows
    assert [s.output_shape[1:] for s in summary.rows] == [r.out_shape for r in rows]
    x = torch.zeros(batch, 3, 17, 13)
    for stat, row, module in zip(summary.rows, rows, model):
        with FlopCounterMode(display=False) as fc, torch.inference_mode():
            module.eval()(x)
        assert stat.mult_adds == fc.get_total_flops() // 2
        if isinstance(module, nn.Conv2d):
            c_out, h, w = row.out_shape
            assert stat.mult_adds == batch * c_out * h * w * module.in_channels * module.kernel_size[0] ** 2
        elif isinstance(module, nn.Linear):
            assert stat.mult_adds == batch * module.in_features * module.out_features
        else:
            assert stat.mult_adds == 0
        assert stat.activation_bytes == batch * torch.Size(row.out_shape).numel() * 4
        assert stat.params == stat.total_params == row.params and stat.calls == 1
        x = module(x)
    assert summary.mult_adds == sum(s.mult_adds for s in summary.rows)
    assert summary.output_shape == (batch, 5)


def test_summary_on_resnet18_leaves_the_model_alone():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    model.layer1[0].bn1.requires_grad_(False)
    model.train()
    summary = summarize(model, (1, 3, 32, 32))
    assert model.training and not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    by = {s.name: s for s in summary.rows}
    assert summary.params == 11_181_642 and summary.trainable_params == 11_181_642 - 128
    assert by["layer1.0"].trainable == "Partial" and by["layer1"].trainable == "Partial"
    assert by["layer1.0.bn1"].trainable == "False" and by["layer1.1"].trainable == "True"
    assert by["layer1.0"].container and by["layer1.0"].depth == 2 and by["layer1.0.conv1"].depth == 3
    assert by["layer1.0.relu"].calls == 2  # BasicBlock uses its one ReLU twice
    assert by["layer4"].output_shape == (1, 512, 1, 1) and by["fc"].output_shape == (1, 10)
    assert by["layer1.0"].mult_adds == sum(by[f"layer1.0.conv{i}"].mult_adds for i in (1, 2))
    names = [s.name for s in summary.rows]
    assert names.index("layer1") < names.index("layer1.0") < names.index("layer1.0.conv1")


def test_summary_is_right_while_another_thread_runs_a_model():
    """FlopCounterMode's per-module table uses process-wide hooks; the summary must not depend on it."""
    import threading

    mine, theirs = stacks.build(stacks.PRESETS["cnn"].stack), stacks.build(stacks.PRESETS["lenet5"].stack)
    alone = summarize(mine, (2, 1, 28, 28))
    stop = threading.Event()

    def busy() -> None:
        x = torch.zeros(4, 1, 28, 28)
        with torch.inference_mode():
            while not stop.is_set():
                theirs(x)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        results = [summarize(mine, (2, 1, 28, 28)) for _ in range(8)]
    finally:
        stop.set()
        worker.join()
    assert all(r == alone for r in results)
