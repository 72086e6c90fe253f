"""The validation split: carved from the training digits, stratified and seeded, so early-stopping and
over-fitting advice never look at the test set (which is only reported, once, at the end of a run).

Runs stored before this split existed evaluated the test set after every epoch: their History's val_* lists are
test-set curves. A run's metrics say which (`n_val`, the validation examples; absent in older records).
"""
from __future__ import annotations

import torch

from core.data.split import Split

VAL_FRACTION = 0.1  # of each class's training examples
VAL_SEED = 0  # fixed: every run is validated on the same digits, whatever its own seed


def carve(train: Split, fraction: float = VAL_FRACTION, seed: int = VAL_SEED) -> tuple[Split, Split]:
    """(training, validation): per class, round(n_c · fraction) examples drawn with a seeded generator go to
    validation, the rest stay for training; both keep the original order."""
    g = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for c in torch.unique(train.labels).tolist():
        idx = torch.nonzero(train.labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = round(len(idx) * fraction)
        held.append(idx[:n_val])
        keep.append(idx[n_val:])
    tr, va = torch.cat(keep).sort().values, torch.cat(held).sort().values
    return (Split(train.images[tr].contiguous(), train.labels[tr].contiguous()),
            Split(train.images[va].contiguous(), train.labels[va].contiguous()))


def curve_split(metrics: dict) -> str:
    """What a stored run's per-epoch val_* curve was measured on: "validation", or "test" for runs stored before
    the validation split (no `n_val` in their metrics)."""
    return "validation" if metrics.get("n_val") else "test"


def split_text(n_train: int, n_val: int, n_test: int) -> str:
    """The sentence a page states under its training curves."""
    return (f"Validation = {n_val:,} training digits held out ({VAL_FRACTION:.0%} of each class, seed {VAL_SEED}), "
            f"evaluated after every epoch: the model trains on the other {n_train:,} and never on them. The "
            f"{n_test:,} test digits are evaluated once, at the end, and only reported.")


def held_out(labels: torch.Tensor, fraction: float = VAL_FRACTION) -> int:
    """How many of these training labels `carve` holds out for validation (no images touched)."""
    return sum(round(int(n) * fraction) for n in torch.unique(labels, return_counts=True)[1].tolist())
