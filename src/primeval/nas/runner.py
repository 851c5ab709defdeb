"""Runs NAS strategies on a table through the generic engine and summarises many runs.

Every run is one :class:`~primeval.engine.search.Search` (ask / evaluate / tell) with a
:class:`~primeval.engine.clock.SimulatedClock` the evaluator charges; nothing here knows a
strategy's insides. A run's result is the cell with the best fitness it saw (its
incumbent), scored by the table's mean validation accuracy over training seeds, which is
how NAS-Bench-201 reports searches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from primeval.engine.clock import SimulatedClock
from primeval.engine.genome import Individual
from primeval.engine.search import Search, SearchProgress
from primeval.nas.config import NasConfig
from primeval.nas.evaluate import TableEvaluator
from primeval.nas.objective import Accuracy, MnasNetReward, Objective
from primeval.nas.space import Cell, CellSpace, cell_index
from primeval.nas.strategies import STRATEGIES
from primeval.nas.table import Nb201Table, published

GRID_POINTS = 241


def build_objective(config: NasConfig, table: Nb201Table) -> Objective:
    oc = config.objective
    if oc.kind == "accuracy":
        return Accuracy()
    if oc.latency_target_ms is not None:
        target = oc.latency_target_ms / 1000
    else:
        target = float(np.median(table.latency))
    return MnasNetReward(target, oc.weight)


def run_seeds(seed: int, run: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The search's and the benchmark's generators for run ``run`` (the same for every
    strategy, so strategies meet the same seed draws)."""
    search, bench = np.random.SeedSequence(seed, spawn_key=(run,)).spawn(2)
    return np.random.default_rng(search), np.random.default_rng(bench)


@dataclass(frozen=True)
class RunTrace:
    """Every counted evaluation of one run, in order."""

    cells: np.ndarray  # cell index
    fitness: np.ndarray
    times: np.ndarray  # simulated seconds when the evaluation finished
    progress: SearchProgress

    def incumbents(self) -> np.ndarray:
        """For each evaluation, the cell with the best fitness so far (the first on ties)."""
        best = np.maximum.accumulate(np.where(np.isnan(self.fitness), -np.inf, self.fitness))
        before = np.concatenate([[-np.inf], best[:-1]])
        improved = self.fitness > before  # strictly, like Strategy.best
        improved[0] = True
        k = np.where(improved, np.arange(len(self.fitness)), 0)
        return self.cells[np.maximum.accumulate(k)]

    @property
    def final_cell(self) -> int:
        return int(self.incumbents()[-1])


@dataclass
class NasSearch:
    """One run's parts: the engine's search over cells on a table, and its evaluator."""

    search: Search[Cell]
    space: CellSpace
    evaluator: TableEvaluator
    clock: SimulatedClock


def build_search(
    table: Nb201Table,
    config: NasConfig,
    strategy: str,
    run: int,
    objective: Objective | None = None,
    on_individual: Callable[[Individual[Cell]], None] | None = None,
    on_progress: Callable[[SearchProgress], bool | None] | None = None,
) -> NasSearch:
    rng, bench_rng = run_seeds(config.seed, run)
    space = CellSpace()
    clock = SimulatedClock(config.budget_seconds)
    evaluator = TableEvaluator(
        table, bench_rng, clock, objective or build_objective(config, table), config.epochs
    )
    search = Search(
        STRATEGIES[strategy].build(space, config),
        evaluator,
        rng,
        clock=clock,
        on_individual=on_individual,
        on_progress=on_progress,
    )
    return NasSearch(search, space, evaluator, clock)


def run_search(
    table: Nb201Table,
    config: NasConfig,
    strategy: str,
    run: int,
    objective: Objective | None = None,
    on_progress: Callable[[SearchProgress], bool | None] | None = None,
) -> RunTrace:
    """One search by the engine, to the simulated budget."""
    cells: list[int] = []
    fitness: list[float] = []
    times: list[float] = []

    def record(ind: Individual[Cell]) -> None:
        cells.append(cell_index(ind.genome))
        fitness.append(ind.fitness)
        times.append(nas.clock.elapsed)

    nas = build_search(table, config, strategy, run, objective, record, on_progress)
    nas.search.run()
    return RunTrace(
        np.array(cells, dtype=np.intp), np.array(fitness), np.array(times), nas.search.progress()
    )


@dataclass(frozen=True)
class StrategyResult:
    """Many runs of one strategy on one table."""

    strategy: str
    dataset: str
    final_cells: np.ndarray  # (runs,) each run's incumbent at the end
    final_accuracy: np.ndarray  # (runs,) its mean validation accuracy
    evaluations: np.ndarray  # (runs,)
    grid: np.ndarray  # simulated seconds
    curves: np.ndarray  # (runs, grid) the incumbent's accuracy over time (NaN before any)
    evaluated: np.ndarray  # (cells,) how often each cell was evaluated, all runs together
    wall_seconds: float

    def summary(self, with_published: bool = True) -> dict[str, Any]:
        """Mean, spread and range of the final accuracies; the published result alongside
        when ``with_published`` (only comparable under the published protocol)."""
        acc = self.final_accuracy
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "dataset": self.dataset,
            "runs": len(acc),
            "mean": round(float(np.mean(acc)), 4),
            "std": round(float(np.std(acc)), 4),
            "min": round(float(np.min(acc)), 4),
            "max": round(float(np.max(acc)), 4),
            "evaluations_per_run": round(float(np.mean(self.evaluations)), 2),
            "wall_seconds": round(self.wall_seconds, 3),
        }
        pub = published(self.dataset, self.strategy) if with_published else None
        if pub is not None:
            out["published_mean"], out["published_std"] = pub.mean, pub.std
        return out


def curve(trace: RunTrace, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``values[incumbent]`` at each grid time (NaN before the first evaluation finished)."""
    k = np.searchsorted(trace.times, grid, side="right") - 1
    inc = trace.incumbents()
    out = np.full(len(grid), np.nan)
    ok = k >= 0
    out[ok] = values[inc[k[ok]]]
    return out


def run_strategy(
    table: Nb201Table,
    config: NasConfig,
    strategy: str,
    on_run: Callable[[int, RunTrace], None] | None = None,
) -> StrategyResult:
    """``config.runs`` independent runs of one strategy."""
    t0 = time.perf_counter()
    objective = build_objective(config, table)
    grid = np.linspace(0.0, config.budget_seconds, GRID_POINTS)
    finals = np.empty(config.runs, dtype=np.intp)
    evals = np.empty(config.runs, dtype=np.intp)
    curves = np.empty((config.runs, GRID_POINTS))
    evaluated = np.zeros(table.n_cells, dtype=np.int64)
    for run in range(config.runs):
        trace = run_search(table, config, strategy, run, objective)
        finals[run] = trace.final_cell
        evals[run] = len(trace.cells)
        curves[run] = curve(trace, table.mean_acc, grid)
        np.add.at(evaluated, trace.cells, 1)
        if on_run is not None:
            on_run(run, trace)
    return StrategyResult(
        strategy,
        table.dataset,
        finals,
        table.mean_acc[finals],
        evals,
        grid,
        curves,
        evaluated,
        time.perf_counter() - t0,
    )
