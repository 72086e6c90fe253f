"""The module graph of any nn.Module as Graphviz DOT text, with tensor shapes on the edges.

Recorded from one real forward pass on a private copy: forward hooks on that copy's modules make one node
per leaf module call, and a `TorchFunctionMode` makes one node per tensor function called between modules
(the `out += identity` of a ResNet block, `torch.flatten`), so skip connections show as an add node with
two inputs. Edges connect each tensor to the node that produced it.

Why not torchview or torch.fx: both patch `torch.nn.Module.__call__` for the whole process while they
trace, which breaks any model another Streamlit session runs at that moment. Hooks on a private copy and a
torch-function mode (thread-local) touch nothing outside this call. Only DOT text is made here:
`st.graphviz_chart` renders it in the browser, so no Graphviz binary is needed.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from core.models.inspection import tensors_in

# tensor functions that only read metadata or views that carry no computation worth a node
_QUIET = {"size", "dim", "numel", "__get__", "__len__", "__format__", "__repr__", "detach", "contiguous", "to",
          "__setstate__", "__bool__", "item", "data_ptr", "stride", "is_contiguous", "element_size", "__hash__"}


@dataclass(frozen=True)
class Node:
    id: int
    label: str  # "layer1.0.conv1 · Conv2d", "add", "input"
    op: str  # "input", "module", "function", "output"
    scope: str  # the container it ran in ("layer1.0"), "" at the top


@dataclass(frozen=True)
class Edge:
    src: int
    dst: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    scopes: dict[str, str]  # container name -> class name ("layer1.0" -> "BasicBlock")


def _function_name(func: object) -> str:
    name = getattr(func, "__name__", str(func))
    return name.strip("_").removeprefix("i") if name.startswith("__i") else name.strip("_")


class _Recorder(TorchFunctionMode):
    """Builds nodes and edges; `inside` > 0 while a leaf module runs (its own functions are not nodes)."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.producer: dict[int, int] = {}  # id(tensor) -> node id
        self.alive: list[torch.Tensor] = []  # keeps every recorded tensor alive so ids are not reused
        self.scope: list[str] = [""]  # containers running now, innermost last
        self.pending: list[int] = []  # node ids of leaf modules whose forward has started
        self.inside = 0

    def node(self, label: str, op: str, inputs: list[torch.Tensor]) -> int:
        nid = len(self.nodes)
        self.nodes.append(Node(nid, label, op, self.scope[-1]))
        for t in inputs:
            if id(t) in self.producer:
                self.edges.append(Edge(self.producer[id(t)], nid, tuple(t.shape)))
        return nid

    def produced(self, out: object, nid: int) -> None:
        for t in tensors_in(out):
            self.producer[id(t)] = nid
            self.alive.append(t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = _function_name(func)
        if self.inside or name in _QUIET or not tensors_in(out):
            return out
        inputs = [t for t in tensors_in(list(args) + list((kwargs or {}).values())) if id(t) in self.producer]
        if inputs:
            self.produced(out, self.node(name, "function", inputs))
        return out


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> Graph:
    """Nodes and shaped edges of one forward pass of a private copy of `model` on zeros on its device. A
    shape-only model (built under `torch.device("meta")`) gives the same graph without weights or arithmetic."""
    private = copy.deepcopy(model).eval()
    rec = _Recorder()
    modules = dict(private.named_modules())

    def pre(name: str, leaf: bool):
        def hook(_module: nn.Module, args) -> None:
            if leaf:
                if not rec.inside:
                    nid = rec.node(f"{name} · {type(modules[name]).__name__}", "module", tensors_in(args))
                    rec.pending.append(nid)
                rec.inside += 1
            else:
                rec.scope.append(name)
        return hook

    def post(name: str, leaf: bool):
        def hook(_module: nn.Module, _args, out) -> None:
            if leaf:
                rec.inside -= 1
                if not rec.inside:
                    rec.produced(out, rec.pending.pop())
            else:
                rec.scope.pop()
        return hook

    handles = []
    try:
        for name, module in modules.items():
            if name:
                leaf = not list(module.children())
                handles += [module.register_forward_pre_hook(pre(name, leaf)),
                            module.register_forward_hook(post(name, leaf))]
        x = torch.zeros(input_shape, device=next(private.parameters(), torch.empty(0)).device)
        with torch.inference_mode():
            rec.produced(x, rec.node("input", "input", []))
            with rec:
                y = private(x)
            rec.node("output", "output", tensors_in(y))
    finally:
        for h in handles:
            h.remove()
    scopes = {name: type(m).__name__ for name, m in modules.items() if name and list(m.children())}
    return Graph(tuple(rec.nodes), tuple(rec.edges), scopes)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_STYLE = {"input": 'shape=oval, style=filled, fillcolor="#e8f0fe"',
          "output": 'shape=oval, style=filled, fillcolor="#e8f0fe"',
          "module": 'shape=box, style="rounded,filled", fillcolor="#f1f3f4"',
          "function": 'shape=circle, style=filled, fillcolor="#fde7c8", width=0.3'}


def to_dot(graph: Graph) -> str:
    """DOT text: one box per module call, circles for tensor functions, a cluster per container that holds
    them (a ResNet BasicBlock), the shape without the batch dimension on every edge."""
    lines = ["digraph model {", ('  rankdir=TB; node [fontname="Helvetica", fontsize=10]; '
                                 'edge [fontname="Helvetica", fontsize=9, color="#5f6368"];')]
    by_scope: dict[str, list[Node]] = {}
    for n in graph.nodes:
        by_scope.setdefault(n.scope, []).append(n)
    for scope, nodes in by_scope.items():
        indent = "  "
        if scope:
            lines.append(f"  subgraph {_quote('cluster_' + scope)} {{")
            lines.append(f"    label={_quote(scope + ' · ' + graph.scopes.get(scope, ''))}; style=dashed; "
                         'color="#9aa0a6"; fontname="Helvetica"; fontsize=10;')
            indent = "    "
        for n in nodes:
            lines.append(f"{indent}n{n.id} [label={_quote(n.label)}, {_STYLE[n.op]}];")
        if scope:
            lines.append("  }")
    for e in graph.edges:
        lines.append(f"  n{e.src} -> n{e.dst} [label={_quote(' ' + '×'.join(map(str, e.shape[1:])))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def module_dot(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    return to_dot(trace(model, input_shape))
