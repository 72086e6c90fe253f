"""Plain PyTorch code mirroring the concept pages' current settings.

Each snippet is self-contained: executed as is, it computes exactly what the page
shows (tests exec every snippet and compare with the page's core call).
"""
from __future__ import annotations

from core.autograd_demo import AutogradInputs
from core.losses import CEInputs
from core.optim2d import OptimSpec, Surface, optimizer_expr
from core.tensor_ops import OPS, VIEW_OPS, OpSpec, TensorSpec, op_expr, tensor_expr


def tensor_code(a: TensorSpec, b: TensorSpec | None, op: OpSpec) -> str:
    lines = ["import torch", "", f"a = {tensor_expr(a)}"]
    if b is not None and OPS[op.op][1]:
        lines.append(f"b = {tensor_expr(b)}")
    lines += [f"result = {op_expr(op)}", "print(result.shape, result.dtype, result.stride())", "print(result)"]
    if op.op in VIEW_OPS:
        lines.append("print('shares memory with a:', "
                     "result.untyped_storage().data_ptr() == a.untyped_storage().data_ptr())")
    return "\n".join(lines) + "\n"


def autograd_code(inp: AutogradInputs) -> str:
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


def ce_code(inp: CEInputs) -> str:
    return f"""import torch
from torch import nn

logits = torch.tensor([[{', '.join(repr(float(v)) for v in inp.logits)}]])  # (1, C): a batch of one
z = logits / {inp.temperature!r}  # temperature
z.requires_grad_(True)
target = torch.tensor([{inp.target}])

log_probs = nn.LogSoftmax(dim=1)(z)
nll = nn.NLLLoss()(log_probs, target)
ce = nn.CrossEntropyLoss()(z, target)
print("softmax     ", torch.softmax(z, dim=1).tolist())
print("NLL(LogSoftmax) =", nll.item(), " CrossEntropy =", ce.item(), " identical:", torch.equal(nll, ce))

ce.backward()
one_hot = nn.functional.one_hot(target, z.shape[1]).float()
print("autograd grad   ", z.grad.tolist())
print("softmax-one_hot ", (torch.softmax(z, dim=1) - one_hot).tolist())
"""


def optim_code(surface: Surface, spec: OptimSpec, start: tuple[float, float], steps: int) -> str:
    return f"""import torch

def f(x, y):
    return {surface.formula()}

p = torch.tensor([{float(start[0])!r}, {float(start[1])!r}], requires_grad=True)  # the 2 parameters (x, y)
optimizer = {optimizer_expr(spec)}
path = [p.detach().clone()]
for step in range({steps}):
    optimizer.zero_grad()
    loss = f(p[0], p[1])
    loss.backward()
    optimizer.step()
    new_loss = f(p[0], p[1]).detach()
    if not (torch.isfinite(new_loss) and torch.isfinite(p).all()) or new_loss.abs() > 1e6 \\
            or p.detach().abs().max() > 1e6:  # the loss exploded: stop
        print("diverged at step", step + 1)
        break
    path.append(p.detach().clone())
path = torch.stack(path)  # (steps + 1, 2)
print("final point", path[-1].tolist(), "loss", f(path[-1][0], path[-1][1]).item())
"""
