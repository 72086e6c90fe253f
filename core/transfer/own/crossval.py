"""Scoring a classifier that has no test split: stratified k-fold (every photo held out once, its class's photos
spread over the folds) and how sure an accuracy over n held-out photos is (Wilson's score interval).

With 5 to 20 photos a class, Teachable Machine's 15% held out would test on one to three photos a class; k-fold
tests on every photo, each by a model that never saw it, and the interval says how much that can still vary.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def stratified_folds(labels: torch.Tensor, k: int, g: torch.Generator) -> list[torch.Tensor]:
    """k disjoint index sets covering 0..N-1: each class's photos shuffled (by `g`) and dealt round the folds, so
    every fold holds about 1/k of every class. Needs every class to have at least k photos for no fold to miss one."""
    folds: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)].tolist()
        for j, i in enumerate(idx):
            folds[(start + j) % k].append(i)
        start += len(idx)  # the next class starts where this one stopped: fold sizes stay within one photo
    return [torch.tensor(sorted(f), dtype=torch.long) for f in folds if f]


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% (z = 1.96) Wilson score interval of an accuracy of correct/n (sound at 0%, 100% and small n,
    unlike ±1.96·sqrt(p(1-p)/n))."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Score:
    """The held-out verdict on every photo: each by the fold model that did not train on it."""

    probs: torch.Tensor  # (N, C) held-out class probabilities
    labels: torch.Tensor  # (N,)

    @property
    def predicted(self) -> torch.Tensor:
        return self.probs.argmax(1)

    @property
    def correct(self) -> int:
        return int((self.predicted == self.labels).sum())

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.n)

    def confusion(self, num_classes: int) -> torch.Tensor:
        """(C, C) counts, true class on rows, predicted on columns."""
        return torch.bincount(self.labels * num_classes + self.predicted,
                              minlength=num_classes * num_classes).view(num_classes, num_classes)

    def per_class(self, num_classes: int) -> list[tuple[int, int]]:
        """(right, photos) of each class."""
        cm = self.confusion(num_classes)
        return [(int(cm[c, c]), int(cm[c].sum())) for c in range(num_classes)]


def verdict(score: Score, num_classes: int, folds: int) -> str:
    """One sentence: the held-out accuracy, its interval, and what that interval means against chance."""
    lo, hi = score.interval()
    chance = 1 / num_classes
    text = (f"{folds}-fold cross-validation: **{score.correct} of {score.n}** photos right when held out "
            f"(**{100 * score.accuracy:.0f}%**; 95% interval {100 * lo:.0f}–{100 * hi:.0f}%).")
    if lo <= chance:
        return text + (f" The interval reaches chance ({100 * chance:.0f}%): with these photos the model may have "
                       "learned nothing; add more photos that differ the way the classes differ.")
    if hi - lo > 0.2:
        return text + " The interval is wide because there are few photos: each one held out moves the score a lot."
    return text
