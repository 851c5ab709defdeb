"""Evaluating a cell is a table lookup that costs simulated time.

Each query samples one of the cell's training seeds (as the benchmark intends: the same
cell queried twice may answer differently, like training it twice) and charges the
simulated clock for training it: the table's 200-epoch training time times
``epochs / 200``. NAS-Bench-201's published protocol searches on 12-epoch runs and charges
their training time, so ``epochs = 12`` by default; the table ships 200-epoch accuracies
only, which the search then sees in place of the 12-epoch ones (see
``docs/experiments/nas_bench_201.md`` for what that changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from primeval.engine.clock import SimulatedClock
from primeval.nas.objective import Accuracy, Objective
from primeval.nas.space import Cell, cell_index
from primeval.nas.table import Nb201Table

FULL_EPOCHS = 200


class TableEvaluator:
    """Implements :class:`primeval.engine.genome.Evaluator` for cells on one table."""

    def __init__(
        self,
        table: Nb201Table,
        rng: np.random.Generator,
        clock: SimulatedClock,
        objective: Objective | None = None,
        epochs: float = 12,
    ) -> None:
        if not 0 < epochs <= FULL_EPOCHS:
            raise ValueError(f"epochs charged per query must be in (0, {FULL_EPOCHS}]: {epochs}")
        self.table = table
        self.rng = rng
        self.clock = clock
        self.objective = objective or Accuracy()
        self.cost_scale = epochs / FULL_EPOCHS
        self.queries = 0

    def cost(self, cell: Cell) -> float:
        """Simulated seconds one query of ``cell`` charges."""
        return float(self.table.train_time[cell_index(cell)]) * self.cost_scale

    def evaluate(self, genome: Cell) -> float:
        i = cell_index(genome)
        seed = int(self.rng.integers(self.table.n_seeds[i]))
        accuracy = float(self.table.val_acc[i, seed])
        self.clock.charge(float(self.table.train_time[i]) * self.cost_scale)
        self.queries += 1
        return self.objective(accuracy, float(self.table.latency[i]))

    def stats(self) -> Mapping[str, float]:
        return {"queries": float(self.queries)}

    def state(self) -> dict[str, Any]:
        """What a checkpoint needs to continue the same sequence of answers."""
        return {"rng": self.rng.bit_generator.state, "queries": self.queries}

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.queries = int(state["queries"])
