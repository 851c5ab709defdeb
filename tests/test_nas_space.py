"""The NAS-Bench-201 cell genome: indices, arch strings, mutation, JSON; the MnasNet reward
and Pareto fronts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from primeval.nas.objective import Accuracy, MnasNetReward, pareto_front
from primeval.nas.space import (
    EDGES,
    N_CELLS,
    N_EDGES,
    N_OPS,
    OPS,
    CellSpace,
    arch_string,
    cell_from_index,
    cell_index,
    parse_arch,
)

cells = st.tuples(*[st.integers(0, N_OPS - 1)] * N_EDGES)


def test_the_space_has_15625_cells_with_distinct_indices() -> None:
    assert N_CELLS == 15625 and len(EDGES) == 6 and len(OPS) == 5
    seen = {cell_from_index(i) for i in range(N_CELLS)}
    assert len(seen) == N_CELLS
    assert all(cell_index(c) == i for i, c in enumerate(map(cell_from_index, range(N_CELLS))))


@given(cells)
def test_index_and_arch_string_round_trip(cell: tuple[int, ...]) -> None:
    assert cell_from_index(cell_index(cell)) == cell
    assert parse_arch(arch_string(cell)) == cell
    space = CellSpace()
    assert space.from_json(space.to_json(cell)) == cell
    assert space.from_json(list(cell)) == cell
    assert space.decode(space.encode(cell)) == cell


def test_arch_string_is_the_benchmarks() -> None:
    resnet = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    assert parse_arch(resnet) == (3, 0, 3, 1, 0, 1)
    assert arch_string((3, 0, 3, 1, 0, 1)) == resnet
    assert cell_index((3, 0, 3, 1, 0, 1)) == int("303101", 5)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|nor_conv_3x3~0|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_bad_arch_strings_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_arch(bad)


@pytest.mark.parametrize("bad", [[0] * 5, [0] * 7, [5, 0, 0, 0, 0, 0], [-1] * 6, [True] * 6, 3])
def test_bad_json_cells_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        CellSpace().from_json(bad)


@given(cells, st.integers(0, 2**32 - 1))
def test_mutation_changes_exactly_one_edge(cell: tuple[int, ...], seed: int) -> None:
    child, what = CellSpace().mutate(cell, np.random.default_rng(seed))
    diff = [k for k in range(N_EDGES) if child[k] != cell[k]]
    assert len(diff) == 1 and all(0 <= k < N_OPS for k in child)
    to, source = EDGES[diff[0]]
    assert what.startswith(f"edge {to}<-{source}: {OPS[cell[diff[0]]]} -> ")


def test_mutation_picks_edges_and_new_ops_uniformly() -> None:
    rng = np.random.default_rng(0)
    counts = np.zeros((N_EDGES, N_OPS))
    for _ in range(6000):
        child, _ = CellSpace().mutate((0,) * N_EDGES, rng)
        edge = next(k for k in range(N_EDGES) if child[k])
        counts[edge, child[edge]] += 1
    assert counts[:, 0].sum() == 0  # never the old op
    expected = 6000 / (N_EDGES * (N_OPS - 1))
    assert np.all(np.abs(counts[:, 1:] - expected) < 5 * math.sqrt(expected))


def test_random_cells_cover_the_ops() -> None:
    rng = np.random.default_rng(1)
    drawn = np.array([CellSpace().random(rng) for _ in range(2000)])
    assert set(np.unique(drawn)) == set(range(N_OPS))


def test_mnasnet_reward() -> None:
    r = MnasNetReward(target=0.02)
    assert r(90.0, 0.02) == 90.0  # at the target: the accuracy
    assert r(90.0, 0.04) == pytest.approx(90.0 * 2**-0.07)  # twice as slow: ~4.7% less
    assert r(90.0, 0.01) > 90.0
    assert Accuracy()(90.0, 1.0) == 90.0
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError):
            MnasNetReward(target=bad)


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=40))
def test_pareto_front_matches_brute_force(points: list[tuple[int, int]]) -> None:
    acc = np.array([p[0] for p in points], dtype=float)
    lat = np.array([p[1] for p in points], dtype=float)
    front = pareto_front(acc, lat)
    dominated = {
        i
        for i in range(len(points))
        for j in range(len(points))
        if (acc[j] >= acc[i] and lat[j] <= lat[i]) and (acc[j] > acc[i] or lat[j] < lat[i])
    }
    kept = {(acc[i], lat[i]) for i in front}
    want = {(acc[i], lat[i]) for i in range(len(points)) if i not in dominated}
    assert kept == want and len(front) == len(kept)  # one index per distinct point
    assert list(lat[front]) == sorted(lat[front])
