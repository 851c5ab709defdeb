"""Search strategies as ask/tell pairs: regularized evolution and random search.

Regularized evolution (Real et al., "Regularized Evolution for Image Classifier
Architecture Search", AAAI 2019; used by AutoML-Zero, Real et al. 2020): a
population of P individuals; each step draws T of them uniformly with
replacement, copies the fittest, mutates the copy with probability U, and the
evaluated child replaces the oldest member. Random search samples every
candidate afresh and is the baseline the papers compare against.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import numpy as np

from primeval.engine.genome import GenomeSpace, Individual, clean_fitness

G = TypeVar("G")


class Strategy(abc.ABC, Generic[G]):
    """Proposes candidates (:meth:`ask`) and learns from their fitness (:meth:`tell`)."""

    def __init__(self, space: GenomeSpace[G]) -> None:
        self.space = space
        self.best: Individual[G] | None = None

    @abc.abstractmethod
    def ask(self, rng: np.random.Generator) -> tuple[G, int | None, str]:
        """A candidate genome, its parent id (None if new) and the mutation made."""

    def tell(self, individual: Individual[G]) -> None:
        if self.best is None or clean_fitness(individual.fitness) > clean_fitness(
            self.best.fitness
        ):
            self.best = individual
        self._tell(individual)

    @abc.abstractmethod
    def _tell(self, individual: Individual[G]) -> None: ...

    @abc.abstractmethod
    def members(self) -> list[Individual[G]]:
        """The current population (for statistics and checkpoints)."""

    def restore(self, members: Iterable[Individual[G]], best: Individual[G] | None) -> None:
        """Reinstate a population (oldest first), e.g. from a checkpoint."""
        self.best = best
        for m in members:
            self._tell(m)

    def state(self) -> dict[str, Any]:
        """JSON-ready state beyond the members (e.g. a learned policy), for checkpoints."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state`, after :meth:`restore`."""

    def describe(self) -> dict[str, Any]:
        return {"strategy": type(self).__name__}


class RegularizedEvolution(Strategy[G]):
    """Aging evolution: tournament selection, replace the oldest."""

    def __init__(
        self,
        space: GenomeSpace[G],
        population_size: int = 1000,
        tournament_size: int = 10,
        mutate_prob: float = 0.9,
        remove: str = "oldest",
    ) -> None:
        super().__init__(space)
        if population_size < 1 or tournament_size < 1:
            raise ValueError("population and tournament sizes must be positive")
        if remove not in ("oldest", "worst"):
            raise ValueError("remove must be 'oldest' (regularized) or 'worst'")
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.mutate_prob = mutate_prob
        self.remove = remove
        self.population: collections.deque[Individual[G]] = collections.deque()
        self._fitness = np.empty(0)

    def ask(self, rng: np.random.Generator) -> tuple[G, int | None, str]:
        if len(self.population) < self.population_size:
            return self.space.initial(rng), None, "initial"
        picks = rng.integers(0, len(self.population), self.tournament_size)
        fit = self._fitness[picks]
        parent = self.population[int(picks[int(np.argmax(fit))])]
        if self.mutate_prob >= 1.0 or rng.random() < self.mutate_prob:
            child, what = self.space.mutate(parent.genome, rng)
            return child, parent.id, what
        return parent.genome, parent.id, "copy"

    def _tell(self, individual: Individual[G]) -> None:
        self.population.append(individual)
        f = clean_fitness(individual.fitness)
        if len(self.population) > self.population_size:
            if self.remove == "oldest":
                self.population.popleft()
                self._fitness = np.append(self._fitness[1:], f)
            else:
                both = np.append(self._fitness, f)
                worst = int(np.argmin(both))
                del self.population[worst]
                self._fitness = np.delete(both, worst)
        else:
            self._fitness = np.append(self._fitness, f)

    def members(self) -> list[Individual[G]]:
        return list(self.population)

    def describe(self) -> dict[str, Any]:
        return {
            "strategy": "evolution",
            "population_size": self.population_size,
            "tournament_size": self.tournament_size,
            "mutate_prob": self.mutate_prob,
            "remove": self.remove,
        }


class RandomSearch(Strategy[G]):
    """Every candidate is a fresh random genome; remembers the best and a recent window."""

    def __init__(self, space: GenomeSpace[G], window: int = 100) -> None:
        super().__init__(space)
        self.window: collections.deque[Individual[G]] = collections.deque(maxlen=window)

    def ask(self, rng: np.random.Generator) -> tuple[G, int | None, str]:
        return self.space.random(rng), None, "random"

    def _tell(self, individual: Individual[G]) -> None:
        self.window.append(individual)

    def members(self) -> list[Individual[G]]:
        return list(self.window)

    def describe(self) -> dict[str, Any]:
        return {"strategy": "random"}
