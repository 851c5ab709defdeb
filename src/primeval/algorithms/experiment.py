"""The main job: search for an algorithm as a config says, select it on fresh tasks, report.

Follows the reference's ``run_search_experiment``: an experiment is one
regularized-evolution search of up to ``search.max_evals`` evaluations; its best
algorithm is evaluated on fresh *select* tasks, and experiments repeat (with
new search tasks) until the select fitness exceeds ``select.sufficient_fitness``
or the budget ends. The chosen algorithm is then scored on *final* tasks.
Unlike the reference, primeval also checks the best algorithm on the select
tasks while a search runs (``select.check_during_search``), so a run stops as
soon as it has succeeded.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from primeval.algorithms.evaluate import (
    AlgorithmEvaluator,
    FECSettings,
    HurdleSettings,
    Interpreter,
)
from primeval.algorithms.genome import AlgorithmSpace
from primeval.algorithms.interpret.reference import ReferenceInterpreter, combine
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import Mutator, ProgramSpace
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Program, program_from_json, program_to_json
from primeval.algorithms.tasks.base import Task, TaskSet
from primeval.config import Config, ConfigError, TaskConfig, dump_config
from primeval.engine.genome import Individual
from primeval.engine.heap import release_freed_memory
from primeval.engine.search import Search, SearchProgress, SearchResult
from primeval.engine.strategies import RandomSearch, RegularizedEvolution, Strategy
from primeval.runs import RunFolder

if TYPE_CHECKING:
    from primeval.algorithms.parallel import ResumePoint


def derive_seed(seed: int, *labels: object) -> int:
    """A seed for one purpose (``"tasks", 3``), independent of the others."""
    key = [seed] + [zlib.crc32(str(x).encode()) for x in labels]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def make_interpreter(name: str) -> Interpreter:
    if name == "reference":
        return ReferenceInterpreter()
    if name == "compiled":
        from primeval.algorithms.interpret.compiled import CompiledInterpreter

        return CompiledInterpreter()
    raise ValueError(f"unknown interpreter {name!r}")


COMPILED_ENTRIES = ("run_tasks_with", "evolve")
"""The compiled code's entry points cached on disk: the interpreter's and the search's."""


def compile_in_child() -> None:
    """Compile the compiled code into the disk cache in a child process, if it is not there.

    A process that compiles keeps numba's compiler state (LLVM modules, type information)
    for its lifetime, some 400 MB more than one that loads the machine code from the cache;
    and the workers of a search would each compile at once. Done here, the search's processes
    all load. A file lock makes concurrent callers (test processes, a second search) wait for
    one compilation. If the child fails, the caller's first evaluation compiles in-process.
    """
    from primeval.algorithms.interpret.compiled import cache_lock, is_cached

    if all(is_cached(entry) for entry in COMPILED_ENTRIES):
        return
    with cache_lock():
        for entry in COMPILED_ENTRIES:  # one child each: a compiler's peak is per process
            if not is_cached(entry):
                code = f"from primeval.algorithms.experiment import _compile; _compile({entry!r})"
                subprocess.run([sys.executable, "-c", code], check=False, stdout=subprocess.DEVNULL)


def _compile(entry: str) -> None:
    """Compile entry point ``entry`` of :data:`COMPILED_ENTRIES` in this process."""
    from primeval.algorithms.interpret.compiled import CompiledInterpreter
    from primeval.algorithms.islands import build_island
    from primeval.config import load_config

    release_freed_memory()
    if entry == "run_tasks_with":
        CompiledInterpreter().warm_up()
    elif entry == "evolve":
        build_island(load_config("demo"), 1, 0).warm()
    else:
        raise ValueError(f"unknown entry point {entry!r}")


_HELD: dict[tuple[str, str | None], tuple[Any, np.ndarray]] = {}


def _dataset(name: str, path: str | None) -> tuple[Any, np.ndarray]:
    """A data set for building tasks. Image data sets come memory-mapped from their compact
    copies (``tasks.datasets``): mapping again costs nothing, and between task builds the
    pixels occupy the page cache, not this process. A data set that is not mapped (digits,
    or no writable cache) is read once per process and held."""
    from primeval.algorithms.tasks import load_dataset

    key = (name, path)
    if key in _HELD:
        return _HELD[key]
    x, y = load_dataset(name, path, compact=True)
    if not isinstance(getattr(x, "raw", None), np.memmap):
        _HELD[key] = (x, y)
    return x, y


def preload_datasets(config: Config) -> None:
    """Read the image data sets the run's tasks project, now: before worker processes
    start, so that reading's transient memory (a data set's file and its decoded pixels, or
    writing its compact copy) never adds to theirs."""
    for tc in (config.tasks, *config.workers.island_tasks, config.select.tasks, config.final.tasks):
        if tc is not None and tc.kind == "projected":
            _dataset(tc.dataset, tc.path)


def build_tasks(tc: TaskConfig, seed: int) -> TaskSet:
    """The task set a :class:`TaskConfig` describes (its own seed wins over ``seed``)."""
    from primeval.algorithms import tasks as T

    s = tc.seed if tc.seed is not None else seed
    if tc.kind == "linear":
        return T.linear_regression_tasks(tc.n_tasks, tc.dim, tc.n_train, tc.n_valid, s, tc.epochs)
    if tc.kind == "nonlinear":
        return T.nonlinear_teacher_tasks(
            tc.n_tasks, tc.dim, tc.n_train, tc.n_valid, s, tc.epochs, tuple(tc.zero_rows)
        )
    x, y = _dataset(tc.dataset, tc.path)
    if tc.pairs == "search":
        pairs = list(T.search_pairs())
    elif tc.pairs == "selection":
        pairs = list(T.SELECTION_PAIRS)
    elif tc.pairs == "all":
        pairs = list(T.ALL_PAIRS)
    else:
        pairs = [(int(a), int(b)) for a, b in tc.pairs]
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
    mutator = Mutator(space, config.mutation.types)
    return AlgorithmSpace(mutator, start if start is not None else pc.initial)


def build_strategy(config: Config, space: AlgorithmSpace) -> Strategy[Program]:
    sc = config.search
    if sc.strategy == "random":
        return RandomSearch(space)
    return RegularizedEvolution(
        space, sc.population, sc.tournament, config.mutation.prob, sc.remove
    )


def build_evaluator(
    config: Config, tasks: TaskSet, interpreter: Interpreter, rng: np.random.Generator
) -> AlgorithmEvaluator:
    fc, hc = config.fec, config.hurdles
    return AlgorithmEvaluator(
        tasks,
        interpreter,
        rng,
        combine_mode=config.fitness.combine,
        fec=FECSettings(fc.n_train, fc.n_valid, fc.cache_size) if fc.enabled else None,
        hurdle=HurdleSettings(hc.tasks, hc.percentile, hc.window, hc.warmup)
        if hc.enabled
        else None,
        max_cost_ratio=config.fitness.max_cost_ratio,
    )


class SearchRunner(Protocol):
    """What ``run_experiments`` needs of a search: :class:`PythonSearch` or
    :class:`~primeval.algorithms.evolve.CompiledSearch`."""

    @property
    def best(self) -> Individual[Program] | None: ...

    @property
    def full_evaluations(self) -> int:
        """Candidates evaluated in full (not answered by the FEC cache or the cost cap)."""

    def run(
        self,
        max_evals: int | None = None,
        time_budget: float | None = None,
        progress_every_seconds: float = 1.0,
        on_progress: Callable[[SearchProgress], bool | None] | None = None,
    ) -> SearchResult[Program]: ...


class PythonSearch:
    """The generic engine's loop (:class:`Search`) over a strategy and an evaluator."""

    def __init__(
        self, strategy: Strategy[Program], evaluator: AlgorithmEvaluator, rng: np.random.Generator
    ) -> None:
        self.strategy = strategy
        self.evaluator = evaluator
        self.rng = rng

    @property
    def best(self) -> Individual[Program] | None:
        return self.strategy.best

    @property
    def full_evaluations(self) -> int:
        return self.evaluator.full_evaluations

    def run(
        self,
        max_evals: int | None = None,
        time_budget: float | None = None,
        progress_every_seconds: float = 1.0,
        on_progress: Callable[[SearchProgress], bool | None] | None = None,
    ) -> SearchResult[Program]:
        search = Search(
            self.strategy,
            self.evaluator,
            self.rng,
            max_evals=max_evals,
            time_budget=time_budget,
            progress_every_seconds=progress_every_seconds,
            on_progress=on_progress,
        )
        return search.run()


def build_search(
    config: Config,
    space: AlgorithmSpace,
    tasks: TaskSet,
    interpreter: Interpreter,
    rng: np.random.Generator,
) -> SearchRunner:
    """The compiled search loop with the compiled interpreter, the Python one otherwise.

    Both make the same candidates from the same generator (see :mod:`.evolve`).
    """
    if interpreter.name != "compiled":
        evaluator = build_evaluator(config, tasks, interpreter, rng)
        return PythonSearch(build_strategy(config, space), evaluator, rng)
    from primeval.algorithms.evolve import CompiledSearch

    sc, fc, hc = config.search, config.fec, config.hurdles
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
        fec=FECSettings(fc.n_train, fc.n_valid, fc.cache_size) if fc.enabled else None,
        hurdle=HurdleSettings(hc.tasks, hc.percentile, hc.window, hc.warmup)
        if hc.enabled
        else None,
        max_cost_ratio=config.fitness.max_cost_ratio,
        lineage=sc.lineage,
        lineage_max_mb=sc.lineage_max_mb / config.workers.count,  # the islands share it
    )


@dataclass
class RunSummary:
    solved: bool
    select_fitness: float | None
    final_fitness: float | None
    evaluations: int
    full_evaluations: int
    elapsed_seconds: float
    experiments: int
    search_fitness: float | None
    stopped: str
    seed: int
    interpreter: str
    evals_per_second: float

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d


class Reporter(Protocol):
    """Hooks for a user interface."""

    def progress(self, experiment: int, p: SearchProgress) -> None: ...

    def selected(self, experiment: int, search_fitness: float, select_fitness: float) -> None: ...

    def message(self, text: str) -> None: ...


class SilentReporter:
    def progress(self, experiment: int, p: SearchProgress) -> None:
        return None

    def selected(self, experiment: int, search_fitness: float, select_fitness: float) -> None:
        return None

    def message(self, text: str) -> None:
        return None


class _Selection:
    """The best algorithm so far, chosen by its fitness on the *select* tasks."""

    def __init__(
        self, config: Config, folder: RunFolder, rep: Reporter, interp: Interpreter
    ) -> None:
        self.config = config
        self.folder = folder
        self.rep = rep
        self.interp = interp
        self.tasks = build_tasks(config.select.tasks, derive_seed(config.seed, "select"))
        self.rng = np.random.default_rng(derive_seed(config.seed, "select-rng"))
        self.program: Program | None = None
        self.select = -math.inf
        self.search = -math.inf
        self.solved = False
        self.checked: dict[tuple[int, ...], float] = {}  # (experiment, [island,] id) -> fitness
        self.key: tuple[int, ...] | None = None  # the chosen candidate's

    def consider(self, key: tuple[int, ...], ind: Individual[Program]) -> float:
        if key in self.checked:
            return self.checked[key]
        f = self.interp.fitnesses(ind.genome, self.tasks, self.rng)
        sf = combine(f, self.config.fitness.combine)
        self.checked[key] = sf
        self.rep.selected(key[0], ind.fitness, sf)
        if sf > self.select or self.program is None:
            self.program, self.select, self.search = ind.genome, sf, ind.fitness
            self.key = key
            self.folder.write_json(RunFolder.BEST, program_to_json(ind.genome))
        sufficient = self.config.select.sufficient_fitness
        if sufficient is not None and sf > sufficient:
            self.solved = True
        return sf

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "program": program_to_json(self.program) if self.program is not None else None,
            "select": num(self.select),
            "search": num(self.search),
            "solved": self.solved,
            "rng": self.rng.bit_generator.state,
            "key": list(self.key) if self.key is not None else None,
        }

    def load_json(self, d: dict[str, Any]) -> None:
        self.program = program_from_json(d["program"]) if d["program"] is not None else None
        self.select = -math.inf if d["select"] is None else float(d["select"])
        self.search = -math.inf if d["search"] is None else float(d["search"])
        self.solved = bool(d["solved"])
        self.rng.bit_generator.state = d["rng"]
        key = d.get("key")
        self.key = tuple(int(k) for k in key) if key is not None else None

    def final(self) -> float | None:
        assert self.program is not None
        config = self.config
        if config.final.tasks is None:
            return None
        final_tasks = build_tasks(config.final.tasks, derive_seed(config.seed, "final"))
        final_rng = np.random.default_rng(derive_seed(config.seed, "final-rng"))
        return combine(
            self.interp.fitnesses(self.program, final_tasks, final_rng), config.fitness.combine
        )

    def summary(
        self, evaluations: int, full: int, elapsed: float, experiments: int, stopped: str
    ) -> RunSummary:
        return RunSummary(
            solved=self.solved,
            select_fitness=self.select,
            final_fitness=self.final(),
            evaluations=evaluations,
            full_evaluations=full,
            elapsed_seconds=round(elapsed, 3),
            experiments=experiments,
            search_fitness=self.search,
            stopped=stopped,
            seed=self.config.seed,
            interpreter=self.interp.name,
            evals_per_second=round(evaluations / elapsed, 1) if elapsed > 0 else 0.0,
        )


def run_experiments(
    config: Config,
    folder: RunFolder,
    reporter: Reporter | None = None,
    interpreter: Interpreter | None = None,
    resume: ResumePoint | None = None,
) -> tuple[RunSummary, Program]:
    """Run the whole job a config describes; write the run folder; return the outcome.

    With the compiled interpreter the search runs on ``workers.count`` islands
    (:mod:`.islands`) and the run folder keeps a checkpoint; ``resume`` continues a run
    from it (see :func:`load_resume`). The reference interpreter runs one in-process search.
    """
    release_freed_memory()  # before tasks are built: their transients must not stay resident
    rep = reporter or SilentReporter()
    interp = interpreter or make_interpreter(config.interpreter)
    if interp.name == "compiled":
        from primeval.algorithms.parallel import run_islands

        compile_in_child()

        return run_islands(config, folder, rep, interp, resume)
    if resume is not None:
        raise ConfigError(
            "--resume needs interpreter: compiled (the reference path keeps no checkpoint)"
        )
    folder.write_text(RunFolder.CONFIG, dump_config(config))
    space = build_space(config)
    sel = _Selection(config, folder, rep, interp)
    budget = config.search.time_budget
    t0 = time.perf_counter()
    total_evals = 0
    total_full = 0
    experiment = 0
    stopped = "max_experiments"

    while True:
        experiment += 1
        remaining = None if budget is None else budget - (time.perf_counter() - t0)
        if remaining is not None and remaining <= 0:
            stopped = "time_budget"
            break
        rng = np.random.default_rng(derive_seed(config.seed, "search", experiment))
        tasks = build_tasks(config.tasks, derive_seed(config.seed, "tasks", experiment))
        runner = build_search(config, space, tasks, interp, rng)
        offset_t = time.perf_counter() - t0
        offset_n = total_evals

        def on_progress(
            p: SearchProgress,
            exp: int = experiment,
            run: SearchRunner = runner,
            n0: int = offset_n,
            t0_: float = offset_t,
        ) -> bool:
            record = p.to_json()
            record["evaluations"] += n0
            record["elapsed_seconds"] = round(p.elapsed_seconds + t0_, 3)
            record["experiment"] = exp
            folder.append_progress(record)
            rep.progress(exp, p)
            best = run.best
            if config.select.check_during_search and best is not None:
                sel.consider((exp, best.id), best)
            return sel.solved

        result = runner.run(
            max_evals=config.search.max_evals,
            time_budget=remaining,
            progress_every_seconds=config.progress_every_seconds,
            on_progress=on_progress,
        )
        total_evals += result.evaluations
        total_full += runner.full_evaluations
        sel.consider((experiment, result.best.id), result.best)
        if sel.solved:
            stopped = "solved"
            break
        if result.stopped == "time_budget":
            stopped = "time_budget"
            break
        if config.select.max_experiments and experiment >= config.select.max_experiments:
            stopped = "max_experiments"
            break
        rep.message(
            f"experiment {experiment}: best select fitness {sel.select:.6f}; starting another"
        )

    assert sel.program is not None
    summary = sel.summary(total_evals, total_full, time.perf_counter() - t0, experiment, stopped)
    folder.write_json(RunFolder.SUMMARY, summary.to_json())
    return summary, sel.program
