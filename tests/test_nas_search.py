"""NAS strategies through the engine: budgets, a statistical comparison with random search
on a synthetic landscape with a planted optimum, REINFORCE's learning, a golden run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from primeval.engine.checkpoint import CheckpointError
from primeval.engine.clock import SimulatedClock
from primeval.engine.genome import Individual
from primeval.engine.search import Search
from primeval.engine.snapshot import load_search, save_search
from primeval.engine.strategies import Strategy
from primeval.nas.config import NasConfig
from primeval.nas.evaluate import TableEvaluator
from primeval.nas.reinforce import Reinforce
from primeval.nas.runner import RunTrace, build_search, curve, run_search, run_strategy
from primeval.nas.space import N_CELLS, N_EDGES, Cell, CellSpace, arch_string, cell_from_index
from primeval.nas.strategies import STRATEGIES, StrategySpec
from primeval.nas.table import Nb201Table, load_table

OPTIMUM = (3,) * N_EDGES
COST = 100.0  # simulated seconds per query on the synthetic table (12 of 200 epochs)


def synthetic_table(seed: int = 0, noise: float = 1.0) -> Nb201Table:
    """An additive landscape with one interaction, op 3 best on every edge, 3 noisy seeds."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 1.0, (N_EDGES, 5))
    w[:, 3] = w.max(axis=1) + 0.5
    cells = np.array([cell_from_index(i) for i in range(N_CELLS)])
    true = (
        50.0 + 2.0 * w[np.arange(N_EDGES), cells].sum(axis=1) + 1.0 * (cells[:, 0] == cells[:, 5])
    )
    val = true[:, None] + rng.normal(0.0, noise, (N_CELLS, 3))
    return Nb201Table(
        "synthetic",
        val,
        np.full(N_CELLS, 3),
        np.full(N_CELLS, COST * 200 / 12),
        0.01 + 0.001 * cells.sum(axis=1),
        np.full(N_CELLS, 0.5),
    )


SYNTH = synthetic_table()
CONFIG = NasConfig(budget_seconds=80 * COST + 50, runs=200)  # 80 queries a run


def test_the_synthetic_optimum_is_the_planted_one() -> None:
    assert cell_from_index(SYNTH.best_index) == OPTIMUM


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_stops_at_its_simulated_budget(name: str) -> None:
    trace = run_search(SYNTH, CONFIG, name, run=0)
    assert len(trace.cells) == 80 and trace.times[-1] == 80 * COST
    assert trace.progress.stats["simulated_seconds"] == 80 * COST
    table = load_table("cifar10")
    for budget in (3000.0, 12000.0):
        t = run_search(table, CONFIG.with_overrides(budget_seconds=budget), name, run=1)
        assert 0 < t.times[-1] <= budget and np.all(np.diff(t.times) > 0)
        assert t.times[-1] > budget - 0.06 * table.train_time.max()  # stopped only when full


def _finals(name: str) -> np.ndarray:
    return run_strategy(SYNTH, CONFIG, name).final_accuracy


def _worse_than_random(finals: np.ndarray, random: np.ndarray) -> bool:
    """One-sided Mann-Whitney U: is the strategy significantly (p < 0.01) worse?"""
    return bool(mannwhitneyu(finals, random, alternative="less").pvalue < 0.01)


@pytest.mark.parametrize("name", [n for n in STRATEGIES.names() if n != "random"])
def test_every_strategy_beats_or_ties_random_search(name: str) -> None:
    finals, random = _finals(name), _finals("random")
    assert not _worse_than_random(finals, random)
    if name.startswith("evolution"):  # on this landscape evolution must really be better
        assert mannwhitneyu(finals, random, alternative="greater").pvalue < 1e-6
        assert np.mean(finals == SYNTH.optimum) > 0.03 > np.mean(random == SYNTH.optimum)


class Stuck(Strategy[Cell]):
    """Asks the same poor cell forever."""

    def ask(self, rng: np.random.Generator) -> tuple[Cell, int | None, str]:
        return (0,) * N_EDGES, None, "stuck"

    def _tell(self, individual: Individual[Cell]) -> None:
        return None  # never learns: the control that must fail the comparison

    def members(self) -> list[Individual[Cell]]:
        return []


def test_the_comparison_catches_a_strategy_worse_than_random(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        STRATEGIES._specs, "stuck", StrategySpec("stuck", "stuck", "-", lambda s, c: Stuck(s))
    )
    assert _worse_than_random(_finals("stuck"), _finals("random"))


def test_the_registry_refuses_a_second_strategy_of_a_name() -> None:
    with pytest.raises(ValueError, match="already registered"):
        STRATEGIES.register(STRATEGIES["random"])
    with pytest.raises(KeyError):
        STRATEGIES["nope"]


def _reinforce_search(strategy: Reinforce[Cell], steps: int, seed: int = 0) -> None:
    clock = SimulatedClock()
    ev = TableEvaluator(SYNTH, np.random.default_rng(seed + 1), clock)
    Search(strategy, ev, np.random.default_rng(seed), max_evals=steps).run()


def test_reinforce_learns_the_planted_optimum() -> None:
    st = Reinforce(CellSpace(), learning_rate=0.1)
    _reinforce_search(st, 600)
    assert st.most_likely() == OPTIMUM
    assert st.probabilities()[:, 3].min() > 0.5


def test_reinforce_raises_the_probability_of_rewarded_cells() -> None:
    st = Reinforce(CellSpace(), learning_rate=0.05)
    rng = np.random.default_rng(0)
    st.ask(rng)
    good, bad = (1,) * N_EDGES, (2,) * N_EDGES
    st.tell(Individual(0, bad, 50.0, None, "policy", 1))
    p0 = st.probabilities()
    st.tell(Individual(1, good, 60.0, None, "policy", 2))  # above the baseline
    st.tell(Individual(2, bad, 40.0, None, "policy", 3))  # below it
    p1 = st.probabilities()
    assert np.all(p1[:, 1] > p0[:, 1]) and np.all(p1[:, 2] < p0[:, 2])
    np.testing.assert_allclose(p1.sum(axis=1), 1.0)


def test_reinforce_ignores_failed_evaluations() -> None:
    st = Reinforce(CellSpace())
    st.ask(np.random.default_rng(0))
    before = st.probabilities()
    for f in (np.nan, np.inf, -np.inf):
        st.tell(Individual(0, (1,) * N_EDGES, f, None, "policy", 1))
    np.testing.assert_array_equal(st.probabilities(), before)
    assert len(st.members()) == 3


def test_reinforce_state_round_trips_and_continues_identically() -> None:
    a = Reinforce(CellSpace(), learning_rate=0.05)
    _reinforce_search(a, 50)
    b = Reinforce(CellSpace(), learning_rate=0.05)
    b.restore(a.members(), a.best)
    b.load_state(a.state())
    ra, rb = np.random.default_rng(9), np.random.default_rng(9)
    for k in range(20):
        ga, _, _ = a.ask(ra)
        gb, _, _ = b.ask(rb)
        assert ga == gb
        f = float(SYNTH.mean_acc[int("".join(map(str, ga)), 5)])
        a.tell(Individual(k, ga, f, None, "policy", k))
        b.tell(Individual(k, gb, f, None, "policy", k))
    np.testing.assert_array_equal(a.probabilities(), b.probabilities())


def test_incumbents_and_curves() -> None:
    trace = RunTrace(
        np.array([10, 11, 12, 13, 14, 15]),
        np.array([1.0, 3.0, 2.0, 3.0, np.nan, 5.0]),
        np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0]),
        progress=None,  # type: ignore[arg-type]
    )
    assert list(trace.incumbents()) == [10, 11, 11, 11, 11, 15] and trace.final_cell == 15
    values = np.arange(20, dtype=float)
    got = curve(trace, values, np.array([0.0, 10.0, 35.0, 59.9, 60.0, 99.0]))
    np.testing.assert_array_equal(got, [np.nan, 10, 11, 11, 15, 15])


GOLDEN: dict[str, tuple[int, str]] = {
    "evolution": (
        87,
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    ),
    "reinforce": (
        105,
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    ),
    "random": (
        106,
        "|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|nor_conv_3x3~2|",
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_runs_on_cifar10(name: str) -> None:
    """Seed 0, run 0 at the published protocol: fails loudly if any draw changes."""
    trace = run_search(load_table("cifar10"), NasConfig(), name, run=0)
    evaluations, arch = GOLDEN[name]
    assert (len(trace.cells), arch_string(cell_from_index(trace.final_cell))) == (evaluations, arch)


def test_runs_are_reproducible_and_independent() -> None:
    a = run_search(SYNTH, CONFIG, "evolution", run=3)
    b = run_search(SYNTH, CONFIG, "evolution", run=3)
    c = run_search(SYNTH, CONFIG, "evolution", run=4)
    np.testing.assert_array_equal(a.cells, b.cells)
    assert not np.array_equal(a.cells, c.cells)


def test_summary_fields() -> None:
    r = run_strategy(load_table("cifar10"), NasConfig(runs=5), "evolution")
    s: dict[str, Any] = r.summary()
    assert {"strategy", "dataset", "runs", "mean", "std", "published_mean"} <= set(s)
    assert s["runs"] == 5 and s["published_mean"] == 91.19
    assert r.curves.shape == (5, len(r.grid)) and r.evaluated.sum() == r.evaluations.sum()


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_a_checkpointed_search_continues_exactly(name: str, tmp_path: Path) -> None:
    """Stop after 30 evaluations, save, load into fresh objects, go on: the same run."""
    table = load_table("cifar10")
    whole: list[Cell] = []
    build_search(
        table, NasConfig(), name, 2, on_individual=lambda i: whole.append(i.genome)
    ).search.run()
    parts: list[Cell] = []
    first = build_search(
        table, NasConfig(), name, 2, on_individual=lambda i: parts.append(i.genome)
    )
    first.search.max_evals = 30
    first.search.run()
    path = tmp_path / "checkpoint.npz"
    save_search(path, first.search, first.space, {"evaluator": first.evaluator.state()})
    second = build_search(
        table, NasConfig(), name, 99, on_individual=lambda i: parts.append(i.genome)
    )
    extra, warnings = load_search(path, second.search, second.space)
    second.evaluator.load_state(extra["evaluator"])
    second.search.run()
    assert warnings == [] and parts == whole and second.search.evaluations == len(whole)
    with pytest.raises(CheckpointError, match="saved with"):
        other = "random" if name != "random" else "evolution"
        load_search(path, build_search(table, NasConfig(), other, 0).search, CellSpace())
