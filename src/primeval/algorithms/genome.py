"""AutoML-Zero programs as genomes for the generic search engine."""

from __future__ import annotations

from typing import Any

import numpy as np

from primeval.algorithms.mutate import Mutator
from primeval.algorithms.program import Program, program_from_json, program_to_json


class AlgorithmSpace:
    """Implements :class:`primeval.engine.genome.GenomeSpace` for :class:`Program`.

    ``initial`` is ``"random"``, ``"empty"`` (no-ops of the initial sizes), or a program
    every initial member copies.
    """

    def __init__(self, mutator: Mutator, initial: str | Program = "random") -> None:
        if isinstance(initial, Program):
            self.start: Program = initial
            self.initial_kind = "program"
        elif initial in ("random", "empty"):
            self.start = mutator.empty_program()
            self.initial_kind = initial
        else:
            raise ValueError("initial must be 'random', 'empty' or a Program")
        self.mutator = mutator

    def initial(self, rng: np.random.Generator) -> Program:
        if self.initial_kind == "random":
            return self.mutator.random_program(rng)
        return self.start

    def random(self, rng: np.random.Generator) -> Program:
        return self.mutator.random_program(rng)

    def mutate(self, genome: Program, rng: np.random.Generator) -> tuple[Program, str]:
        return self.mutator.mutate(genome, rng)

    def to_json(self, genome: Program) -> Any:
        return program_to_json(genome)

    def from_json(self, obj: Any) -> Program:
        return program_from_json(obj)
