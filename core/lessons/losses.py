"""Loss functions taken apart, every number computed by PyTorch.

- `ce_breakdown`: CrossEntropy = NLLLoss(LogSoftmax(logits / T)), checked bit for bit
  against `nn.CrossEntropyLoss`, and its gradient (softmax − one-hot) checked against autograd.
- `regression_curves`: MSE, L1 and SmoothL1 (Huber) and their gradients against one
  prediction, gradients from autograd.
- `best_constant`: the constant prediction each loss prefers for a set of targets
  (with or without an outlier): MSE chases the outlier, L1 does not.
- `model_losses`: per-digit and per-class cross-entropy of a stored model on test digits,
  without changing the (shared, read-only) model.
No Streamlit here.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError

REGRESSION_LOSSES = ("MSE", "L1", "SmoothL1")


@dataclass(frozen=True)
class CEInputs:
    logits: tuple[float, ...] = (2.0, 1.0, 0.1)  # raw scores, one per class
    target: int = 0  # the correct class
    temperature: float = 1.0  # logits are divided by this before the softmax


@dataclass(frozen=True)
class CEBreakdown:
    scaled: np.ndarray  # (C,) logits / T: what CrossEntropyLoss sees
    probs: np.ndarray  # (C,) softmax
    log_probs: np.ndarray  # (C,) LogSoftmax
    nll: float  # NLLLoss(LogSoftmax(z), target) = -log_probs[target]
    ce: float  # nn.CrossEntropyLoss()(z, target)
    exactly_equal: bool  # torch.equal(nll, ce): same float32 bits
    grad_formula: np.ndarray  # (C,) softmax(z) − one_hot(target)
    grad_autograd: np.ndarray  # (C,) d ce / d z from ce.backward()
    grad_max_abs_diff: float


def parse_logits(text: str) -> tuple[float, ...]:
    """'2, 1, nan' -> (2.0, 1.0, nan): numbers separated by commas (checking them is check_logits' job)."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"“{text}” must be numbers separated by commas, like 2, 1, 0.1") from None


def check_logits(logits: Sequence[float], target: int, temperature: float) -> None:
    bad = [i for i, v in enumerate(logits) if not math.isfinite(v)]
    if bad:
        which = ", ".join(f"class {i} ({logits[i]})" for i in bad)
        raise InputError(f"the logits must be finite numbers; {which} is not. A NaN or infinite logit makes "
                             "softmax and the loss NaN; in training that means the model has diverged.")
    if len(logits) < 2:
        raise InputError("cross-entropy needs at least 2 classes")
    if not 0 <= target < len(logits):
        raise InputError(f"the target class must be between 0 and {len(logits) - 1} (got {target})")
    if not (math.isfinite(temperature) and temperature > 0):
        raise InputError(f"the temperature must be a positive number (got {temperature})")


def ce_breakdown(inp: CEInputs) -> CEBreakdown:
    check_logits(inp.logits, inp.target, inp.temperature)
    raw = torch.tensor(inp.logits, dtype=torch.float32)  # (C,)
    z = (raw / inp.temperature).unsqueeze(0).requires_grad_(True)  # (1, C): a batch of one, as the losses expect
    target = torch.tensor([inp.target])  # (1,)
    log_probs = nn.LogSoftmax(dim=1)(z)  # (1, C)
    nll = nn.NLLLoss()(log_probs, target)
    ce = nn.CrossEntropyLoss()(z, target)
    (grad,) = torch.autograd.grad(ce, z)
    with torch.no_grad():
        probs = torch.softmax(z, dim=1)  # (1, C)
        formula = probs - F.one_hot(target, num_classes=z.shape[1]).float()  # (1, C)
    return CEBreakdown(
        scaled=z.detach()[0].numpy().copy(), probs=probs[0].numpy().copy(),
        log_probs=log_probs.detach()[0].numpy().copy(), nll=nll.item(), ce=ce.item(),
        exactly_equal=bool(torch.equal(nll.detach(), ce.detach())),
        grad_formula=formula[0].numpy().copy(), grad_autograd=grad[0].numpy().copy(),
        grad_max_abs_diff=float((formula - grad).abs().max()),
    )


def ce_code(inp: CEInputs) -> str:
    """Self-contained code for the same breakdown (tests run it and compare)."""
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


def ce_vs_temperature(inp: CEInputs, temps: Sequence[float]) -> np.ndarray:
    """CE of the same logits and target at each temperature (one batched call): (len(temps),)."""
    check_logits(inp.logits, inp.target, 1.0)
    T = torch.tensor(list(temps), dtype=torch.float32).unsqueeze(1)  # (K, 1)
    z = torch.tensor(inp.logits, dtype=torch.float32).unsqueeze(0) / T  # (K, C)
    target = torch.full((len(temps),), inp.target)
    return F.cross_entropy(z, target, reduction="none").numpy()


# ---------------------------------------------------------------- regression losses
def _loss_fn(name: str, beta: float) -> nn.Module:
    if name == "MSE":
        return nn.MSELoss(reduction="none")
    if name == "L1":
        return nn.L1Loss(reduction="none")
    if name == "SmoothL1":
        return nn.SmoothL1Loss(reduction="none", beta=beta)
    raise InputError(f"unknown loss {name!r}")


def regression_curves(target: float, preds: np.ndarray, beta: float = 1.0
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each loss: (loss(pred, target), d loss / d pred) at every prediction, gradients by autograd."""
    if not math.isfinite(target):
        raise InputError(f"the target must be a finite number (got {target})")
    if not beta > 0:
        raise InputError(f"SmoothL1's beta must be positive (got {beta})")
    out = {}
    for name in REGRESSION_LOSSES:
        p = torch.tensor(preds, dtype=torch.float32, requires_grad=True)  # (G,)
        loss = _loss_fn(name, beta)(p, torch.full_like(p, target))  # (G,) one loss per prediction
        (g,) = torch.autograd.grad(loss.sum(), p)  # each loss depends only on its own prediction
        out[name] = (loss.detach().numpy(), g.numpy())
    return out


def targets_with_outlier(outlier: bool, outlier_value: float = 12.0, n: int = 9, seed: int = 0) -> np.ndarray:
    """n targets around 2 (seeded), the last one moved to `outlier_value` when `outlier` is on."""
    g = torch.Generator().manual_seed(seed)
    y = 2.0 + 0.5 * torch.randn(n, generator=g)  # (n,)
    if outlier:
        y[-1] = outlier_value
    return y.numpy()


@dataclass(frozen=True)
class BestConstant:
    grid: np.ndarray  # (G,) candidate constant predictions c
    mean_loss: dict[str, np.ndarray]  # loss name -> (G,) mean loss over the targets at each c
    best: dict[str, float]  # loss name -> the c with the lowest mean loss
    outlier_grad_share: dict[str, float]  # |grad from the last target| / sum |grad| at the inliers' mean


def best_constant(targets: np.ndarray, beta: float = 1.0, points: int = 801) -> BestConstant:
    """Which single number c minimises each loss over `targets`? (MSE -> mean, L1 -> median)."""
    y = torch.tensor(targets, dtype=torch.float32)  # (N,)
    lo, hi = float(y.min()) - 1, float(y.max()) + 1
    c = torch.linspace(lo, hi, points)  # (G,)
    mean_loss, best, share = {}, {}, {}
    inlier_mean = float(y[:-1].mean())
    for name in REGRESSION_LOSSES:
        fn = _loss_fn(name, beta)
        grid_loss = fn(c[:, None].expand(-1, len(y)), y[None, :].expand(points, -1)).mean(1)  # (G,)
        mean_loss[name] = grid_loss.numpy()
        best[name] = float(c[grid_loss.argmin()])
        p = torch.full((len(y),), inlier_mean, requires_grad=True)  # (N,) one prediction per target
        (g,) = torch.autograd.grad(fn(p, y).sum(), p)
        share[name] = float(g[-1].abs() / g.abs().sum().clamp_min(1e-12))
    return BestConstant(c.numpy(), mean_loss, best, share)


# ---------------------------------------------------------------- losses of a real model
@dataclass(frozen=True)
class ModelLosses:
    per_sample: np.ndarray  # (N,) cross-entropy of each test digit
    predicted: np.ndarray  # (N,) argmax class
    probs: np.ndarray  # (N, 10)
    per_class: np.ndarray  # (10,) mean cross-entropy of the digits of each true class
    mean: float  # = F.cross_entropy over all N (the test loss)


@torch.inference_mode()
def model_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2000) -> ModelLosses:
    """Cross-entropy of every digit under `model`. The model is only called (no .train(), hooks or grads)."""
    losses, logits_all = [], []
    for i in range(0, len(y), batch):
        logits = model(x[i:i + batch])  # (b, 10)
        losses.append(F.cross_entropy(logits, y[i:i + batch], reduction="none"))
        logits_all.append(logits)
    per = torch.cat(losses).float().cpu()  # (N,)
    logits = torch.cat(logits_all).float().cpu()  # (N, 10)
    yc = y.cpu()
    k = logits.shape[1]
    per_class = torch.zeros(k).index_add_(0, yc, per) / torch.bincount(yc, minlength=k).clamp_min(1)
    return ModelLosses(per.numpy(), logits.argmax(1).numpy(), torch.softmax(logits, 1).numpy(),
                       per_class.numpy(), float(per.mean()))
