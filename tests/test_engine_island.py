"""The engine's islands on a toy genome: a strategy island is the plain search step for step,
continues exactly from its state, takes immigrants; the experiment loop runs a toy app."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from primeval.engine.archipelago import Archipelago
from primeval.engine.config import Budgets, WorkersConfig, changed_field
from primeval.engine.experiments import LoopSettings, Outcome, load_resume, run_experiments
from primeval.engine.island import Island, Rows
from primeval.engine.runs import RunFolder
from primeval.engine.search import Search, SearchProgress
from primeval.engine.seeds import derive_seed
from primeval.engine.strategies import RegularizedEvolution
from primeval.engine.strategy_island import StrategyIsland, genome_rows
from test_engine import BitSpace, OneMax


def island(seed: int = 0) -> StrategyIsland[tuple[int, ...]]:
    space = BitSpace()
    search = Search(RegularizedEvolution(space, 12, 3, 0.9), OneMax(), np.random.default_rng(seed))
    return StrategyIsland(search, space)


def snapshot(isl: StrategyIsland[tuple[int, ...]]) -> list[tuple[Any, ...]]:
    members = isl.search.strategy.members()
    return [(m.id, m.genome, m.fitness, m.parent) for m in members]


def test_a_strategy_island_advanced_in_batches_is_the_plain_search() -> None:
    plain = Search(
        RegularizedEvolution(BitSpace(), 12, 3, 0.9),
        OneMax(),
        np.random.default_rng(0),
        max_evals=150,
    )
    plain.run()
    isl = island()
    for n in (1, 16, 33, 100):
        isl.advance(n)
    assert isl.evaluations == 150 and not isl.finished
    assert [(m.id, m.genome, m.fitness) for m in plain.strategy.members()] == [
        s[:3] for s in snapshot(isl)
    ]


def test_a_strategy_island_continues_exactly_from_its_state() -> None:
    a = island(3)
    a.advance(40)
    a.immigrate(genome_rows(["[" + ", ".join(["1"] * 24) + "]"]))
    state = a.state()
    b = island(99)  # another seed: everything must come from the state
    b.restore(state)
    a.advance(60)
    b.advance(60)
    assert snapshot(a) == snapshot(b) and a.evaluations == b.evaluations == 100
    assert a.search.rng.bit_generator.state == b.search.rng.bit_generator.state


def test_immigrants_are_evaluated_and_join_the_population() -> None:
    isl = island(1)
    isl.advance(20)
    other = island(2)
    other.advance(20)
    rows = other.emigrants(5, np.random.default_rng(0))
    assert len(rows["genome"]) == 5
    assert isl.immigrate(rows) == 5
    isl.advance(5)
    members = isl.search.strategy.members()
    assert isl.evaluations == 25
    assert [m.mutation for m in members[-5:]] == ["immigrant"] * 5
    assert all(m.parent is None for m in members[-5:])


class ToyApp:
    """An :class:`~primeval.engine.island.IslandApp` of OneMax islands."""

    migration_interval: int | None = 50
    emigrants = 4
    checkpoints = True

    def __init__(self, seed: int) -> None:
        self.seed = seed

    @classmethod
    def from_json(cls, data: Any) -> ToyApp:
        return cls(int(data["seed"]))

    def config_json(self) -> Any:
        return {"seed": self.seed}

    def payload(self, experiment: int, island: int) -> int:
        return derive_seed(self.seed, "search", experiment, island)

    def build(self, experiment: int, island: int, payload: Any) -> Island:
        space = BitSpace()
        rng = np.random.default_rng(int(payload))
        return StrategyIsland(Search(RegularizedEvolution(space, 12, 3, 0.9), OneMax(), rng), space)

    def empty_rows(self) -> Rows:
        return genome_rows([])

    def genome_to_json(self, genome: Any) -> Any:
        return list(genome)

    def genome_from_json(self, obj: Any) -> Any:
        return tuple(obj)


class ToyExperiments:
    """Solved once an experiment's best has all ones; the summary is the best fitness."""

    writes_ticks = True

    def __init__(self) -> None:
        self.best: list[float] = []

    @property
    def solved(self) -> bool:
        return bool(self.best) and self.best[-1] == 1.0

    def islands(self, experiment: int) -> int:
        return 1

    def on_tick(self, experiment: int, arch: Archipelago, p: SearchProgress) -> None:
        return None

    def on_experiment_end(self, experiment: int, arch: Archipelago, complete: bool) -> None:
        found = arch.best()
        assert found is not None
        self.best.append(found[1].fitness)

    def on_next(self, experiment: int) -> None:
        return None

    def to_json(self) -> Any:
        return self.best

    def load_json(self, data: Any) -> None:
        self.best = list(data)

    def summary(self, outcome: Outcome) -> dict[str, Any]:
        return {"best": self.best, "stopped": outcome.stopped, "evals": outcome.evaluations}


def _settings(max_evals: int, max_experiments: int | None) -> LoopSettings:
    return LoopSettings(
        workers=WorkersConfig(),
        budgets=Budgets(max_evals=max_evals, max_experiments=max_experiments),
        fingerprint="toy",
        progress_every_seconds=0.05,
        checkpoint_every_seconds=0.05,
    )


def test_the_experiment_loop_runs_experiments_and_resumes_with_more(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path / "run")
    out = run_experiments(ToyApp(5), ToyExperiments(), folder, _settings(30, 2))
    assert out.stopped == "max_experiments" and out.experiments == 2 and out.evaluations == 60
    summary = folder.read_json(RunFolder.SUMMARY)
    assert len(summary["best"]) == 2 and all(0 < b <= 1 for b in summary["best"])
    point = load_resume(folder, "toy", 1, Budgets(max_evals=30, max_experiments=3))
    more = run_experiments(ToyApp(5), ToyExperiments(), folder, _settings(30, 3), point)
    assert more.experiments == 3 and more.evaluations == 90
    whole = RunFolder.create(tmp_path / "whole")
    run_experiments(ToyApp(5), ToyExperiments(), whole, _settings(30, 3))
    assert folder.read_json(RunFolder.SUMMARY) == whole.read_json(RunFolder.SUMMARY)


def test_the_loop_stops_when_the_app_is_solved(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path / "run")
    out = run_experiments(ToyApp(1), ToyExperiments(), folder, _settings(2_000, None))
    assert out.stopped == "solved" and folder.read_json(RunFolder.SUMMARY)["best"][-1] == 1.0
    assert not math.isnan(out.elapsed_seconds)


def test_changed_field_names_the_first_difference_outside_the_free_ones() -> None:
    a = {"seed": 1, "search": {"max_evals": 5, "population": 10}, "workers": {"backend": "auto"}}
    b = {"seed": 1, "search": {"max_evals": 9, "population": 10}, "workers": {"backend": "ray"}}
    assert changed_field(a, b, ("search.max_evals", "workers.backend")) is None
    assert changed_field(a, b, ("workers.backend",)) == "search.max_evals"
    assert changed_field(a, {**b, "seed": 2}, ("search.max_evals",)) == "seed"
