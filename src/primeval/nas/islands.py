"""NAS runs as islands of the engine's archipelago: ``--workers``, checkpoints and resume.

A NAS comparison is ``runs`` independent searches per strategy, each to a simulated budget
(NAS-Bench-201's protocol). Each run is one island (:class:`NasIsland`: the engine's
:class:`~primeval.engine.strategy_island.StrategyIsland` over the run's search, plus the
trace of its evaluations); an experiment of the engine's loop is a batch of up to
``workers.count`` runs of one strategy, one per worker, without migration. Run ``r`` has
its own seeds (:func:`~primeval.nas.runner.run_seeds`), so the results do not depend on
how many workers ran them, nor on a resume.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from primeval.engine.genome import Individual
from primeval.engine.island import Island, Rows
from primeval.engine.strategy_island import StrategyIsland, genome_rows
from primeval.nas.config import NasConfig, parse_nas_config
from primeval.nas.runner import build_objective, build_search
from primeval.nas.space import Cell, arch_string, cell_index, parse_arch
from primeval.nas.table import load_table

TRACE = ("trace.cells", "trace.fitness", "trace.times")


class NasIsland(StrategyIsland[Cell]):
    """One NAS run: its search to the simulated budget, recording every counted
    evaluation (cell, fitness, simulated time) for the run's trace."""

    def __init__(self, config: NasConfig, strategy: str, run: int) -> None:
        table = load_table(config.dataset)
        self.cells: list[int] = []
        self.fitness: list[float] = []
        self.times: list[float] = []
        nas = build_search(
            table, config, strategy, run, build_objective(config, table), self._record
        )
        self.clock = nas.clock
        super().__init__(nas.search, nas.space)

    def _record(self, ind: Individual[Cell]) -> None:
        self.cells.append(cell_index(ind.genome))
        self.fitness.append(ind.fitness)
        self.times.append(self.clock.elapsed)

    def state(self) -> dict[str, np.ndarray]:
        trace = (
            np.array(self.cells, dtype=np.int64),
            np.array(self.fitness, dtype=float),
            np.array(self.times, dtype=float),
        )
        return {**super().state(), **dict(zip(TRACE, trace, strict=True))}

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        super().restore({k: v for k, v in state.items() if k not in TRACE})
        self.cells = [int(c) for c in state["trace.cells"]]
        self.fitness = [float(f) for f in state["trace.fitness"]]
        self.times = [float(t) for t in state["trace.times"]]


def trace_of(state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's trace (cells, fitness, simulated times) from its island's state."""
    cells, fitness, times = (np.asarray(state[k]) for k in TRACE)
    return cells.astype(np.intp), fitness.astype(float), times.astype(float)


class NasIslands:
    """The :class:`~primeval.engine.island.IslandApp` of a NAS comparison."""

    migration_interval: int | None = None  # runs are independent
    emigrants = 0
    checkpoints = True

    def __init__(self, config: NasConfig) -> None:
        self.config = config
        self.seed = config.seed
        self.width = config.workers.count
        self.batches = math.ceil(config.runs / self.width)

    @classmethod
    def from_json(cls, data: Any) -> NasIslands:
        return cls(parse_nas_config(data, "worker config"))

    @property
    def experiments(self) -> int:
        """Batches of runs over all strategies."""
        return self.batches * len(self.config.strategies)

    def runs(self, experiment: int) -> tuple[str, range]:
        """The strategy and the runs of experiment ``experiment`` (1-based)."""
        k = experiment - 1
        first = (k % self.batches) * self.width
        last = min(first + self.width, self.config.runs)
        return self.config.strategies[k // self.batches], range(first, last)

    def config_json(self) -> Any:
        return self.config.model_dump(mode="json")

    def payload(self, experiment: int, island: int) -> None:
        return None  # a worker reads its table itself, once per process

    def build(self, experiment: int, island: int, payload: Any) -> Island:
        strategy, runs = self.runs(experiment)
        return NasIsland(self.config, strategy, runs[island])

    def empty_rows(self) -> Rows:
        return genome_rows([])

    def genome_to_json(self, genome: Any) -> Any:
        return arch_string(genome)

    def genome_from_json(self, obj: Any) -> Any:
        return parse_arch(str(obj))
