"""Memory banks and the reserved addresses of an AutoML-Zero algorithm.

Memory is three typed banks: scalars ``s0..``, vectors ``v0..`` of length F and
F x F matrices ``m0..``. ``v0`` holds the example's features and ``s0`` the label
(0 during Predict); ``s1`` is the prediction. Instructions never write ``s0`` or
``v0``, so output addresses start at 1 in those two banks.

Multi-class tasks (Real et al. 2020, Sec. 4.3; the reference's "vector output branch"
addresses) use vectors instead: ``v1`` holds the one-hot label during Learn (entries
``0..C-1`` for ``C`` classes, the rest 0) and is zeroed before every Predict, as ``s0``,
which stays 0. The prediction is ``v2``: after Predict in training its entries
``0..C-1`` are replaced by their softmax (as ``s1`` by its sigmoid in binary tasks), which
Learn then reads; validation predicts the first class whose ``v2`` entry is the largest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from primeval.algorithms.ops.registry import Kind

LABEL = 0  # s0
PREDICTION = 1  # s1
FEATURES = 0  # v0
LABELS = 1  # v1: the one-hot label of a multi-class task during Learn
PREDICTIONS = 2  # v2: the prediction vector of a multi-class task

FIRST_OUT = {Kind.SCALAR: 1, Kind.VECTOR: 1, Kind.MATRIX: 0}


@dataclass(frozen=True)
class Banks:
    """How many addresses each bank has (the reference demo uses 4 / 3 / 1)."""

    scalars: int = 4
    vectors: int = 3
    matrices: int = 1

    def __post_init__(self) -> None:
        if self.scalars < 2:
            raise ValueError("memory needs at least 2 scalars (s0 = label, s1 = prediction)")
        if self.vectors < 1:
            raise ValueError("memory needs at least 1 vector (v0 = features)")
        if self.matrices < 0:
            raise ValueError("the number of matrices cannot be negative")

    def size(self, kind: Kind) -> int:
        # An if-chain, not a dict: enum hashing is slow and this runs on every mutation.
        if kind is Kind.SCALAR:
            return self.scalars
        if kind is Kind.VECTOR:
            return self.vectors
        return self.matrices

    def in_range(self, kind: Kind) -> range:
        """Addresses an instruction may read."""
        return range(self.size(kind))

    def out_range(self, kind: Kind) -> range:
        """Addresses an instruction may write."""
        return range(0 if kind is Kind.MATRIX else 1, self.size(kind))

    def zeros(self, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fresh zeroed memory for features of length ``dim``."""
        return (
            np.zeros(self.scalars),
            np.zeros((self.vectors, dim)),
            np.zeros((max(self.matrices, 1), dim, dim)),
        )

    def to_json(self) -> dict[str, int]:
        return {"scalars": self.scalars, "vectors": self.vectors, "matrices": self.matrices}
