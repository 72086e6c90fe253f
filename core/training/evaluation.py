"""A trained classifier's test-set predictions, analysed once: accuracy, confusion matrix, per-class
accuracy, the most frequent mistake and the digits behind any (true, predicted) cell."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.models.inspection import confusion_matrix, per_class_accuracy


@dataclass(frozen=True)
class Evaluation:
    probs: np.ndarray  # (N, classes) softmax probabilities
    labels: np.ndarray  # (N,) true classes
    preds: np.ndarray  # (N,) argmax of probs
    confusion: np.ndarray  # (classes, classes) counts: row = true, column = predicted
    per_class: np.ndarray  # (classes,) fraction of each true class predicted correctly (nan if absent)

    @property
    def correct(self) -> int:
        return int((self.preds == self.labels).sum())

    @property
    def wrong(self) -> int:
        return len(self.labels) - self.correct

    def worst(self) -> tuple[int, int, int]:
        """(true, predicted, count) of the most frequent mistake (an off-diagonal cell; (0, 0, 0) if none)."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        t, p = np.unravel_index(int(off.argmax()), off.shape)
        return int(t), int(p), int(off[t, p])

    def cell(self, true: int, pred: int) -> np.ndarray:
        """Indices of the test digits of class `true` predicted as `pred`, in test-set order."""
        return np.flatnonzero((self.labels == true) & (self.preds == pred))

    def mistakes(self) -> np.ndarray:
        return np.flatnonzero(self.preds != self.labels)


def evaluate(probs: np.ndarray, labels: np.ndarray) -> Evaluation:
    """probs (N, classes) and labels (N,) -> everything the prediction panels show."""
    preds = probs.argmax(1)
    cm = confusion_matrix(torch.from_numpy(labels), torch.from_numpy(preds), probs.shape[1])
    return Evaluation(probs, labels, preds, cm.numpy(), per_class_accuracy(cm).numpy())
