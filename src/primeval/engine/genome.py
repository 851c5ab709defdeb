"""The genome protocol: what the engine needs to know about the things it searches."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

G = TypeVar("G")
G_contra = TypeVar("G_contra", contravariant=True)


class GenomeSpace(Protocol[G]):
    """Creates, mutates and (de)serializes genomes of one kind."""

    def initial(self, rng: np.random.Generator) -> G:
        """A genome for the initial population (random or empty, as configured)."""

    def random(self, rng: np.random.Generator) -> G:
        """A uniformly random genome (what random search samples)."""

    def mutate(self, genome: G, rng: np.random.Generator) -> tuple[G, str]:
        """A mutated copy and a short description of the mutation."""

    def to_json(self, genome: G) -> Any:
        """A JSON-ready value (never pickle)."""

    def from_json(self, obj: Any) -> G:
        """Inverse of :meth:`to_json`; raises ``ValueError`` on malformed input."""


class Evaluator(Protocol[G_contra]):
    """Turns a genome into a fitness (higher is better; NaN is treated as the worst)."""

    def evaluate(self, genome: G_contra) -> float: ...

    def stats(self) -> Mapping[str, float]:
        """Counters worth reporting (e.g. cache hit rate)."""


def clean_fitness(f: float) -> float:
    """Non-finite or missing fitness ranks below everything."""
    return float(f) if f is not None and math.isfinite(f) else -math.inf


@dataclass(frozen=True)
class Individual(Generic[G]):
    """An evaluated genome and where it came from (for lineage)."""

    id: int
    genome: G
    fitness: float
    parent: int | None
    mutation: str
    evaluation: int  # how many evaluations had been done when it was made (1-based)
