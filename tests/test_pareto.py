"""Vector fitness: dominance, non-dominated sorting, the Pareto tournament and its strategy."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from primeval.engine.genome import Individual
from primeval.engine.pareto import (
    ParetoEvolution,
    dominance,
    dominates,
    non_dominated_sort,
    pareto_front,
    pareto_tournament,
    tradeoff_front,
)
from primeval.engine.search import Search

values = st.one_of(st.integers(0, 6).map(float), st.just(math.nan), st.just(-math.inf))
vectors = st.integers(1, 3).flatmap(
    lambda m: st.lists(st.lists(values, min_size=m, max_size=m), min_size=1, max_size=25)
)


def brute_dominates(a: list[float], b: list[float]) -> bool:
    x = [v if math.isfinite(v) else -math.inf for v in a]
    y = [v if math.isfinite(v) else -math.inf for v in b]
    return all(p >= q for p, q in zip(x, y, strict=True)) and x != y


@given(vectors)
def test_dominance_matches_the_definition(points: list[list[float]]) -> None:
    d = dominance(points)
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            assert d[i, j] == brute_dominates(a, b) == dominates(a, b)


@given(vectors)
def test_fronts_partition_the_points_and_each_is_dominated_only_by_earlier_ones(
    points: list[list[float]],
) -> None:
    fronts = non_dominated_sort(points)
    assert sorted(i for f in fronts for i in f) == list(range(len(points)))
    rank = {int(i): k for k, f in enumerate(fronts) for i in f}
    for i in range(len(points)):
        dominators = [rank[j] for j in range(len(points)) if brute_dominates(points[j], points[i])]
        assert all(r < rank[i] for r in dominators)  # nothing in its own or a later front
        if rank[i] > 0:  # and something in the front just before
            assert rank[i] - 1 in dominators


@given(vectors)
def test_the_pareto_front_is_the_undominated_points_one_index_each(
    points: list[list[float]],
) -> None:
    front = pareto_front(points)
    clean = [tuple(v if math.isfinite(v) else -math.inf for v in p) for p in points]
    want = {c for c in clean if not any(brute_dominates(list(o), list(c)) for o in clean)}
    assert {clean[i] for i in front} == want and len(front) == len(want)
    assert list(front) == sorted(front)
    assert all(clean.index(clean[i]) == i for i in front)  # the first of equal points


def test_nan_and_inf_rank_below_every_finite_value() -> None:
    assert dominates([0.0, 1.0], [math.nan, 1.0])
    assert dominates([-1e300, 1.0], [-math.inf, 1.0])
    assert not dominates([math.nan, 1.0], [math.inf, 1.0])  # +inf is no better than NaN
    assert list(pareto_front([[math.nan], [-5.0]])) == [1]


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=40))
def test_the_tradeoff_front_keeps_gain_up_cost_down_ordered_by_cost(
    points: list[tuple[int, int]],
) -> None:
    gain = np.array([p[0] for p in points], dtype=float)
    cost = np.array([p[1] for p in points], dtype=float)
    front = tradeoff_front(gain, cost)
    want = {
        (g, c)
        for g, c in points
        if not any(g2 >= g and c2 <= c and (g2 > g or c2 < c) for g2, c2 in points)
    }
    assert {(gain[i], cost[i]) for i in front} == want and len(front) == len(want)
    assert list(cost[front]) == sorted(cost[front])


@given(vectors, st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_the_tournament_winner_is_drawn_and_undominated_among_the_drawn(
    points: list[list[float]], size: int, seed: int
) -> None:
    picks = set(np.random.default_rng(seed).integers(0, len(points), size).tolist())
    winner = pareto_tournament(points, size, np.random.default_rng(seed))
    assert winner in picks
    assert not any(brute_dominates(points[j], points[winner]) for j in picks)


def test_the_tournament_picks_uniformly_among_its_front() -> None:
    # Three points, none dominating another; a fourth dominated by all. A tournament that
    # draws everything must choose each of the three about a third of the time, never the
    # fourth (a scalar tournament on either objective would always choose the same one).
    points = [[3.0, 1.0, 2.0], [1.0, 3.0, 2.0], [2.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    rng = np.random.default_rng(0)
    wins = Counter(pareto_tournament(points, 64, rng) for _ in range(3000))
    assert set(wins) == {0, 1, 2}
    for k in range(3):
        assert abs(wins[k] - 1000) < 5 * math.sqrt(3000 * (1 / 3) * (2 / 3))


def test_the_tournament_refuses_an_empty_population() -> None:
    with pytest.raises(ValueError):
        pareto_tournament(np.zeros((0, 2)), 3, np.random.default_rng(0))


class TwoBits:
    """Bit strings scored on two objectives (:func:`objectives`): the ones in the first half
    and the ones in the second half; one string (all ones) is best on both."""

    n = 12

    def initial(self, rng: np.random.Generator) -> tuple[int, ...]:
        return tuple([0] * self.n)

    def random(self, rng: np.random.Generator) -> tuple[int, ...]:
        return tuple(int(b) for b in rng.integers(0, 2, self.n))

    def mutate(self, g: tuple[int, ...], rng: np.random.Generator) -> tuple[tuple[int, ...], str]:
        i = int(rng.integers(self.n))
        return (*g[:i], 1 - g[i], *g[i + 1 :]), f"flip {i}"

    def to_json(self, g: tuple[int, ...]) -> list[int]:
        return list(g)

    def from_json(self, obj: list[int]) -> tuple[int, ...]:
        return tuple(obj)


def objectives(g: tuple[int, ...]) -> tuple[float, float]:
    h = len(g) // 2
    return float(sum(g[:h])), float(sum(g[h:]))


def evolve(strategy: ParetoEvolution[tuple[int, ...]], evals: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in range(evals):
        genome, parent, what = strategy.ask(rng)
        vector = objectives(genome)
        strategy.tell_vector(Individual(n, genome, sum(vector), parent, what, n + 1), vector)


def test_pareto_evolution_climbs_both_objectives_from_nothing() -> None:
    strategy = ParetoEvolution(TwoBits(), population_size=20, tournament_size=5)
    evolve(strategy, 600, seed=0)
    assert strategy.best is not None and strategy.best.fitness == TwoBits.n
    assert len(strategy.members()) == 20 and strategy.vectors().shape == (20, 2)


def test_pareto_evolution_without_selection_pressure_does_not_climb() -> None:
    # The control for the test above: a tournament of one is a random parent, and 600
    # evaluations of a random walk from all zeros do not reach all ones.
    strategy = ParetoEvolution(TwoBits(), population_size=20, tournament_size=1)
    evolve(strategy, 600, seed=0)
    assert strategy.best is not None and strategy.best.fitness < TwoBits.n


def test_pareto_evolution_state_restores_the_vectors() -> None:
    a = ParetoEvolution(TwoBits(), population_size=10, tournament_size=3)
    evolve(a, 40, seed=1)
    b = ParetoEvolution(TwoBits(), population_size=10, tournament_size=3)
    b.restore(a.members(), a.best)
    b.load_state(a.state())
    assert np.array_equal(a.vectors(), b.vectors()) and a.members() == b.members()
    ra, rb = np.random.default_rng(7), np.random.default_rng(7)
    assert [a.ask(ra)[0] for _ in range(5)] == [b.ask(rb)[0] for _ in range(5)]
    with pytest.raises(ValueError):
        b.load_state({"vectors": []})


def test_pareto_evolution_runs_as_a_scalar_strategy_and_copes_with_nan() -> None:
    class NanEvery3rd:
        n = 0

        def evaluate(self, g: tuple[int, ...]) -> float:
            self.n += 1
            return math.nan if self.n % 3 == 0 else float(sum(g))

        def stats(self) -> dict[str, float]:
            return {}

    strategy = ParetoEvolution(TwoBits(), population_size=10, tournament_size=4)
    result = Search(strategy, NanEvery3rd(), np.random.default_rng(0), max_evals=300).run()
    assert result.evaluations == 300 and result.best.fitness == TwoBits.n
