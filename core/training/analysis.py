"""What a finished run's curves say, in plain words: computed from its history, never typed in."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.fmt import num


@dataclass(frozen=True)
class Overfit:
    """Validation loss reached its minimum before the last epoch and rose after it."""
    best_epoch: int  # 1-based epoch with the lowest validation loss
    best_loss: float
    last_epoch: int
    last_loss: float

    @property
    def rise(self) -> float:
        return self.last_loss - self.best_loss

    def sentence(self) -> str:
        return (f"Validation loss was lowest at epoch {self.best_epoch} ({num(self.best_loss, 3)}) and rose by "
                f"{num(self.rise, 3)} after it, to {num(self.last_loss, 3)} at epoch {self.last_epoch}: the network "
                f"started to overfit — it keeps fitting the training digits while getting worse on digits it has "
                f"not seen. Training for {self.best_epoch} epochs would generalize better.")


def overfitting(val_loss: Sequence[float], min_rise: float = 0.02) -> Overfit | None:
    """The overfitting in a run's per-epoch validation losses, or None.

    Overfitting here: the last epoch's loss is above the minimum by more than `min_rise` of the minimum (a relative
    rise, so the 1-2 % epoch-to-epoch noise of a well-fitted run is not called overfitting). Non-finite losses
    (a diverged run) are not overfitting: None."""
    v = np.asarray(val_loss, dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        return None
    best = int(np.argmin(v))
    if best == v.size - 1 or v[-1] - v[best] <= min_rise * abs(v[best]):
        return None
    return Overfit(best_epoch=best + 1, best_loss=float(v[best]), last_epoch=int(v.size), last_loss=float(v[-1]))
