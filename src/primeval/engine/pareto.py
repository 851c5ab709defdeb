"""Vector fitness: Pareto dominance, non-dominated sorting and Pareto tournament selection.

A candidate scored on several objectives (accuracy on several architectures, accuracy and
latency) has a *fitness vector*; every objective is maximised (negate a cost) and a
non-finite value ranks below every finite one, as :func:`~primeval.engine.genome.clean_fitness`
does for scalar fitness. ``a`` dominates ``b`` when it is at least as good on every objective
and better on one.

- :func:`non_dominated_sort` peels the population into fronts: the first front is what no
  point dominates, the second what only first-front points dominate, and so on (the
  sorting of NSGA-II; Deb et al., "A Fast and Elitist Multiobjective Genetic Algorithm:
  NSGA-II", IEEE TEVC 2002).
- :func:`pareto_tournament` is EvoNorm's multi-architecture selection (Liu et al.,
  "Evolving Normalization-Activation Layers", NeurIPS 2020): draw a tournament, keep the
  candidates on the Pareto front of the tournament, and pick one of them uniformly at
  random, so that no one objective (one architecture) decides alone.
- :class:`ParetoEvolution` is regularized evolution (Real et al., AAAI 2019) with that
  tournament: the ask/tell strategy for vector fitness.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from primeval.engine.genome import GenomeSpace, Individual
from primeval.engine.strategies import Strategy

G = TypeVar("G")


def clean_vectors(points: ArrayLike) -> np.ndarray:
    """``points`` as a float matrix (one row a candidate), non-finite values made ``-inf``."""
    p = np.array(points, dtype=float)
    if p.ndim == 1:
        p = p.reshape(-1, 1)
    if p.ndim != 2:
        raise ValueError(f"fitness vectors must form a matrix, got shape {p.shape}")
    p[~np.isfinite(p)] = -math.inf
    return p


def dominates(a: ArrayLike, b: ArrayLike) -> bool:
    """Whether fitness vector ``a`` dominates ``b`` (all objectives maximised)."""
    x, y = clean_vectors(
        np.vstack([np.ravel(np.asarray(a, dtype=float)), np.ravel(np.asarray(b, dtype=float))])
    )
    return bool(np.all(x >= y) and np.any(x > y))


def dominance(points: ArrayLike) -> np.ndarray:
    """``D[i, j]``: whether point ``i`` dominates point ``j``."""
    p = clean_vectors(points)
    ge = np.all(p[:, None, :] >= p[None, :, :], axis=2)
    gt = np.any(p[:, None, :] > p[None, :, :], axis=2)
    dominated: np.ndarray = ge & gt
    return dominated


def non_dominated_sort(points: ArrayLike) -> list[np.ndarray]:
    """The fronts of ``points``, best first, each the ascending indices of its points.

    Every point lies in exactly one front; equal points share a front. Quadratic in the
    number of points (a population or a tournament, not a table of millions).
    """
    d = dominance(points)
    n = d.shape[0]
    dominators = d.sum(axis=0)
    left = np.ones(n, dtype=bool)
    fronts: list[np.ndarray] = []
    while left.any():
        front = np.flatnonzero(left & (dominators == 0))
        fronts.append(front)
        left[front] = False
        dominators = dominators - d[front].sum(axis=0)
    return fronts


def pareto_front(points: ArrayLike) -> np.ndarray:
    """Ascending indices of the points no other point dominates; of equal points, the first.

    A sweep in lexicographic order, best first: no point dominates one before it, so each
    point is compared only with the front found so far (a NAS-Bench-201 table's 15,625
    cells in milliseconds, where the pairwise :func:`dominance` would need 244 M pairs).
    """
    p = clean_vectors(points)
    if p.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    # np.lexsort sorts by its last key first and is stable: equal points keep their order.
    order = np.lexsort(tuple(-p[:, k] for k in reversed(range(p.shape[1]))))
    front: list[int] = []
    kept = np.empty((0, p.shape[1]))
    for i in order:
        if not np.any(np.all(kept >= p[i], axis=1)):  # neither dominated nor a repeat
            front.append(int(i))
            kept = np.vstack([kept, p[i]])
    return np.sort(np.array(front, dtype=np.intp))


def tradeoff_front(gain: ArrayLike, cost: ArrayLike) -> np.ndarray:
    """The Pareto front of two objectives, one a gain (higher is better, e.g. accuracy) and
    one a cost (lower is better, e.g. latency): indices ordered by cost; of equal points the
    first. A non-finite gain or cost ranks below every finite one."""
    g = np.asarray(gain, dtype=float)
    c = np.asarray(cost, dtype=float)
    front = pareto_front(np.column_stack([g, -c]))
    return front[np.argsort(-clean_vectors(-c)[front, 0], kind="stable")]


def pareto_tournament(points: ArrayLike, size: int, rng: np.random.Generator) -> int:
    """EvoNorm's selection: draw ``size`` points uniformly with replacement, and return one
    of the drawn points on the tournament's Pareto front, uniformly at random."""
    p = clean_vectors(points)
    if p.shape[0] == 0 or size < 1:
        raise ValueError("a Pareto tournament needs points and a positive size")
    picks = np.unique(rng.integers(0, p.shape[0], size))
    front = non_dominated_sort(p[picks])[0]
    return int(picks[front[int(rng.integers(0, len(front)))]])


class ParetoEvolution(Strategy[G]):
    """Regularized evolution on fitness vectors: Pareto tournaments, the oldest removed.

    The vector of an individual is told with :meth:`tell_vector`; :meth:`tell` (the scalar
    interface every strategy has) treats the scalar fitness as a vector of one objective.
    ``best`` follows the scalar fitness the caller reports (e.g. the mean over objectives).
    """

    def __init__(
        self,
        space: GenomeSpace[G],
        population_size: int = 100,
        tournament_size: int = 10,
        mutate_prob: float = 1.0,
    ) -> None:
        super().__init__(space)
        if population_size < 1 or tournament_size < 1:
            raise ValueError("population and tournament sizes must be positive")
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.mutate_prob = mutate_prob
        self.population: collections.deque[tuple[Individual[G], tuple[float, ...]]] = (
            collections.deque()
        )

    def ask(self, rng: np.random.Generator) -> tuple[G, int | None, str]:
        if len(self.population) < self.population_size:
            return self.space.initial(rng), None, "initial"
        parent = self.population[pareto_tournament(self.vectors(), self.tournament_size, rng)][0]
        if self.mutate_prob >= 1.0 or rng.random() < self.mutate_prob:
            child, what = self.space.mutate(parent.genome, rng)
            return child, parent.id, what
        return parent.genome, parent.id, "copy"

    def tell_vector(self, individual: Individual[G], vector: Sequence[float]) -> None:
        """Add an evaluated individual with its fitness vector (one value per objective)."""
        super().tell(individual)
        self.population[-1] = (individual, tuple(float(v) for v in vector))

    def _tell(self, individual: Individual[G]) -> None:
        self.population.append((individual, (float(individual.fitness),)))
        if len(self.population) > self.population_size:
            self.population.popleft()

    def vectors(self) -> np.ndarray:
        """The population's fitness vectors, oldest first."""
        rows = [v for _, v in self.population]
        width = {len(v) for v in rows}
        if len(width) > 1:
            raise ValueError(f"fitness vectors of different lengths: {sorted(width)}")
        return clean_vectors(rows)

    def members(self) -> list[Individual[G]]:
        return [m for m, _ in self.population]

    def restore(self, members: Iterable[Individual[G]], best: Individual[G] | None) -> None:
        self.population.clear()
        super().restore(members, best)

    def state(self) -> dict[str, Any]:
        rows = [[v if math.isfinite(v) else None for v in x] for _, x in self.population]
        return {"vectors": rows}

    def load_state(self, state: dict[str, Any]) -> None:
        vectors = state.get("vectors", [])
        if len(vectors) != len(self.population):
            raise ValueError("the saved fitness vectors do not match the restored population")
        for k, row in enumerate(vectors):
            vector = tuple(-math.inf if v is None else float(v) for v in row)
            self.population[k] = (self.population[k][0], vector)

    def describe(self) -> dict[str, Any]:
        return {
            "strategy": "pareto_evolution",
            "population_size": self.population_size,
            "tournament_size": self.tournament_size,
            "mutate_prob": self.mutate_prob,
        }
