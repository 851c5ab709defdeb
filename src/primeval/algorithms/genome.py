"""AutoML-Zero programs as genomes for the generic search engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from primeval.algorithms.mutate import Mutator
from primeval.algorithms.program import Program, program_from_json, program_to_json


class AlgorithmSpace:
    """Implements :class:`primeval.engine.genome.GenomeSpace` for :class:`Program`."""

    def __init__(self, mutator: Mutator, initial: str = "random") -> None:
        if initial not in ("random", "empty"):
            raise ValueError("initial must be 'random' or 'empty'")
        self.mutator = mutator
        self.initial_kind = initial
        self._empty = mutator.empty_program()

    def initial(self, rng: np.random.Generator) -> Program:
        if self.initial_kind == "empty":
            return self._empty
        return self.mutator.random_program(rng)

    def random(self, rng: np.random.Generator) -> Program:
        return self.mutator.random_program(rng)

    def mutate(self, genome: Program, rng: np.random.Generator) -> tuple[Program, str]:
        return self.mutator.mutate(genome, rng)

    def to_json(self, genome: Program) -> Any:
        return program_to_json(genome)

    def from_json(self, obj: Any) -> Program:
        return program_from_json(obj)
