"""The model registry: entries, validated specs, stable run keys, code written from the built module."""
from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from core.models import stacks
from core.models.registry import ARCH_LABELS, ARCHITECTURES, ModelConfig, architecture, build_model, model_code
from core.training.code import training_code
from core.training.config import TrainConfig, default_config
from support import state_equal


def test_seeded_init_is_reproducible_and_independent_of_global_rng():
    a = build_model(ModelConfig("cnn"), torch.Generator().manual_seed(3))
    torch.manual_seed(123)
    b = build_model(ModelConfig("cnn"), torch.Generator().manual_seed(3))
    assert state_equal(a.state_dict(), b.state_dict())


ROOT = Path(__file__).resolve().parents[1]
TINY_STACK = stacks.Stack((1, 28, 28), (stacks.Conv2d(1, 4, 3), stacks.ReLU(), stacks.MaxPool2d(2), stacks.Flatten(),
                                        stacks.Linear(676, 10)))
BUILT = ModelConfig("built", spec=stacks.encode(TINY_STACK))  # a learner's stack from the Layer shapes page
SPECS = [ModelConfig("net2", 16), ModelConfig("cnn", 16), ModelConfig("resnet18"), BUILT]


# TrainConfig.key() of the default runs, computed on the code before the registry existed: stored runs stay valid.
PINNED_KEYS = {("net2", "mnist-sample"): "8b1e7a6bb29869ea", ("net2", "mnist-full"): "fcfbddfa00cc1521",
               ("cnn", "mnist-sample"): "2e91f2c3f41678a9", ("cnn", "mnist-full"): "14782d55d6075e3d"}


def test_default_run_keys_are_unchanged():
    for (arch, source), key in PINNED_KEYS.items():
        cfg = default_config(arch, source)
        assert cfg.key() == key and TrainConfig.from_dict(cfg.to_dict()).key() == key


def test_registry_entries_are_complete():
    assert list(ARCHITECTURES) == ["net2", "cnn", "resnet18", "built"]
    assert ARCH_LABELS == {k: a.label for k, a in ARCHITECTURES.items()}
    for key, arch in ARCHITECTURES.items():
        assert arch.key == key and len(arch.input_shape) == 3 and arch.num_classes >= 2
    assert architecture("cnn").defaults.batch_size == default_config("cnn", "mnist-full").batch_size
    with pytest.raises(ValueError, match="no default MNIST"):
        default_config("resnet18", "mnist-sample")


@pytest.mark.parametrize("bad", [dict(arch="vgg"), dict(arch=None), dict(hidden=0), dict(hidden=True),
                                 dict(hidden=2.5), dict(hidden="64"), dict(spec="i1.28.28_f_l784.10"),
                                 dict(spec=["i1.28.28"])])
def test_model_spec_is_validated(bad):
    with pytest.raises(ValueError):
        ModelConfig(**{"arch": "net2", "hidden": 16, **bad})
    with pytest.raises(ValueError):  # a stored run.json naming an unknown model is refused the same way
        TrainConfig.from_dict({**TrainConfig().to_dict(), "model": {"arch": "net2", "hidden": 16, **bad}})


@pytest.mark.parametrize("spec", [
    "",  # no stack
    "i1.28.28_f_l784.5",  # 5 scores, not 10
    "i3.28.28_f_l2352.10",  # colour input
    "i1.28.28_f_l700.10",  # Linear doesn't fit the flattened 784
    "i1.28.28_f_r",  # nothing to train
    "i1.28.28_c1.4.3.1.0_r_m_f_l676.10",  # the same stack, not in its short form
    "i1.28.28_x",  # unknown layer
])
def test_a_built_spec_must_decode_and_fit_digits(spec):
    with pytest.raises(ValueError, match="can't be trained on digits"):
        ModelConfig("built", spec=spec)
    record = {**default_config("built", "mnist-sample", BUILT).to_dict(), "model": {"arch": "built", "spec": spec}}
    with pytest.raises(ValueError):  # a stored run.json with such a stack is refused the same way
        TrainConfig.from_dict(record)


def test_spec_keeps_every_existing_key_and_hidden_is_not_a_built_models():
    for arch in ("net2", "cnn", "resnet18"):
        assert "spec" not in ModelConfig(arch).to_dict()
        assert "spec" not in TrainConfig(ModelConfig(arch)).to_dict()["model"]
    assert BUILT.to_dict() == {"arch": "built", "spec": "i1.28.28_c1.4_r_m_f_l676.10"}
    with pytest.raises(ValueError, match="hidden must stay 128"):
        ModelConfig("built", hidden=64, spec=BUILT.spec)
    other = ModelConfig("built", spec=stacks.encode(stacks.PRESETS["lenet5"].stack))
    assert len({BUILT.key(), other.key(), ModelConfig("net2").key()}) == 3
    cfg = default_config("built", "mnist-sample", BUILT)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.label().startswith("Stack c1.4_r_m_f_l676.10 · Adam")
    with pytest.raises(ValueError, match="not a 'built'"):
        default_config("built", "mnist-sample", ModelConfig("net2"))


@pytest.mark.slow
def test_a_built_stack_trains_and_round_trips_the_store(tmp_path):
    from core.data.mnist import MNISTData
    from core.data.split import Split
    from core.runs.store import RunStore
    from core.training.loop import fit, load_model

    def split(n: int, seed: int) -> Split:  # digit k: a bright band at rows 2k..2k+3 over noise (easy to learn)
        g = torch.Generator().manual_seed(seed)
        labels = torch.randint(0, 10, (n,), generator=g)
        images = torch.randint(0, 60, (n, 28, 28), generator=g, dtype=torch.uint8)
        for i, k in enumerate(labels.tolist()):
            images[i, 2 * k + 2:2 * k + 6] = 255
        return Split(images, labels)

    data = MNISTData("mnist-sample", "bands standing in for digits", split(600, 0), split(200, 1))
    cfg = replace(default_config("built", "mnist-sample", BUILT), epochs=2, batch_size=50, lr=3e-3)
    run = fit(cfg, data, torch.device("cpu"))
    assert run.status == "ok" and run.history.val_acc[-1] > 0.5  # it learns
    assert len(run.history.step_loss) == 2 * -(-run.metrics["n_train"] // 50)  # 600 less the validation digits
    assert {k: tuple(v.shape) for k, v in run.state.items()} == {"conv.weight": (4, 1, 3, 3), "conv.bias": (4,),
                                                                 "fc.weight": (10, 676), "fc.bias": (10,)}
    store = RunStore(tmp_path)
    store.save(run)
    back = store.load(cfg)
    assert back is not None and back.config == cfg and state_equal(back.state, run.state)
    assert back.history.step_loss == run.history.step_loss
    [summary] = store.summaries()
    assert summary.config == cfg
    model = load_model(back, torch.device("cpu"))
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.arch)
def test_built_model_takes_the_entry_input_and_gives_its_classes(spec):
    arch = architecture(spec.arch)
    model = build_model(spec, torch.Generator().manual_seed(0)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *arch.input_shape))
    assert out.shape == (2, arch.num_classes)


def test_shapes_come_from_the_entry():
    net2 = build_model(ModelConfig("net2", 16))
    assert net2.fc1.in_features == math.prod(architecture("net2").input_shape) == 784
    assert build_model(ModelConfig("cnn", 16)).fc1.in_features == 32 * 7 * 7
    big = architecture("resnet18").builder(ModelConfig("resnet18"), (3, 64, 48), 5)
    with torch.no_grad():
        assert big.eval()(torch.zeros(1, 3, 64, 48)).shape == (1, 5)
    with pytest.raises(ValueError, match="at least 32"):
        architecture("resnet18").builder(ModelConfig("resnet18"), (3, 16, 16), 10)


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {**{n: tuple(p.shape) for n, p in model.named_parameters()},
            **{n: tuple(b.shape) for n, b in model.named_buffers()}}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.arch)
def test_model_code_builds_the_same_module(spec):
    code = model_code(spec)
    scope: dict = {}
    exec(compile(code.program(), f"<{spec.arch}>", "exec"), scope)
    built = build_model(spec)
    assert _shapes(scope["model"]) == _shapes(built)
    kinds = [type(m).__name__ for m in list(scope["model"].modules())[1:]]  # the root: nn.Sequential for Net2
    assert kinds == [type(m).__name__ for m in list(built.modules())[1:]]


def test_model_code_reads_the_module_not_a_copy_of_it():
    code = model_code(ModelConfig("cnn", 32)).source
    assert "fc1=nn.Linear(in_features=1568, out_features=32, bias=True)" in code
    assert re.search(r"pool1=nn\.MaxPool2d\(kernel_size=2.*# \(B, 16, 14, 14\)", code)
    assert "relu1=nn.ReLU(),\n" in code  # no comment where the shape does not change
    assert "model.fc = nn.Linear(in_features=512, out_features=10" in model_code(ModelConfig("resnet18")).source


def test_nested_and_unnamed_sequentials_are_written_too():
    """The generic template (a layer builder's models will be Sequentials of any depth)."""
    from core.models.code import sequential_code

    with pytest.raises(ValueError, match="no code template for _Custom"):  # its repr is not a torch.nn constructor
        sequential_code(nn.Sequential(nn.Linear(2, 2), nn.Identity(), _Custom()), (1, 2, 2))
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sequential(nn.ReLU(), nn.Flatten()), nn.Linear(4 * 6 * 6, 3))
    scope: dict = {}
    exec(compile(sequential_code(model, (1, 8, 8)).program(), "<nested>", "exec"), scope)
    assert _shapes(scope["model"]) == _shapes(model)
    assert isinstance(scope["model"][1], nn.Sequential)


class _Custom(nn.Module):
    def forward(self, x):
        return x


def test_training_code_takes_the_model_from_the_registry():
    cfg = replace(default_config("net2", "mnist-sample"), model=ModelConfig("net2", 64))
    code = training_code(cfg)
    assert model_code(cfg.model).source in code and "28 * 28" not in code
    assert code.count("from torch import nn") == 1
    with pytest.raises(ValueError, match="not MNIST"):
        training_code(replace(cfg, model=ModelConfig("resnet18")))


def test_no_arch_if_chain_remains():
    """Architectures are told apart by the registry, never by comparing a name to a literal."""
    chain = re.compile(r"""arch\s*[!=]=\s*["']|["'](net2|cnn|resnet18)["']\s*[!=]=\s*\w*arch""")
    offenders = [f"{p.relative_to(ROOT)}:{i}" for folder in ("core", "ui", "pages", "bench")
                 for p in sorted((ROOT / folder).rglob("*.py"))
                 for i, line in enumerate(p.read_text().splitlines(), 1) if chain.search(line)]
    assert offenders == []
