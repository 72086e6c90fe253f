"""One operation on the Tensors page as the learner picked it: which op and its arguments. The op table
(tensor_ops) and the failure explanations (tensor_errors) both read it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpSpec:
    """One operation and its arguments (only those the op uses matter)."""

    op: str = "add"
    dim: int | None = None  # reductions / cat / stack / unsqueeze / squeeze; None = all dims (reductions)
    shape: tuple[int, ...] = (4,)  # reshape / view target (may hold one -1)
    dims: tuple[int, ...] = (1, 0)  # permute order, or transpose's (dim0, dim1)
    index: str = "0"  # text inside a[...]
    keepdim: bool = False

    @property
    def pair(self) -> tuple[int, int]:
        d0, d1 = (list(self.dims) + [0, 1])[:2]
        return d0, d1
