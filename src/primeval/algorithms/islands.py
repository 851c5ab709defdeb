"""AutoML-Zero's islands on the engine's archipelago: compiled and reference.

Real et al. 2020 (AutoML-Zero, Sec. 4.2) run the search on many workers, each evolving its
own population, with migration through a shared pool. The engine runs the islands
(:mod:`primeval.engine.archipelago`); this module supplies them:

- :class:`CompiledIsland`, an adapter around :class:`~primeval.algorithms.evolve.CompiledSearch`
  (the compiled loop; programs migrate as packed fixed-width rows);
- with ``interpreter: reference``, the engine's generic
  :class:`~primeval.engine.strategy_island.StrategyIsland` (regularized evolution or random
  search over the reference interpreter; programs migrate as JSON texts; no checkpoints,
  as its FEC cache is not saved);
- :class:`AutomlIslands`, the :class:`~primeval.engine.island.IslandApp` that builds either
  from a config: island ``i`` of experiment ``e`` with the seeds a single-process run uses
  for island 0, so one worker reproduces it exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from primeval.algorithms import builders
from primeval.algorithms.builders import (
    build_compiled_search,
    build_evaluator,
    build_space,
    build_strategy,
    build_tasks,
)
from primeval.algorithms.config import Config, TaskConfig, parse_config
from primeval.algorithms.evolve import CompiledSearch
from primeval.algorithms.genome import AlgorithmSpace
from primeval.algorithms.program import Program, program_from_json, program_to_json
from primeval.algorithms.tasks.base import TaskSet
from primeval.engine.genome import Individual
from primeval.engine.island import Island, Rows
from primeval.engine.search import Search, SearchProgress
from primeval.engine.seeds import derive_seed
from primeval.engine.strategy_island import StrategyIsland, genome_rows


def island_label(experiment: int, island: int) -> tuple[object, ...]:
    """Seed labels of an island: island 0 uses those of a single-process run."""
    return (experiment,) if island == 0 else (experiment, island)


def island_tasks(config: Config, island: int) -> TaskConfig:
    """The search tasks of island ``island``: ``workers.island_tasks`` round-robin."""
    it = config.workers.island_tasks
    return it[island % len(it)] if it else config.tasks


def row_sizes(config: Config) -> tuple[int, int, int]:
    """The most instructions a program of this config has, per component."""
    return config.size_bounds(config.program.start())[2]


def pack(programs: list[Program], sizes: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Programs as fixed-width rows (component ``c`` at ``sum(sizes[:c])``): cheap to send,
    sample and checkpoint, unlike program objects or JSON."""
    width, k = sum(sizes), len(programs)
    ops = np.zeros((k, width), dtype=np.int16)
    args = np.zeros((k, width, 3), dtype=np.int16)
    data = np.zeros((k, width, 3))
    lens = np.zeros((k, 3), dtype=np.int64)
    for r, program in enumerate(programs):
        lo = 0
        for c, fn in enumerate(program.functions):
            n = len(fn)
            ops[r, lo : lo + n], args[r, lo : lo + n], data[r, lo : lo + n] = (
                fn.ops,
                fn.args,
                fn.data,
            )
            lens[r, c] = n
            lo += sizes[c]
    return {"ops": ops, "args": args, "data": data, "lens": lens}


def build_island_tasks(config: Config, experiment: int, island: int) -> TaskSet:
    """The search tasks of island ``island`` in experiment ``experiment``: drawn anew in every
    experiment (unless ``tasks.seed`` fixes them), from the run's pool with ``projections``."""
    label = island_label(experiment, island)
    seed, pool = derive_seed(config.seed, "tasks", *label), derive_seed(config.seed, "pool")
    return build_tasks(island_tasks(config, island), seed, pool)


def island_rng(config: Config, experiment: int, island: int) -> np.random.Generator:
    """The search generator of island ``island`` in experiment ``experiment``."""
    label = island_label(experiment, island)
    return np.random.default_rng(derive_seed(config.seed, "search", *label))


def build_island(
    config: Config,
    experiment: int,
    island: int,
    tasks: TaskSet | None = None,
    start: Program | None = None,
) -> CompiledSearch:
    """The compiled search of island ``island`` in experiment ``experiment``.

    ``tasks``: its task set, built by the coordinator (so that a worker process never loads
    an image data set); built here when ``None``. ``start``: an algorithm every initial
    member copies, in place of ``program.initial`` (a restart from the best).
    """
    if tasks is None:
        tasks = build_island_tasks(config, experiment, island)
    rng = island_rng(config, experiment, island)
    return build_compiled_search(config, _space(config, start), tasks, rng)


def _space(config: Config, start: Program | None) -> AlgorithmSpace:
    space = build_space(config)
    return space if start is None else AlgorithmSpace(space.mutator, start)


class IslandPayload(NamedTuple):
    """What the coordinator sends an island: its task set and, for a restart from the best,
    the algorithm its population starts from (as JSON)."""

    tasks: TaskSet
    start: Any = None


class CompiledIsland:
    """:class:`~primeval.engine.island.Island` over a compiled search."""

    def __init__(self, search: CompiledSearch, sizes: tuple[int, int, int]) -> None:
        self.search = search
        self.sizes = sizes

    @property
    def evaluations(self) -> int:
        return self.search.evaluations

    @property
    def full_evaluations(self) -> int:
        return self.search.full_evaluations

    @property
    def finished(self) -> bool:
        return False

    @property
    def best(self) -> Individual[Program] | None:
        return self.search.best

    def warm(self) -> None:
        self.search.warm()

    def advance(self, n: int) -> None:
        self.search.step(n)

    def progress(self) -> SearchProgress:
        return self.search.progress(0.0)

    def emigrants(self, n: int, rng: np.random.Generator) -> Rows:
        return self.search.emigrant_rows(n, rng, self.sizes)

    def immigrate(self, rows: Rows) -> int:
        return self.search.immigrate_rows(rows, self.sizes)

    def state(self) -> dict[str, np.ndarray]:
        return self.search.state()

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        self.search.load_state(state)

    def lineage(self) -> list[str]:
        # One compact JSON text per link: a long chain as dicts would cost ~10x its text.
        return [json.dumps(a.to_json(), separators=(",", ":")) for a in self.search.ancestry()]


class AutomlIslands:
    """The :class:`~primeval.engine.island.IslandApp` of an AutoML-Zero config."""

    def __init__(
        self, config: Config, selected: Callable[[], Program | None] | None = None
    ) -> None:
        self.config = config
        # The algorithm selected so far, for select.restart_from_best (the coordinator's).
        self.selected = selected if selected is not None else (lambda: None)
        self.seed = config.seed
        wc = config.workers
        self.migration_interval: int | None = wc.migration_interval
        self.emigrants = max(1, round(wc.migration_fraction * config.search.population))
        self.compiled = config.interpreter == "compiled"
        self.checkpoints = self.compiled
        self.sizes = row_sizes(config)

    @classmethod
    def from_json(cls, data: Any) -> AutomlIslands:
        return cls(parse_config(data, "worker config"))

    def config_json(self) -> Any:
        return self.config.model_dump(mode="json")

    def payload(self, experiment: int, island: int) -> IslandPayload:
        # Built by the coordinator: workers get arrays and never read an image data set.
        tasks = build_island_tasks(self.config, experiment, island)
        start = self.selected() if self.config.select.restart_from_best else None
        return IslandPayload(tasks, program_to_json(start) if start is not None else None)

    def build(self, experiment: int, island: int, payload: Any) -> Island:
        config = self.config
        tasks, start_json = payload
        start = program_from_json(start_json) if start_json is not None else None
        if self.compiled:
            compiled = build_island(config, experiment, island, tasks, start)
            return CompiledIsland(compiled, self.sizes)
        rng = island_rng(config, experiment, island)
        space = _space(config, start)
        evaluator = build_evaluator(
            config, tasks, builders.make_interpreter(config.interpreter), rng
        )
        strategy = build_strategy(config, space)
        evaluator.watch(strategy.members)  # the population hurdle rule reads it
        search = Search(strategy, evaluator, rng)
        return StrategyIsland(search, space, lambda: evaluator.full_evaluations)

    def empty_rows(self) -> Rows:
        return pack([], self.sizes) if self.compiled else genome_rows([])

    def genome_to_json(self, genome: Any) -> Any:
        return program_to_json(genome)

    def genome_from_json(self, obj: Any) -> Any:
        return program_from_json(obj)
