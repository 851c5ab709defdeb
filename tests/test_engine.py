"""The generic engine on a toy genome: regularized evolution, random search, caches, hurdles."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from primeval.engine.cache import LRUCache
from primeval.engine.genome import Individual
from primeval.engine.hurdles import RollingPercentileHurdle
from primeval.engine.search import Search
from primeval.engine.strategies import RandomSearch, RegularizedEvolution

N_BITS = 24


class BitSpace:
    """Bit strings; fitness is the fraction of ones (OneMax)."""

    def initial(self, rng: np.random.Generator) -> tuple[int, ...]:
        return self.random(rng)

    def random(self, rng: np.random.Generator) -> tuple[int, ...]:
        return tuple(int(b) for b in rng.integers(0, 2, N_BITS))

    def mutate(self, g: tuple[int, ...], rng: np.random.Generator) -> tuple[tuple[int, ...], str]:
        i = int(rng.integers(N_BITS))
        return (*g[:i], 1 - g[i], *g[i + 1 :]), f"flip {i}"

    def to_json(self, g: tuple[int, ...]) -> Any:
        return list(g)

    def from_json(self, obj: Any) -> tuple[int, ...]:
        return tuple(obj)


class OneMax:
    def __init__(self, nan_every: int = 0) -> None:
        self.n = 0
        self.nan_every = nan_every

    def evaluate(self, g: tuple[int, ...]) -> float:
        self.n += 1
        if self.nan_every and self.n % self.nan_every == 0:
            return math.nan
        return sum(g) / N_BITS

    def stats(self) -> Mapping[str, float]:
        return {"calls": float(self.n)}


def run(strategy: Any, evals: int, seed: int, evaluator: OneMax | None = None) -> float:
    s = Search(strategy, evaluator or OneMax(), np.random.default_rng(seed), max_evals=evals)
    return s.run().best.fitness


def test_evolution_beats_random_search_on_onemax() -> None:
    evo = [run(RegularizedEvolution(BitSpace(), 20, 5, 1.0), 600, seed) for seed in range(10)]
    rnd = [run(RandomSearch(BitSpace()), 600, seed) for seed in range(10)]
    assert np.mean(evo) > np.mean(rnd) + 0.1
    assert min(evo) == 1.0


def test_regularized_evolution_replaces_the_oldest() -> None:
    st = RegularizedEvolution(BitSpace(), population_size=5, tournament_size=2)
    for i in range(8):
        st.tell(Individual(i, (0,) * N_BITS, float(i == 0), None, "x", i + 1))
    assert [m.id for m in st.members()] == [3, 4, 5, 6, 7]
    assert st.best is not None and st.best.id == 0  # the best ever is remembered


def test_worst_removal_variant_keeps_the_best() -> None:
    st = RegularizedEvolution(BitSpace(), population_size=3, tournament_size=2, remove="worst")
    for i, f in enumerate([0.9, 0.1, 0.5, 0.7, 0.2]):
        st.tell(Individual(i, (0,) * N_BITS, f, None, "x", i + 1))
    assert sorted(m.fitness for m in st.members()) == [0.5, 0.7, 0.9]


def test_tournament_picks_the_fittest_of_the_sample() -> None:
    st = RegularizedEvolution(BitSpace(), population_size=4, tournament_size=50, mutate_prob=0.0)
    for i, f in enumerate([0.1, 0.8, 0.3, 0.2]):
        st.tell(Individual(i, (i,) * N_BITS, f, None, "x", i + 1))
    _, parent, what = st.ask(np.random.default_rng(0))
    assert parent == 1 and what == "copy"


def test_search_copes_with_nan_fitness() -> None:
    best = run(RegularizedEvolution(BitSpace(), 20, 5), 400, 0, OneMax(nan_every=3))
    assert math.isfinite(best) and best > 0.7


def test_search_is_deterministic_for_a_seed() -> None:
    a = run(RegularizedEvolution(BitSpace(), 10, 3), 200, 5)
    b = run(RegularizedEvolution(BitSpace(), 10, 3), 200, 5)
    assert a == b


def test_search_stops_on_time_budget_and_callback() -> None:
    s = Search(
        RandomSearch(BitSpace()),
        OneMax(),
        np.random.default_rng(0),
        time_budget=0.2,
        progress_every_seconds=0.05,
    )
    r = s.run()
    assert r.stopped == "time_budget" and r.elapsed_seconds >= 0.2  # not before its budget
    assert r.evaluations > 0
    s = Search(
        RandomSearch(BitSpace()),
        OneMax(),
        np.random.default_rng(0),
        max_evals=10**9,
        progress_every_seconds=0.01,
        on_progress=lambda p: p.evaluations > 100,
    )
    r = s.run()
    assert r.stopped == "callback" and r.evaluations > 100


def test_running_a_search_needs_a_budget() -> None:
    """Only run() needs one: an island steps a search without (its archipelago stops it)."""
    s = Search(RandomSearch(BitSpace()), OneMax(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs max_evals"):
        s.run()
    assert s.step() is not None and s.evaluations == 1


def test_lru_cache_evicts_least_recently_used() -> None:
    c: LRUCache[str, float] = LRUCache(2)
    c.put("a", 1.0)
    c.put("b", 2.0)
    assert c.get("a") == 1.0
    c.put("c", 3.0)
    assert c.get("b") is None and c.get("a") == 1.0 and c.get("c") == 3.0
    assert len(c) == 2
    assert c.hits == 3 and c.misses == 1


def test_hurdle_passes_the_top_quarter_after_warmup() -> None:
    h = RollingPercentileHurdle(percentile=75, window=1000, warmup=100)
    rng = np.random.default_rng(0)
    results = [h.check(float(x)) for x in rng.random(5000)]
    assert all(results[:100])
    rate = np.mean(results[1000:])
    assert 0.2 < rate < 0.3
    assert not h.check(math.nan)
