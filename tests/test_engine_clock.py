"""The simulated clock: evaluations charge it; the one that overruns the budget is discarded."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from primeval.engine.clock import SimulatedClock
from primeval.engine.search import Search
from primeval.engine.strategies import RandomSearch, RegularizedEvolution


class IntSpace:
    """Integers 0..99; mutation adds or subtracts one."""

    def initial(self, rng: np.random.Generator) -> int:
        return self.random(rng)

    def random(self, rng: np.random.Generator) -> int:
        return int(rng.integers(100))

    def mutate(self, g: int, rng: np.random.Generator) -> tuple[int, str]:
        return min(99, max(0, g + int(rng.choice([-1, 1])))), "step"

    def to_json(self, g: int) -> Any:
        return g

    def from_json(self, obj: Any) -> int:
        return int(obj)


class CostlyEvaluator:
    """Fitness g / 99; each evaluation costs ``cost(g)`` simulated seconds."""

    def __init__(self, clock: SimulatedClock, cost: Any = lambda g: 10.0) -> None:
        self.clock = clock
        self.cost = cost
        self.calls = 0

    def evaluate(self, g: int) -> float:
        self.calls += 1
        self.clock.charge(self.cost(g))
        return g / 99

    def stats(self) -> Mapping[str, float]:
        return {"calls": float(self.calls)}


def test_charges_add_up_until_the_budget() -> None:
    c = SimulatedClock(25.0)
    c.charge(10.0)
    c.charge(10.0)
    assert c.elapsed == 20.0 and not c.overrun and c.remaining == 5.0
    c.charge(10.0)
    assert c.overrun and c.elapsed == 20.0  # the overrunning charge is refused
    assert SimulatedClock().remaining == math.inf


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_budget_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError):
        SimulatedClock(bad)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_costs_must_be_finite_and_non_negative(bad: float) -> None:
    with pytest.raises(ValueError):
        SimulatedClock(10.0).charge(bad)


@pytest.mark.parametrize("strategy", ["evolution", "random"])
def test_search_stops_at_the_simulated_budget(strategy: str) -> None:
    clock = SimulatedClock(1005.0)
    ev = CostlyEvaluator(clock)
    st: Any = (
        RegularizedEvolution(IntSpace(), 10, 3)
        if strategy == "evolution"
        else RandomSearch(IntSpace())
    )
    seen: list[int] = []
    s = Search(
        st, ev, np.random.default_rng(0), clock=clock, on_individual=lambda i: seen.append(i.id)
    )
    r = s.run()
    assert r.stopped == "simulated_budget"
    assert r.evaluations == 100 and len(seen) == 100  # 100 x 10 s fit; the 101st is discarded
    assert ev.calls == 101 and clock.elapsed == 1000.0
    assert s.progress().stats["simulated_seconds"] == 1000.0


def test_uneven_costs_never_pass_the_budget() -> None:
    for seed in range(20):
        clock = SimulatedClock(500.0)
        ev = CostlyEvaluator(clock, cost=lambda g: 1.0 + g)
        r = Search(RandomSearch(IntSpace()), ev, np.random.default_rng(seed), clock=clock).run()
        assert clock.elapsed <= 500.0 and r.stopped == "simulated_budget"
        assert r.evaluations == ev.calls - 1


def test_max_evals_still_applies_with_a_clock() -> None:
    clock = SimulatedClock(1e9)
    r = Search(
        RandomSearch(IntSpace()),
        CostlyEvaluator(clock),
        np.random.default_rng(0),
        max_evals=7,
        clock=clock,
    ).run()
    assert r.stopped == "max_evals" and r.evaluations == 7 and clock.elapsed == 70.0


def test_a_clock_without_a_budget_is_no_budget() -> None:
    clock = SimulatedClock()
    s = Search(
        RandomSearch(IntSpace()), CostlyEvaluator(clock), np.random.default_rng(0), clock=clock
    )
    with pytest.raises(ValueError, match="needs max_evals"):
        s.run()


def test_budget_smaller_than_one_evaluation_is_an_error() -> None:
    clock = SimulatedClock(5.0)
    s = Search(
        RandomSearch(IntSpace()), CostlyEvaluator(clock), np.random.default_rng(0), clock=clock
    )
    with pytest.raises(ValueError, match="before the first evaluation"):
        s.run()
