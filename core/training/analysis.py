"""What a finished run's curves say, in plain words: computed from its history, never typed in."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.fmt import num


@dataclass(frozen=True)
class Note:
    """A remark about a run: one sentence a page shows, and the details it keeps on demand."""

    headline: str
    details: str = ""

    def __str__(self) -> str:
        return f"{self.headline} {self.details}".strip()


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

    def note(self, split: str = "validation") -> Note:
        """The remark, for a curve measured on the `split` ("validation", or "test" for runs stored before the
        validation split: a test curve must not choose the epochs, so it gives no advice)."""
        if split != "validation":
            return Note(f"The per-epoch test loss was lowest at epoch {self.best_epoch} and rose after it.",
                        "This run was stored before the app held out a validation split, so its per-epoch curve is "
                        "the test set; choosing the number of epochs on it would make the test accuracy "
                        "optimistic. Train it again to get a validation curve. " + self.sentence())
        return Note(f"Over-fitting: validation loss was lowest at epoch {self.best_epoch}, then rose; "
                    f"{self.best_epoch} epochs would generalize better.", self.sentence())

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
