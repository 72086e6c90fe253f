"""TensorFlow Playground's six data sets and its seven input features, in torch.

Each data set is one function of (number of points, noise as a fraction 0-0.5, a torch.Generator) returning the
points (N, 2) in TFP's [-6, 6]² plane and their labels (N,): ±1 for classification, a value in [-1, 1] for
regression. They follow TFP's src/dataset.ts step by step (radii, paddings, the noise that moves the point a label
is judged at), vectorised. The functions use only `torch` and `math`, so the code panel prints their own source and
the program it shows makes exactly these points. No Streamlit here.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.lessons.playground.config import DOMAIN, FEATURES, PlaygroundConfig


def circle(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Half the points within radius 2.5 (label +1), half in the ring from 3.5 to 5 (label -1)."""
    radius, inside = 5.0, n // 2
    r = torch.cat([torch.rand(inside, generator=g) * radius * 0.5,
                   radius * 0.7 + torch.rand(n - inside, generator=g) * radius * 0.3])
    angle = torch.rand(n, generator=g) * 2 * math.pi
    xy = torch.stack([r * torch.sin(angle), r * torch.cos(angle)], dim=1)  # (n, 2)
    judged_at = xy + (torch.rand(n, 2, generator=g) * 2 - 1) * radius * noise
    label = torch.where(judged_at.norm(dim=1) < radius * 0.5, 1.0, -1.0)  # (n,)
    return xy, label


def xor(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Points in the four quadrants (0.3 away from the axes); +1 where x1 and x2 have the same sign."""
    xy = torch.rand(n, 2, generator=g) * 10 - 5
    xy = xy + torch.where(xy > 0, 0.3, -0.3)  # (n, 2)
    judged_at = xy + (torch.rand(n, 2, generator=g) * 10 - 5) * noise
    label = torch.where(judged_at[:, 0] * judged_at[:, 1] >= 0, 1.0, -1.0)
    return xy, label


def gauss(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two round clouds around (2, 2) (+1) and (-2, -2) (-1); noise widens them (variance 0.5 to 4)."""
    variance = 0.5 + 3.5 * noise / 0.5
    half = n // 2
    centre = torch.cat([torch.full((half, 2), 2.0), torch.full((n - half, 2), -2.0)])
    xy = centre + torch.randn(n, 2, generator=g) * math.sqrt(variance)
    label = torch.cat([torch.ones(half), -torch.ones(n - half)])
    return xy, label


def spiral(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spiral arms of 1.75 turns out to radius 5: +1 and, turned by half a turn, -1."""
    half = n // 2
    i = torch.arange(half, dtype=torch.float32)
    r = i / half * 5
    t = 1.75 * i / half * 2 * math.pi
    arms = [torch.stack([r * torch.sin(t + turn), r * torch.cos(t + turn)], dim=1) for turn in (0.0, math.pi)]
    xy = torch.cat(arms) + (torch.rand(2 * half, 2, generator=g) * 2 - 1) * noise
    label = torch.cat([torch.ones(half), -torch.ones(half)])
    return xy, label


def plane(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Regression: the value (x1 + x2) / 10, a tilted plane."""
    xy = torch.rand(n, 2, generator=g) * 12 - 6
    judged_at = xy + (torch.rand(n, 2, generator=g) * 12 - 6) * noise
    return xy, (judged_at[:, 0] + judged_at[:, 1]) / 10


def multigauss(n: int, noise: float, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Regression: six bumps of height ±1 and radius 2 on a 3 × 2 grid; each point takes the strongest bump."""
    centres = torch.tensor([[-4, 2.5], [0, 2.5], [4, 2.5], [-4, -2.5], [0, -2.5], [4, -2.5]])  # (6, 2)
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])  # (6,)
    xy = torch.rand(n, 2, generator=g) * 12 - 6
    judged_at = xy + (torch.rand(n, 2, generator=g) * 12 - 6) * noise
    bumps = signs * (1 - torch.cdist(judged_at, centres) / 2).clamp(0, 1)  # (n, 6)
    strongest = bumps.abs().argmax(dim=1, keepdim=True)  # (n, 1)
    return xy, bumps.gather(1, strongest).squeeze(1)


MAKERS: dict[str, Callable[[int, float, torch.Generator], tuple[torch.Tensor, torch.Tensor]]] = {
    "circle": circle, "xor": xor, "gauss": gauss, "spiral": spiral, "plane": plane, "multigauss": multigauss}


def feature_map(xy: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    """(N, 2) points -> (N, F) the features named, in that order."""
    x1, x2 = xy[:, 0], xy[:, 1]
    columns = [FEATURES[name].fn(x1, x2) for name in names]
    return torch.stack(columns, dim=1) if columns else xy.new_zeros(len(xy), 0)


@dataclass(frozen=True)
class Data:
    """One data set, split: points (N, 2), features (N, F) and labels (N, 1) of the training and test points."""

    train_xy: torch.Tensor
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_xy: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def make_data(cfg: PlaygroundConfig, g: torch.Generator) -> Data:
    """The data set of `cfg`, shuffled and split as TFP does (the first train_pct % train), drawn from `g`."""
    xy, label = MAKERS[cfg.dataset](cfg.points, cfg.noise / 100, g)
    order = torch.randperm(cfg.points, generator=g)
    train, test = order[:cfg.n_train], order[cfg.n_train:]
    y = label.unsqueeze(1)  # (N, 1)
    return Data(xy[train], feature_map(xy[train], cfg.features), y[train],
                xy[test], feature_map(xy[test], cfg.features), y[test])


def plane_grid(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ticks (n,), points (n * n, 2)) covering [-6, 6]²; point i * n + j is (ticks[j], ticks[i]): row i is x2."""
    ticks = torch.linspace(-DOMAIN, DOMAIN, n)
    x2, x1 = torch.meshgrid(ticks, ticks, indexing="ij")  # (n, n) each
    return ticks, torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1)
