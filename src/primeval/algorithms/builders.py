"""Building AutoML-Zero's parts from a config: interpreters, task sets, the program space,
the strategy, the evaluator and the compiled search.

The search and select generators and task sets are seeded by labels (``"tasks", 3``) through
:func:`~primeval.engine.seeds.derive_seed`, so that a seed reproduces a run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from primeval.algorithms import tasks as T
from primeval.algorithms.config import IMAGE_KINDS, Config, ConfigError, TaskConfig
from primeval.algorithms.evaluate import (
    AlgorithmEvaluator,
    FECSettings,
    HurdleSettings,
    Interpreter,
)
from primeval.algorithms.evolve import CompiledSearch
from primeval.algorithms.genome import AlgorithmSpace
from primeval.algorithms.interpret.compiled import CompiledInterpreter
from primeval.algorithms.interpret.reference import ReferenceInterpreter
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import Mutator, ProgramSpace
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import Task, TaskSet
from primeval.engine.seeds import derive_seed
from primeval.engine.strategies import RandomSearch, RegularizedEvolution, Strategy

__all__ = [
    "build_compiled_search",
    "build_evaluator",
    "build_space",
    "build_strategy",
    "build_tasks",
    "derive_seed",
    "make_interpreter",
    "preload_datasets",
]


def make_interpreter(name: str) -> Interpreter:
    if name == "reference":
        return ReferenceInterpreter()
    if name == "compiled":
        return CompiledInterpreter()
    raise ValueError(f"unknown interpreter {name!r}")


_HELD: dict[tuple[str, str | None], tuple[Any, np.ndarray]] = {}


def _dataset(name: str, path: str | None) -> tuple[Any, np.ndarray]:
    """A data set for building tasks. Image data sets come memory-mapped from their compact
    copies (``primeval.datasets``): mapping again costs nothing, and between task builds the
    pixels occupy the page cache, not this process. A data set that is not mapped (digits,
    or no writable cache) is read once per process and held."""
    key = (name, path)
    if key in _HELD:
        return _HELD[key]
    x, y = T.load_dataset(name, path, compact=True)
    if not isinstance(getattr(x, "raw", None), np.memmap):
        _HELD[key] = (x, y)
    return x, y


def _table(tc: TaskConfig) -> tuple[np.ndarray, np.ndarray, bool]:
    """A table task set's features, target and whether it classifies, read once per process;
    a file that cannot be used is a :class:`ConfigError` naming it."""
    assert tc.path is not None and tc.target is not None
    key = (f"table:{tc.target}", tc.path)
    try:
        if key not in _HELD:
            _HELD[key] = T.load_table(tc.path, tc.target)
        x, y = _HELD[key]
        classification = T.table_objective(y, tc.objective)
    except T.TableError as e:
        raise ConfigError(str(e)) from None
    except ValueError as e:
        raise ConfigError(f"{tc.path}: column {tc.target!r}: {e}") from None
    need = tc.n_train + tc.n_valid + tc.n_test
    if need > len(y):
        raise ConfigError(
            f"{tc.path}: {len(y)} rows, fewer than n_train + n_valid + n_test = {need}"
        )
    return x, y, classification


def preload_datasets(config: Config) -> None:
    """Read the data sets the run's tasks use, now: before worker processes start, so that
    reading's transient memory (a data set's file and its decoded pixels, or writing its
    compact copy) never adds to theirs, and a file that cannot be used is reported first."""
    for tc in (config.tasks, *config.workers.island_tasks, config.select.tasks, config.final.tasks):
        if tc is not None and tc.kind in IMAGE_KINDS:
            _dataset(tc.dataset, tc.path)
        elif tc is not None and tc.kind == "table":
            _table(tc)


def _pairs(tc: TaskConfig) -> list[tuple[int, int]]:
    if tc.pairs == "search":
        return list(T.search_pairs())
    if tc.pairs == "selection":
        return list(T.SELECTION_PAIRS)
    if tc.pairs == "all":
        return list(T.ALL_PAIRS)
    return [(int(a), int(b)) for a, b in tc.pairs]


def build_tasks(tc: TaskConfig, seed: int, pool_seed: int | None = None) -> TaskSet:
    """The task set a :class:`TaskConfig` describes (its own seed wins over ``seed``).

    With ``tc.projections`` the tasks are drawn with ``seed`` from a pool fixed by
    ``tc.seed``, else by ``pool_seed`` (the run's, so that every experiment draws from one
    pool), else by ``seed``."""
    s = tc.seed if tc.seed is not None else seed
    if tc.kind == "linear":
        return T.linear_regression_tasks(tc.n_tasks, tc.dim, tc.n_train, tc.n_valid, s, tc.epochs)
    if tc.kind == "nonlinear":
        return T.nonlinear_teacher_tasks(
            tc.n_tasks, tc.dim, tc.n_train, tc.n_valid, s, tc.epochs, tuple(tc.zero_rows)
        )
    base = s if tc.seed is not None or pool_seed is None else pool_seed
    sizes = {"dim": tc.dim, "n_train": tc.n_train, "n_valid": tc.n_valid, "n_test": tc.n_test}
    if tc.kind in ("multiclass", "table"):
        # A task per projection: pool members drawn with the experiment's seed, or fresh ones.
        if tc.projections is not None:
            picks = T.draw_members(1, tc.projections, tc.n_tasks, seed)
            seeds = [T.member_seed(base, int(k)) for k in picks]
        else:
            seeds = [T.member_seed(s, i) for i in range(tc.n_tasks)]
        if tc.kind == "table":
            tx, ty, classification = _table(tc)
            return T.table_tasks(
                tx, ty, seeds, classification, tc.dim, tc.n_train, tc.n_valid, tc.n_test, tc.epochs
            )
        x, y = _dataset(tc.dataset, tc.path)
        return T.multiclass_tasks(x, y, seeds, epochs=tc.epochs, name=tc.dataset, **sizes)
    x, y = _dataset(tc.dataset, tc.path)
    pairs = _pairs(tc)
    if tc.projections is not None:
        return T.pooled_binary_tasks(
            x, y, pairs, tc.projections, tc.n_tasks, base, seed, epochs=tc.epochs,
            name=tc.dataset, **sizes,
        )  # fmt: skip
    # Tasks cycle through the pairs; a seeded shuffle picks which pairs come first. A pair's
    # task depends only on (seed, pair), so each further cycle takes a new projection seed:
    # n_tasks = 3 * len(pairs) gives every pair three different projections and splits.
    order = np.random.default_rng(s).permutation(len(pairs))
    chosen = [pairs[order[i % len(pairs)]] for i in range(tc.n_tasks)]
    tasks: list[Task] = []
    for cycle in range(0, tc.n_tasks, len(pairs)):
        k = cycle // len(pairs)
        tasks.extend(
            T.projected_binary_tasks(
                x,
                y,
                chosen[cycle : cycle + len(pairs)],
                dim=tc.dim,
                n_train=tc.n_train,
                n_valid=tc.n_valid,
                n_test=tc.n_test,
                seed=s if k == 0 else derive_seed(s, "projection", k),
                epochs=tc.epochs,
                name=tc.dataset if k == 0 else f"{tc.dataset}#{k}",
            )
        )
    return TaskSet.of(tasks)


def build_space(config: Config) -> AlgorithmSpace:
    """The program space and initial population a config describes. Functions left out of
    ``mutation.functions`` are frozen at their initial size."""
    pc = config.program
    banks = Banks(config.memory.scalars, config.memory.vectors, config.memory.matrices)
    ops = tuple(tuple(REGISTRY[n] for n in names) for names in pc.component_ops())
    start = pc.start()
    init, lo, hi = config.size_bounds(start)
    space = ProgramSpace(banks, (ops[0], ops[1], ops[2]), init, lo, hi, config.mutation.frozen())
    mc = config.mutation
    mutator = Mutator(space, mc.types, mc.weights, mc.constants)
    return AlgorithmSpace(mutator, start if start is not None else pc.initial)


def build_strategy(config: Config, space: AlgorithmSpace) -> Strategy[Program]:
    sc = config.search
    if sc.strategy == "random":
        return RandomSearch(space)
    return RegularizedEvolution(
        space, sc.population, sc.tournament, config.mutation.prob, sc.remove
    )


def fec_settings(config: Config) -> FECSettings | None:
    """Functional equivalence checking as the config sets it (None: off)."""
    fc = config.fec
    return FECSettings(fc.n_train, fc.n_valid, fc.cache_size) if fc.enabled else None


def hurdle_settings(config: Config) -> HurdleSettings | None:
    """Hurdles as the config sets them (None: off)."""
    hc = config.hurdles
    if not hc.enabled:
        return None
    return HurdleSettings(hc.tasks, hc.percentile, hc.window, hc.warmup, hc.rule)


def build_evaluator(
    config: Config, tasks: TaskSet, interpreter: Interpreter, rng: np.random.Generator
) -> AlgorithmEvaluator:
    return AlgorithmEvaluator(
        tasks,
        interpreter,
        rng,
        combine_mode=config.fitness.combine,
        fec=fec_settings(config),
        hurdle=hurdle_settings(config),
        max_cost_ratio=config.fitness.max_cost_ratio,
        precheck=config.search.precheck,
    )


def build_compiled_search(
    config: Config, space: AlgorithmSpace, tasks: TaskSet, rng: np.random.Generator
) -> CompiledSearch:
    """The compiled search loop a config describes (see :mod:`.evolve`); it makes the same
    candidates from the same generator as the engine's loop over :func:`build_strategy` and
    :func:`build_evaluator` with the reference interpreter."""
    sc = config.search
    return CompiledSearch(
        space.mutator.space,
        list(space.mutator.types),
        tasks,
        rng,
        strategy=sc.strategy,
        population=sc.population,
        tournament=sc.tournament,
        mutate_prob=config.mutation.prob,
        remove=sc.remove,
        initial=space.start if space.initial_kind == "program" else space.initial_kind,
        combine_mode=config.fitness.combine,
        fec=fec_settings(config),
        hurdle=hurdle_settings(config),
        max_cost_ratio=config.fitness.max_cost_ratio,
        lineage=sc.lineage,
        lineage_max_mb=sc.lineage_max_mb / config.workers.count,  # the islands share it
        weights=list(space.mutator.weights) if space.mutator.weights is not None else None,
        constants=space.mutator.constants,
        precheck=sc.precheck,
    )
