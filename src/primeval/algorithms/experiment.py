"""The main job: search for an algorithm as a config says, select it on fresh tasks, report.

Follows the reference's ``run_search_experiment``: an experiment is one
regularized-evolution search of up to ``search.max_evals`` evaluations; its best
algorithm is evaluated on fresh *select* tasks, and experiments repeat (with
new search tasks) until the select fitness exceeds ``select.sufficient_fitness``
or the budget ends. The chosen algorithm is then scored on *final* tasks.
Unlike the reference, primeval also checks the best algorithm on the select
tasks while a search runs (``select.check_during_search``), so a run stops as
soon as it has succeeded.

The loop itself is the engine's (:func:`primeval.engine.experiments.run_experiments`, over
the islands of :mod:`.islands`); this module adds what AutoML-Zero means by an experiment's
outcome (:class:`Selection`), its summary and its resume rules (:func:`resume_config`).
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from primeval.algorithms.builders import (
    build_space,
    build_tasks,
    derive_seed,
    make_interpreter,
    preload_datasets,
)
from primeval.algorithms.config import Config, ConfigError, dump_config, load_config
from primeval.algorithms.evaluate import Interpreter
from primeval.algorithms.interpret import compiled
from primeval.algorithms.interpret.reference import combine
from primeval.algorithms.islands import AutomlIslands, build_island
from primeval.algorithms.program import Program, program_from_json, program_to_json
from primeval.engine.archipelago import Archipelago
from primeval.engine.config import WHERE_WORKERS_RUN, Budgets, changed_field
from primeval.engine.experiments import LoopSettings, Outcome, ResumePoint, load_resume
from primeval.engine.experiments import run_experiments as run_on_engine
from primeval.engine.genome import Individual
from primeval.engine.heap import release_freed_memory
from primeval.engine.lineage import save_chain, select_chain
from primeval.engine.runs import RunFolder
from primeval.engine.search import SearchProgress

__all__ = [
    "RESUMABLE",
    "Reporter",
    "RunSummary",
    "Selection",
    "SilentReporter",
    "budgets",
    "build_space",
    "build_tasks",
    "compile_in_child",
    "config_hash",
    "derive_seed",
    "load_run",
    "make_interpreter",
    "preload_datasets",
    "resume_config",
    "run_experiments",
]

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
    if all(compiled.is_cached(entry) for entry in COMPILED_ENTRIES):
        return
    with compiled.cache_lock():
        for entry in COMPILED_ENTRIES:  # one child each: a compiler's peak is per process
            if not compiled.is_cached(entry):
                code = f"from primeval.algorithms.experiment import _compile; _compile({entry!r})"
                subprocess.run([sys.executable, "-c", code], check=False, stdout=subprocess.DEVNULL)


def _compile(entry: str) -> None:
    """Compile entry point ``entry`` of :data:`COMPILED_ENTRIES` in this process."""
    release_freed_memory()
    if entry == "run_tasks_with":
        compiled.CompiledInterpreter().warm_up()
    elif entry == "evolve":
        build_island(load_config("demo"), 1, 0).warm()
    else:
        raise ValueError(f"unknown entry point {entry!r}")


RESUMABLE = ("search.max_evals", "search.time_budget", "select.max_experiments")
"""Budgets a resumed run may extend or shorten."""


def config_hash(config: Config) -> str:
    """What a checkpoint must be resumed with: the config less where workers run and the
    budgets (:data:`RESUMABLE`)."""
    data = config.model_dump(mode="json")
    for path in (*WHERE_WORKERS_RUN, *RESUMABLE):
        section, leaf = path.split(".")
        data[section][leaf] = None
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
    rejected: int | None = None  # by the static pre-check (search.precheck), when on

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if d["rejected"] is None:
            del d["rejected"]
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


class Selection:
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
        self,
        evaluations: int,
        full: int,
        elapsed: float,
        experiments: int,
        stopped: str,
        rejected: int | None = None,
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
            rejected=rejected,
        )


class AutomlExperiments:
    """What AutoML-Zero adds to the engine's experiment loop: select the best of each
    experiment on fresh tasks, keep its ancestry, and summarise the run."""

    writes_ticks = True

    def __init__(
        self, config: Config, folder: RunFolder, rep: Reporter, interp: Interpreter
    ) -> None:
        self.config = config
        self.folder = folder
        self.rep = rep
        self.sel = Selection(config, folder, rep, interp)
        self.result: RunSummary | None = None
        self.rejected = 0  # by the pre-check, in the experiments that have ended

    @property
    def solved(self) -> bool:
        return self.sel.solved

    def islands(self, experiment: int) -> int:
        return self.config.workers.count

    def on_tick(self, experiment: int, arch: Archipelago, p: SearchProgress) -> None:
        self.rep.progress(experiment, p)
        found = arch.best()
        if self.config.select.check_during_search and found is not None:
            island, best = found
            self.sel.consider((experiment, island, best.id), best)

    def on_experiment_end(self, experiment: int, arch: Archipelago, complete: bool) -> None:
        if self.config.search.precheck:
            self.rejected += int(arch.progress(0.0, 0.0, 0).stats.get("rejected", 0))
        found = arch.best()
        if found is None:
            return
        island, best = found
        self.sel.consider((experiment, island, best.id), best)
        if not self.config.search.lineage:
            return
        links = arch.lineage(island)
        if links:
            save_chain(self.folder, experiment, island, links)

    def on_next(self, experiment: int) -> None:
        self.rep.message(
            f"experiment {experiment}: best select fitness {self.sel.select:.6f}; starting another"
        )

    def to_json(self) -> Any:
        return {**self.sel.to_json(), "rejected": self.rejected}

    def load_json(self, data: Any) -> None:
        self.sel.load_json(data)
        self.rejected = int(data.get("rejected", 0))

    def summary(self, outcome: Outcome) -> dict[str, Any]:
        sel = self.sel
        if sel.program is None:
            raise ConfigError("the run stopped before any algorithm was evaluated")
        self.result = sel.summary(
            outcome.evaluations,
            outcome.full_evaluations,
            outcome.elapsed_seconds,
            outcome.experiments,
            outcome.stopped,
            self.rejected if self.config.search.precheck else None,
        )
        select_chain(self.folder, sel.key)
        return self.result.to_json()


def budgets(config: Config) -> Budgets:
    """The run's budgets (``select.max_experiments`` 0: no limit)."""
    return Budgets(
        config.search.max_evals,
        config.search.time_budget,
        config.select.max_experiments or None,
    )


def resume_config(saved: Config, given: Config) -> Config:
    """The config a resumed run continues with: ``given`` (the run's own config.yaml with
    the user's options), which may differ from ``saved`` in its budgets (:data:`RESUMABLE`)
    and where workers run; any other change raises a one-line ``ConfigError`` naming it."""
    field = changed_field(
        saved.model_dump(mode="json"),
        given.model_dump(mode="json"),
        (*WHERE_WORKERS_RUN, *RESUMABLE),
    )
    if field is not None:
        raise ConfigError(
            f"resume may change only {', '.join(RESUMABLE)} and where workers run; "
            f"{field} differs from the run's config.yaml"
        )
    return given


def load_run(folder: RunFolder, config: Config) -> ResumePoint:
    """The checkpoint of ``folder`` to continue with ``config`` (see :func:`resume_config`);
    raises a one-line error and writes nothing."""
    if config.interpreter != "compiled":
        raise ConfigError(
            "--resume needs interpreter: compiled (the reference path keeps no checkpoint)"
        )
    return load_resume(folder, config_hash(config), config.workers.count, budgets(config))


def run_experiments(
    config: Config,
    folder: RunFolder,
    reporter: Reporter | None = None,
    interpreter: Interpreter | None = None,
    resume: ResumePoint | None = None,
) -> tuple[RunSummary, Program]:
    """Run the whole job a config describes; write the run folder; return the outcome.

    The search runs on ``workers.count`` islands of the engine's archipelago
    (:mod:`.islands`, which make their own interpreters from the config); ``interpreter``
    scores the select and final tasks. With the compiled interpreter the run folder keeps a
    checkpoint and ``resume`` continues a run from it (see :func:`load_run`).
    """
    release_freed_memory()  # before tasks are built: their transients must not stay resident
    rep = reporter or SilentReporter()
    interp = interpreter or make_interpreter(config.interpreter)
    app = AutomlIslands(config)
    if resume is not None and not app.checkpoints:
        raise ConfigError(
            "--resume needs interpreter: compiled (the reference path keeps no checkpoint)"
        )
    if app.compiled:
        compile_in_child()
        preload_datasets(config)
    folder.write_text(RunFolder.CONFIG, dump_config(config))
    hooks = AutomlExperiments(config, folder, rep, interp)
    app.selected = lambda: hooks.sel.program  # select.restart_from_best starts from it
    settings = LoopSettings(
        workers=config.workers,
        budgets=budgets(config),
        fingerprint=config_hash(config),
        progress_every_seconds=config.progress_every_seconds,
        checkpoint_every_seconds=config.checkpoint.every_seconds if app.checkpoints else None,
    )
    run_on_engine(app, hooks, folder, settings, resume)
    assert hooks.result is not None and hooks.sel.program is not None
    return hooks.result, hooks.sel.program
