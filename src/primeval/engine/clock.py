"""A simulated clock: search time charged by evaluations instead of read from the wall.

Tabular and surrogate benchmarks answer a query in microseconds but know what it would
have cost (a network's training time). Searches on them are compared at equal *simulated*
budgets (Ying et al., NAS-Bench-101, ICML 2019; Dong & Yang, NAS-Bench-201, ICLR 2020):
each evaluation charges its cost to a clock, and the evaluation that would take the clock
past its budget is not counted, as if the budget ran out while it was training.
"""

from __future__ import annotations

import math


class SimulatedClock:
    """Seconds charged by evaluations, against an optional budget.

    The evaluator charges each query (:meth:`charge`); the search reads :attr:`overrun`
    after each evaluation and, when set, discards that evaluation and stops.
    """

    def __init__(self, budget: float | None = None) -> None:
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise ValueError(f"a simulated budget must be a positive number of seconds: {budget}")
        self.budget = budget
        self.elapsed = 0.0
        self.overrun = False

    def charge(self, seconds: float) -> None:
        """Add one evaluation's cost; past the budget it is refused and :attr:`overrun` set."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"an evaluation cost must be finite and >= 0: {seconds}")
        if self.budget is not None and self.elapsed + seconds > self.budget:
            self.overrun = True
            return
        self.elapsed += seconds

    @property
    def remaining(self) -> float:
        return math.inf if self.budget is None else self.budget - self.elapsed
