"""The asynchronous island: workers kept busy on expensive candidates, dead workers' candidates
evaluated again, errors told as failed evaluations, and a checkpoint that loses nothing.

Busy time is measured from the workers' own timestamps (each synthetic evaluation reports
when it started and ended), not from thresholds on the machine's speed.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from pool_handlers import EVALUATION_SECONDS, N_BITS, BitSpace
from primeval.engine.async_island import AsyncIsland
from primeval.engine.genome import Individual
from primeval.engine.strategies import RegularizedEvolution
from primeval.engine.workers import InlinePool, ProcessPool, make_pool

SLOW = "pool_handlers.SlowOneMax"
ECHO = "pool_handlers.Echo"


def busy_fractions(answers: list[dict[str, Any]]) -> dict[int, float]:
    """Per worker process: time spent evaluating over the time from its first evaluation's
    start to its last one's end."""
    spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for a in answers:
        spans[a["pid"]].append((a["start"], a["end"]))
    out = {}
    for pid, s in spans.items():
        window = max(e for _, e in s) - min(b for b, _ in s)
        out[pid] = sum(e - b for b, e in s) / window
    return out


def island(
    pool: Any, seed: int = 0, per_worker: int = 2, on_result: Any = None
) -> AsyncIsland[tuple[int, ...]]:
    strategy = RegularizedEvolution(BitSpace(), population_size=8, tournament_size=3)
    return AsyncIsland(
        strategy, pool, np.random.default_rng(seed), per_worker=per_worker, on_result=on_result
    )


@pytest.mark.slow
def test_two_process_workers_stay_at_least_90_percent_busy() -> None:
    answers: list[dict[str, Any]] = []
    isl = island(ProcessPool(SLOW, 2), on_result=lambda ind, value: answers.append(value))
    try:
        done = isl.advance(40)
    finally:
        isl.close()
    assert len(done) >= 40 and len(answers) == len(done)
    busy = busy_fractions(answers)
    assert len(busy) == 2, busy  # both workers evaluated
    assert all(f >= 0.9 for f in busy.values()), busy
    assert min(sum(1 for a in answers if a["pid"] == pid) for pid in busy) >= 15


@pytest.mark.slow
def test_a_slow_coordinator_without_candidates_in_flight_idles_its_workers() -> None:
    """The control of the test above: one candidate per worker and a coordinator that takes
    a quarter of an evaluation per result (say, writing lineage) leaves the workers waiting,
    and the measurement sees it."""
    answers: list[dict[str, Any]] = []

    def slow_bookkeeping(ind: Individual[tuple[int, ...]], value: dict[str, Any]) -> None:
        answers.append(value)
        time.sleep(EVALUATION_SECONDS / 4)

    isl = island(ProcessPool(SLOW, 2), per_worker=1, on_result=slow_bookkeeping)
    try:
        isl.advance(20)
    finally:
        isl.close()
    busy = busy_fractions(answers)
    assert len(busy) == 2 and all(f < 0.9 for f in busy.values()), busy


def test_a_killed_workers_candidates_are_requeued_and_evaluated() -> None:
    seen: list[int] = []
    isl = island(ProcessPool(SLOW, 2), on_result=lambda ind, value: seen.append(ind.id))
    try:
        isl.advance(2)
        lost = isl.in_flight(0)
        assert len(lost) == 2  # the one it evaluates and the next one, queued
        isl.pool.kill(0)
        done = isl.advance(12)
    finally:
        isl.close()
    assert isl.restarts == 1 and 1 <= isl.requeued <= len(lost)
    assert set(lost) <= set(seen)  # evaluated after all, by the restarted worker or the other
    assert len(seen) == len(set(seen))  # each exactly once
    assert [ind.evaluation for ind in done] == list(range(3, 3 + len(done)))
    assert not isl.errors


def test_a_candidate_that_keeps_killing_its_worker_fails_instead_of_stalling() -> None:
    isl = island(InlinePool(ECHO), per_worker=1)
    trial = isl.suggest()
    for _ in range(isl.max_attempts):
        isl.requeue(trial.id)
    assert isl.requeued == isl.max_attempts - 1 and isl.evaluations == 1
    assert isl.errors and "died" in isl.errors[-1]
    (member,) = isl.strategy.members()
    assert member.id == trial.id and math.isnan(member.fitness)


def test_errors_are_failed_evaluations_and_the_search_goes_on() -> None:
    # Echo answers "evaluate" with an error: every candidate fails, none is lost.
    isl = island(make_pool("inline", ECHO, 1))
    done = isl.advance(10)
    isl.close()
    assert len(done) >= 10 and all(math.isnan(d.fitness) for d in done)
    assert len(isl.errors) == len(done) and "unknown command 'evaluate'" in isl.errors[0]


class InlineOneMax:
    """SlowOneMax without the wait: the inline pool evaluates at once."""

    def handle(self, command: str, argument: Any) -> float:
        return sum(argument["genome"]) / N_BITS


def inline_island(seed: int) -> AsyncIsland[tuple[int, ...]]:
    pool = InlinePool("test_async_island.InlineOneMax")
    return island(pool, seed=seed)


def test_it_evolves_and_a_seed_reproduces_the_run() -> None:
    a, b = inline_island(3), inline_island(3)
    ra, rb = a.advance(300), b.advance(300)
    assert [(x.genome, x.fitness, x.parent) for x in ra] == [
        (x.genome, x.fitness, x.parent) for x in rb
    ]
    assert a.best is not None and a.best.fitness == 1.0  # OneMax solved from random strings
    assert all(x.parent is None for x in ra[:8]) and any(x.parent is not None for x in ra)


def test_state_and_restore_continue_the_same_run() -> None:
    whole = inline_island(5)
    first = whole.advance(40)
    rest = whole.advance(40)

    cut = inline_island(5)
    assert [x.id for x in cut.advance(40)] == [x.id for x in first]
    saved = json.loads(json.dumps(cut.state()))  # JSON-ready
    assert len(saved["pending"]) == len(cut.in_flight()) == 2  # sent before advance returned
    resumed = inline_island(99)  # the seed is overwritten by the saved random state
    resumed.restore(saved)
    again = resumed.advance(40)
    assert [(x.id, x.genome, x.fitness, x.parent) for x in again] == [
        (x.id, x.genome, x.fitness, x.parent) for x in rest
    ]
    with pytest.raises(ValueError):
        resumed.restore(saved)  # only a fresh island


def test_a_checkpoint_with_candidates_in_flight_sends_them_first_after_restore() -> None:
    saved: dict[str, Any] = {}

    def checkpoint(ind: Individual[tuple[int, ...]], value: Any) -> None:
        if ind.evaluation == 21:  # the first of a pair answered together: one still in flight
            saved.update(json.loads(json.dumps(isl.state())))

    isl = island(InlinePool("test_async_island.InlineOneMax"), seed=5, on_result=checkpoint)
    isl.advance(40)
    (pending,) = saved["pending"]
    resumed = inline_island(99)
    resumed.restore(saved)
    assert resumed.evaluations == 21 and resumed.in_flight() == []
    done = resumed.advance(3)
    assert (done[0].id, list(done[0].genome), done[0].evaluation) == (
        pending["id"],
        pending["genome"],
        22,
    )
    new = saved["next_id"]
    assert [d.id for d in done[1:]] == list(range(new, new + len(done) - 1))
    assert len(resumed.strategy.members()) == len(isl.strategy.members()) == 8
