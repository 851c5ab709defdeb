"""The search loop: ask, evaluate, tell, report, until a budget runs out."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from primeval.engine.clock import SimulatedClock
from primeval.engine.genome import Evaluator, Individual, clean_fitness
from primeval.engine.strategies import Strategy

G = TypeVar("G")


@dataclass(frozen=True)
class SearchProgress:
    """A snapshot for progress displays and the ``progress.jsonl`` log."""

    evaluations: int
    elapsed_seconds: float
    evals_per_second: float
    best_fitness: float
    mean_fitness: float
    stats: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "evaluations": self.evaluations,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "evals_per_second": round(self.evals_per_second, 1),
            "best_fitness": num(self.best_fitness),
            "mean_fitness": num(self.mean_fitness),
            **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.stats.items()},
        }


@dataclass(frozen=True)
class SearchResult(Generic[G]):
    best: Individual[G]
    evaluations: int
    elapsed_seconds: float
    stopped: str  # "max_evals", "time_budget", "simulated_budget" or "callback"


class Search(Generic[G]):
    """Runs a strategy against an evaluator within an evaluation, time and/or simulated budget.

    ``on_progress`` is called about every ``progress_every_seconds`` (and at the
    end); if it returns True the search stops. ``on_individual`` sees every
    evaluated individual (lineage logging). ``clock`` is a simulated clock the
    evaluator charges: the evaluation that overruns its budget is discarded (not
    told to the strategy, not counted) and the search stops.
    """

    def __init__(
        self,
        strategy: Strategy[G],
        evaluator: Evaluator[G],
        rng: np.random.Generator,
        max_evals: int | None = None,
        time_budget: float | None = None,
        progress_every_seconds: float = 1.0,
        on_progress: Callable[[SearchProgress], bool | None] | None = None,
        on_individual: Callable[[Individual[G]], None] | None = None,
        start_evaluations: int = 0,
        start_id: int = 0,
        clock: SimulatedClock | None = None,
    ) -> None:
        self.strategy = strategy
        self.evaluator = evaluator
        self.rng = rng
        self.max_evals = max_evals
        self.time_budget = time_budget
        self.progress_every_seconds = progress_every_seconds
        self.on_progress = on_progress
        self.on_individual = on_individual
        self.clock = clock
        self.evaluations = start_evaluations
        self.next_id = start_id
        self._t0 = 0.0
        self._last_report = (0.0, start_evaluations)

    def progress(self) -> SearchProgress:
        now = time.perf_counter() - self._t0
        t_prev, n_prev = self._last_report
        rate = (self.evaluations - n_prev) / (now - t_prev) if now > t_prev else 0.0
        members = self.strategy.members()
        fits = [clean_fitness(m.fitness) for m in members]
        finite = [f for f in fits if math.isfinite(f)]
        best = self.strategy.best
        stats = dict(self.evaluator.stats())
        if self.clock is not None:
            stats["simulated_seconds"] = self.clock.elapsed
        return SearchProgress(
            evaluations=self.evaluations,
            elapsed_seconds=now,
            evals_per_second=rate,
            best_fitness=clean_fitness(best.fitness) if best else -math.inf,
            mean_fitness=float(np.mean(finite)) if finite else -math.inf,
            stats=stats,
        )

    def _report(self) -> bool:
        p = self.progress()
        self._last_report = (p.elapsed_seconds, p.evaluations)
        return bool(self.on_progress(p)) if self.on_progress else False

    def step(self) -> Individual[G] | None:
        """One ask / evaluate / tell; None if the evaluation overran the simulated budget."""
        genome, parent, what = self.strategy.ask(self.rng)
        fitness = self.evaluator.evaluate(genome)
        if self.clock is not None and self.clock.overrun:
            return None
        self.evaluations += 1
        ind = Individual(self.next_id, genome, fitness, parent, what, self.evaluations)
        self.next_id += 1
        self.strategy.tell(ind)
        if self.on_individual is not None:
            self.on_individual(ind)
        return ind

    def run(self) -> SearchResult[G]:
        """Steps until a budget runs out (an island of an archipelago steps instead)."""
        clock = self.clock
        unbounded = clock is None or clock.budget is None
        if self.max_evals is None and self.time_budget is None and unbounded:
            raise ValueError("a search needs max_evals, time_budget or a simulated clock budget")
        self._t0 = time.perf_counter()
        self._last_report = (0.0, self.evaluations)
        next_report = self.progress_every_seconds
        stopped = "max_evals"
        check_clock = 0
        while self.max_evals is None or self.evaluations < self.max_evals:
            if self.step() is None:
                stopped = "simulated_budget"
                break
            check_clock += 1
            if check_clock >= 16:  # reading the clock every step costs more than it tells
                check_clock = 0
                now = time.perf_counter() - self._t0
                if self.time_budget is not None and now >= self.time_budget:
                    stopped = "time_budget"
                    break
                if now >= next_report:
                    next_report = now + self.progress_every_seconds
                    if self._report():
                        stopped = "callback"
                        break
        if stopped != "callback" and self._report():
            stopped = "callback"
        if self.strategy.best is None:
            raise ValueError("the simulated budget ran out before the first evaluation finished")
        return SearchResult(
            self.strategy.best,
            self.evaluations,
            time.perf_counter() - self._t0,
            stopped,
        )
