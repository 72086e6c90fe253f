"""A tiny computation, its autograd graph, and its gradients checked against the chain rule.

    y = w * x + b          (a one-input linear model)
    loss = (y - t) ** 2    (squared error against the target t)

`run_autograd` builds it with fresh leaf tensors (nothing shared), calls
`loss.backward()`, walks `loss.grad_fn.next_functions` to get the graph PyTorch
actually recorded, and compares the gradients with the hand-derived formulas
dloss/dw = 2 (y - t) x and dloss/db = 2 (y - t). No Streamlit here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.errors import InputError


@dataclass(frozen=True)
class AutogradInputs:
    w: float = 2.0  # weight (leaf, requires_grad)
    x: float = 1.5  # input (constant, no grad)
    b: float = 0.5  # bias (leaf, requires_grad)
    t: float = 1.0  # target (constant, no grad)


@dataclass(frozen=True)
class GraphNode:
    id: str
    label: str  # e.g. "MulBackward0" or "w (leaf)"
    kind: str  # "leaf", "op", "constant"
    value: float | None  # forward value of the tensor this node produced
    grad: float | None  # dloss/d(that tensor), from loss.backward() (retain_grad on intermediates)
    depth: int  # 0 = the loss; larger = further back toward the inputs


@dataclass(frozen=True)
class GraphEdge:
    src: str  # input side (forward direction: src feeds dst)
    dst: str
    label: str  # the grad_fn that receives the gradient along this edge, e.g. "AccumulateGrad"


@dataclass(frozen=True)
class AutogradResult:
    inputs: AutogradInputs
    y: float
    loss: float
    grad_w: float  # from autograd
    grad_b: float
    hand_grad_w: float  # 2 (y - t) x, computed with the same tensors
    hand_grad_b: float  # 2 (y - t)
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    @property
    def matches(self) -> bool:
        return math.isclose(self.grad_w, self.hand_grad_w, rel_tol=1e-6, abs_tol=1e-6) and \
            math.isclose(self.grad_b, self.hand_grad_b, rel_tol=1e-6, abs_tol=1e-6)


def run_autograd(inp: AutogradInputs) -> AutogradResult:
    for name in ("w", "x", "b", "t"):
        v = getattr(inp, name)
        if not math.isfinite(v):
            raise InputError(f"{name} must be a finite number (got {v})")
    w = torch.tensor(inp.w, requires_grad=True)  # () leaf
    b = torch.tensor(inp.b, requires_grad=True)  # () leaf
    x = torch.tensor(inp.x)  # () constant input
    t = torch.tensor(inp.t)  # () constant target
    wx = w * x
    y = wx + b
    diff = y - t
    loss = diff ** 2
    for tensor in (wx, y, diff, loss):
        tensor.retain_grad()
    loss.backward()
    hand_w = 2 * (y.detach() - t) * x
    hand_b = 2 * (y.detach() - t)

    # which tensor each grad_fn produced (to show values beside the graph's nodes)
    produced = {loss.grad_fn: ("loss", loss), diff.grad_fn: ("y − t", diff), y.grad_fn: ("y", y),
                wx.grad_fn: ("w·x", wx)}
    leaves = {id(w): ("w", w), id(b): ("b", b)}
    nodes: dict[int, GraphNode] = {}
    edges: list[GraphEdge] = []
    stack = [(loss.grad_fn, 0)]
    while stack:
        fn, depth = stack.pop()
        if id(fn) in nodes:
            continue
        if type(fn).__name__ == "AccumulateGrad":
            name, leaf = leaves[id(fn.variable)]
            nodes[id(fn)] = GraphNode(f"n{id(fn)}", f"{name} (leaf)", "leaf", leaf.item(),
                                      None if leaf.grad is None else leaf.grad.item(), depth)
            continue
        name, tensor = produced.get(fn, (fn.name(), None))
        nodes[id(fn)] = GraphNode(f"n{id(fn)}", f"{name} = {fn.name()}", "op",
                                  None if tensor is None else tensor.item(),
                                  None if tensor is None or tensor.grad is None else tensor.grad.item(), depth)
        for child, _ in fn.next_functions:
            if child is None:  # an input that doesn't need a gradient (x or t)
                continue
            edges.append(GraphEdge(f"n{id(child)}", f"n{id(fn)}", child.name().split("::")[-1]))
            stack.append((child, depth + 1))
    # constants: x feeds MulBackward0, t feeds SubBackward0 (they have no grad_fn; shown for completeness)
    for label, value, fn in (("x (input, no grad)", inp.x, wx.grad_fn), ("t (target, no grad)", inp.t, diff.grad_fn)):
        parent = nodes[id(fn)]
        cid = f"c{label[0]}"
        nodes[hash(cid)] = GraphNode(cid, label, "constant", value, None, parent.depth + 1)
        edges.append(GraphEdge(cid, parent.id, "no grad"))
    return AutogradResult(inp, y.item(), loss.item(), w.grad.item(), b.grad.item(),  # type: ignore[union-attr]
                          hand_w.item(), hand_b.item(), tuple(nodes.values()), tuple(edges))


def autograd_code(inp: AutogradInputs) -> str:
    """Self-contained code for the same graph and gradients (tests run it and compare)."""
    return f"""import torch

w = torch.tensor({inp.w!r}, requires_grad=True)  # weight (leaf)
b = torch.tensor({inp.b!r}, requires_grad=True)  # bias (leaf)
x = torch.tensor({inp.x!r})  # input, no gradient needed
t = torch.tensor({inp.t!r})  # target

y = w * x + b
loss = (y - t) ** 2
loss.backward()

print("loss", loss.item(), "grad_fn", loss.grad_fn.name())
print("w.grad", w.grad.item(), "hand formula 2(y-t)x =", (2 * (y - t) * x).item())
print("b.grad", b.grad.item(), "hand formula 2(y-t)   =", (2 * (y - t)).item())

def walk(fn, depth=0):  # the graph autograd recorded, from the loss back to the leaves
    print("  " * depth + fn.name())
    for child, _ in fn.next_functions:
        if child is not None:
            walk(child, depth + 1)

walk(loss.grad_fn)
"""
