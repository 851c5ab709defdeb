"""Checkpoints of the engine's Python search: a stopped search continues exactly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from primeval.engine.checkpoint import CheckpointError, save_checkpoint
from primeval.engine.clock import SimulatedClock
from primeval.engine.genome import Individual
from primeval.engine.search import Search
from primeval.engine.snapshot import load_search, save_search
from primeval.engine.strategies import RandomSearch, RegularizedEvolution, Strategy
from test_engine_clock import IntSpace


class NoisyEvaluator:
    """g / 99, NaN for every third call; costs 1 simulated second."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.calls = 0

    def evaluate(self, g: int) -> float:
        self.calls += 1
        self.clock.charge(1.0)
        return math.nan if self.calls % 3 == 0 else g / 99

    def stats(self) -> Mapping[str, float]:
        return {}


def _search(strategy: Strategy[int], seen: list[Individual[int]]) -> Search[int]:
    clock = SimulatedClock(300.0)
    return Search(
        strategy,
        NoisyEvaluator(clock),
        np.random.default_rng(5),
        clock=clock,
        on_individual=seen.append,
    )


@pytest.mark.parametrize("remove", ["oldest", "worst", None])
def test_stop_save_load_continue_is_the_same_run(remove: str | None, tmp_path: Path) -> None:
    def strategy() -> Strategy[int]:
        if remove is None:
            return RandomSearch(IntSpace())
        return RegularizedEvolution(IntSpace(), 20, 4, 0.9, remove)

    whole: list[Individual[int]] = []
    _search(strategy(), whole).run()
    parts: list[Individual[int]] = []
    first = _search(strategy(), parts)
    first.max_evals = 120
    first.run()
    path = tmp_path / "search.npz"
    assert isinstance(first.evaluator, NoisyEvaluator)
    save_search(path, first, IntSpace(), {"calls": first.evaluator.calls})
    second = _search(strategy(), parts)
    extra, _ = load_search(path, second, IntSpace())
    assert isinstance(second.evaluator, NoisyEvaluator)
    second.evaluator.calls = extra["calls"]
    second.run()
    key = [(i.id, i.genome, i.parent, i.mutation, i.evaluation) for i in whole]
    assert [(i.id, i.genome, i.parent, i.mutation, i.evaluation) for i in parts] == key
    np.testing.assert_array_equal([i.fitness for i in parts], [i.fitness for i in whole])
    assert second.strategy.best is not None and first.strategy.best is not None


def test_other_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    save_checkpoint(path, {"a": np.zeros(2)}, {"kind": "something else"})
    with pytest.raises(CheckpointError, match="not a search checkpoint"):
        load_search(path, _search(RandomSearch(IntSpace()), []), IntSpace())
