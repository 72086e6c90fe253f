"""The module graph: shapes on the edges equal the real forward's, ResNet's skip connections are visible."""
from __future__ import annotations

import re

import pytest
import torch

from core.models import graph, stacks


def test_sequential_graph_is_a_chain_with_the_propagated_shapes():
    stack = stacks.PRESETS["lenet5"].stack
    g = graph.trace(stacks.build(stack), (2, 1, 28, 28))
    assert [n.op for n in g.nodes] == ["input"] + ["module"] * len(stack.layers) + ["output"]
    assert [(e.src, e.dst) for e in g.edges] == [(i, i + 1) for i in range(len(stack.layers) + 1)]
    shapes = [tuple(stack.input_shape)] + [r.out_shape for r in stacks.propagate(stack).rows]
    assert [e.shape[1:] for e in g.edges] == shapes


def test_resnet18_shows_each_skip_connection_as_an_add_with_two_inputs():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    model.train()
    g = graph.trace(model, (1, 3, 32, 32))
    assert model.training and not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    blocks = [name for name, kind in g.scopes.items() if kind == "BasicBlock"]
    assert len(blocks) == 8
    adds = [n for n in g.nodes if n.op == "function" and n.label == "add"]
    assert sorted(n.scope for n in adds) == sorted(blocks)  # one add per BasicBlock, inside it
    labels = {n.id: n.label for n in g.nodes}
    for add in adds:
        inputs = [e for e in g.edges if e.dst == add.id]
        assert len(inputs) == 2 and inputs[0].shape == inputs[1].shape
        sources = sorted(labels[e.src].split(" · ")[0] for e in inputs)
        # the main path ends in the block's bn2; the skip comes from before the block or its downsample
        assert sources[0].endswith(".bn2") or sources[1].endswith(".bn2"), sources
    downsample = [e for e in g.edges if labels[e.src].startswith("layer2.0.downsample.1")]
    assert downsample and downsample[0].shape == (1, 128, 4, 4)
    fc_in = next(e for e in g.edges if labels[e.dst].startswith("fc "))
    assert fc_in.shape == (1, 512)  # after torch.flatten, a function node


def test_dot_text_is_well_formed():
    torchvision = pytest.importorskip("torchvision")
    g = graph.trace(torchvision.models.resnet18(weights=None), (1, 3, 32, 32))
    dot = graph.to_dot(g)
    assert dot.startswith("digraph model {") and dot.count("{") == dot.count("}")
    declared = set(re.findall(r"^\s+(n\d+) \[label=", dot, re.MULTILINE))
    edges = re.findall(r"^\s+(n\d+) -> (n\d+) \[label=\" ([0-9×]+)\"\];$", dot, re.MULTILINE)
    assert len(declared) == len(g.nodes) and len(edges) == len(g.edges)
    assert all(a in declared and b in declared for a, b, _ in edges)
    assert 'subgraph "cluster_layer1.0"' in dot and 'label="layer1.0 · BasicBlock"' in dot
    assert ' -> n' in dot and '" 64×8×8"' in dot


def test_a_shape_only_model_gives_the_same_graph():
    torchvision = pytest.importorskip("torchvision")
    real = torchvision.models.resnet18(weights=None, num_classes=10)
    with torch.device("meta"):
        shapes_only = torchvision.models.resnet18(weights=None, num_classes=10)
    assert graph.module_dot(shapes_only, (1, 3, 32, 32)) == graph.module_dot(real, (1, 3, 32, 32))


def test_labels_with_quotes_are_escaped():
    model = torch.nn.Sequential()
    model.add_module('a"b', torch.nn.ReLU())
    dot = graph.module_dot(model, (1, 3))
    assert 'label="a\\"b · ReLU"' in dot


def test_tracing_leaves_models_running_in_other_threads_alone():
    """torchview and torch.fx patch nn.Module.__call__ process-wide while tracing; this tracer must not."""
    import threading

    mine, theirs = stacks.build(stacks.PRESETS["cnn"].stack), stacks.build(stacks.PRESETS["lenet5"].stack)
    alone = graph.module_dot(mine, (1, 1, 28, 28))
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = theirs(x)
    stop, failures = threading.Event(), []

    def busy() -> None:
        with torch.inference_mode():
            while not stop.is_set():
                try:
                    if not torch.equal(theirs(x), expected):
                        failures.append("different output")
                except Exception as e:  # broad on purpose (any failure in the other thread is the finding)
                    failures.append(repr(e))

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        dots = [graph.module_dot(mine, (1, 1, 28, 28)) for _ in range(8)]
    finally:
        stop.set()
        worker.join()
    assert all(d == alone for d in dots) and not failures
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in theirs.modules())
