"""Lineage: who descends from whom, kept in bounded memory, and any member's ancestry.

Real et al. (2020), "AutoML-Zero", Figure 6 follows the best algorithm's ancestors through a
search, fitness rising in steps as techniques appear. The compiled search loop
(:func:`primeval.algorithms.interpret.search_loop.evolve_with`) records every candidate's
parent and mutation in its population rows, and when a member that was ever picked as a
parent leaves the population it moves to an archive. Members never picked leave no trace: no living
member descends from them. :func:`needed` finds the archived rows that are still ancestors of
a living member (or of the best candidate, which is pinned), so the archive holds about the
ancestry tree of the population (a few population sizes of rows, plus the trunk), however
long the search runs.

Ids increase with creation and a parent is older than its children, so one sweep from the
newest to the oldest row marks every ancestor. A migrant's ancestry starts on its new island
(its parent is on another island: recorded as none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from primeval.algorithms.program import program_from_json, program_to_json


@numba.njit(cache=True)
def _mark(ids: np.ndarray, parents: np.ndarray, seeds: np.ndarray) -> np.ndarray:  # type: ignore[misc]
    order = np.argsort(ids)
    sorted_ids = ids[order]
    keep = np.zeros(ids.shape[0], dtype=np.bool_)
    for s in seeds:
        j = np.searchsorted(sorted_ids, s)
        if j < sorted_ids.shape[0] and sorted_ids[j] == s:
            keep[order[j]] = True
    for j in range(sorted_ids.shape[0] - 1, -1, -1):
        i = order[j]
        if keep[i] and parents[i] >= 0:
            k = np.searchsorted(sorted_ids, parents[i])
            if k < sorted_ids.shape[0] and sorted_ids[k] == parents[i]:
                keep[order[k]] = True
    return keep


def needed(ids: np.ndarray, parents: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Which of the records ``(ids, parents)`` are among ``seeds`` or their ancestors."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if ids.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    parents = np.ascontiguousarray(parents, dtype=np.int64)
    seeds = np.ascontiguousarray(seeds, dtype=np.int64)
    return np.asarray(_mark(ids, parents, seeds))


@dataclass(frozen=True)
class Ancestor:
    """One step of an ancestry: the candidate, its fitness and the mutation that made it."""

    id: int
    parent: int | None
    mutation: str
    fitness: float
    evaluation: int  # candidates made on its island when it was made (1-based)
    program: Any

    def to_json(self) -> dict[str, Any]:
        f = self.fitness
        return {
            "id": self.id,
            "parent": self.parent,
            "mutation": self.mutation,
            "fitness": f if np.isfinite(f) else None,
            "evaluation": self.evaluation,
            "program": program_to_json(self.program),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Ancestor:
        try:
            fitness = obj["fitness"]
            return cls(
                id=int(obj["id"]),
                parent=None if obj["parent"] is None else int(obj["parent"]),
                mutation=str(obj["mutation"]),
                fitness=float("nan") if fitness is None else float(fitness),
                evaluation=int(obj["evaluation"]),
                program=program_from_json(obj["program"]),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"not an ancestry record: {e}") from None
