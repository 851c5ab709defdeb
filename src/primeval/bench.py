"""Search throughput per core: ``primeval bench`` and ``bench/throughput.py``.

Each measurement is a *whole search* (mutation, tournament selection, FEC hashing and lookup,
bookkeeping, evaluation), run by :func:`primeval.algorithms.experiment.run_experiments` on one
config for a fixed wall time, in a fresh process limited to one BLAS thread. With the compiled
interpreter that is the compiled search loop (:mod:`primeval.algorithms.evolve`), with the
reference one the Python loop (:class:`primeval.engine.search.Search`). A fresh process per
measurement makes the peak RSS (:func:`primeval.engine.workers.peak_rss_mb`) that measurement's own
and keeps compiling out of the clock: the child first warms up (compiled code loaded, one
evaluation and one FEC probe on the config's tasks, one candidate through the search loop),
reported as ``first_eval_s``, and only then starts the search.

The search is the config's, with what would distort throughput switched off: no select check
while searching, no sufficient fitness (it never stops early), one experiment, tiny select
tasks (the run evaluates its best program on them once, after the measured search) and no final
tasks. FEC is switched with ``fec.enabled``.

What is reported (one record per config, interpreter and FEC setting):

- ``individuals_per_s``: candidates processed per second of search (FEC hits and candidates
  rejected by the compute budget included);
- ``evaluations_per_s``: full, non-cached evaluations per second (equal to the above with FEC
  off, unless the compute budget rejects candidates);
- ``instructions_per_s`` and ``instructions_per_evaluation``: instructions executed by the
  full evaluations (FEC probes excluded), from the component sizes of the programs evaluated and
  the tasks' shapes: per task ``|setup| + steps * (|predict| + |learn|) + passes * n_valid *
  |predict|``, where ``steps`` is every training example of every epoch and ``passes`` the
  number of epochs (validation follows each epoch). The compiled search runs only live code (it
  drops instructions that cannot reach the prediction) and counts live sizes over its full
  evaluations; the Python loop is counted at the interpreter, whole programs (NO_OPs included,
  as in the C++ reference: for the demo's fixed sizes 10 / 2 / 8 that is its 12,100 per
  evaluation). Training that stops early (an error that is NaN or above 100) executes fewer, so
  this is an upper bound;
- ``interpreter_share`` (Python loop only): the fraction of the search's wall time spent inside
  the interpreter (evaluations and FEC probes); the rest is the search loop;
- ``peak_rss_mb``, ``first_eval_s``, ``seconds`` (measured search time);
- ``ratio_compiled_reference`` on compiled records: compiled individuals/s over reference
  individuals/s for the same config and FEC setting, when both were measured. The reference
  interpreter runs for a shorter time (``reference_seconds``), so on configs whose programs grow
  (empty start) the two measurements cover different stretches of the search.

Before the first compiled measurement a throwaway process fills the compiled-code disk cache, so
a cold cache (a new machine, or an edited interpreter) inflates neither ``first_eval_s`` nor the
peak RSS; ``first_eval_s`` is then loading the cached machine code plus one evaluation and one
probe, what every new process pays.

The search loop reads the clock every 16 candidates, so a measurement runs at least 16
candidates whatever its time (with the reference interpreter on the projected config, 16 full
evaluations take several seconds).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from primeval.algorithms import builders, islands
from primeval.algorithms.config import Config, load_config
from primeval.algorithms.interpret.reference import ReferenceInterpreter
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import TaskSet
from primeval.engine.search import SearchProgress
from primeval.engine.workers import peak_rss_mb

CONFIGS = ("demo", "nonlinear", "projected16")
INTERPRETERS = ("compiled", "reference")
DEFAULT_SECONDS = 10.0
DEFAULT_REFERENCE_SECONDS = 3.0
CHILD_TIMEOUT_EXTRA = 600.0  # seconds a measurement may take beyond its search time
COMPILE_TIMEOUT = 1800.0  # seconds for compiling the interpreter and search loop, once
_ONE_THREAD = {
    k: "1"
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
}


class BenchError(RuntimeError):
    """A measurement that could not be made; the message says why."""


# --- counting what the interpreter executes ----------------------------------------------------


def executed_instructions(
    program: Program, tasks: TaskSet, n_train: int | None = None, n_valid: int | None = None
) -> int:
    """Instructions one ``fitnesses(program, tasks, rng, n_train, n_valid)`` call executes if no
    task stops training early (an upper bound otherwise); see the module docstring."""
    return instructions_for_sizes(program.sizes(), tasks, n_train, n_valid)


def instructions_for_sizes(
    sizes: tuple[int, int, int],
    tasks: TaskSet,
    n_train: int | None = None,
    n_valid: int | None = None,
) -> int:
    """:func:`executed_instructions` for component sizes (Setup, Predict, Learn); linear in
    them, so sizes summed over evaluations give the instructions summed over evaluations."""
    setup, predict, learn = sizes
    task = tasks[0]  # all tasks of a set share their shapes
    order = len(task.order) if task.order is not None else task.n_train * task.epochs
    steps = order if n_train is None else min(n_train, order)
    per_epoch = min(task.n_train, steps)
    passes = math.ceil(steps / per_epoch) if per_epoch else 0
    nv = task.n_valid if n_valid is None else min(n_valid, task.n_valid)
    return len(tasks) * (setup + steps * (predict + learn) + passes * nv * predict)


@dataclass
class Tally:
    """What the interpreter was asked to do: full evaluations (``fitnesses`` calls), the
    instructions they execute, and the time spent in evaluations and FEC probes."""

    evaluations: int = 0
    instructions: int = 0
    seconds: float = 0.0

    def add(
        self, program: Program, tasks: TaskSet, n_train: int | None, n_valid: int | None
    ) -> None:
        self.evaluations += 1
        self.instructions += executed_instructions(program, tasks, n_train, n_valid)


class CountingReference(ReferenceInterpreter):
    """The reference interpreter, tallying its work."""

    def __init__(self) -> None:
        self.tally = Tally()

    def fitnesses(
        self,
        program: Program,
        tasks: TaskSet,
        rng: np.random.Generator,
        n_train: int | None = None,
        n_valid: int | None = None,
    ) -> np.ndarray:
        t = time.perf_counter()
        out = super().fitnesses(program, tasks, rng, n_train, n_valid)
        self.tally.seconds += time.perf_counter() - t
        self.tally.add(program, tasks, n_train, n_valid)
        return out

    def probe(
        self, program: Program, tasks: TaskSet, n_train: int, n_valid: int, seed: int
    ) -> np.ndarray:
        t = time.perf_counter()
        out = super().probe(program, tasks, n_train, n_valid, seed)
        self.tally.seconds += time.perf_counter() - t
        return out


def _counting_compiled() -> Any:
    """The compiled interpreter, tallying its work (a subclass, so code that checks for a
    :class:`CompiledInterpreter` still sees one). Imported here: it loads numba."""
    from primeval.algorithms.interpret.compiled import CompiledInterpreter

    class CountingCompiled(CompiledInterpreter):
        def __init__(self) -> None:
            super().__init__()
            self.tally = Tally()

        def fitnesses(
            self,
            program: Program,
            tasks: Any,
            rng: np.random.Generator,
            n_train: int | None = None,
            n_valid: int | None = None,
        ) -> np.ndarray:
            t = time.perf_counter()
            out = super().fitnesses(program, tasks, rng, n_train, n_valid)
            self.tally.seconds += time.perf_counter() - t
            task_set = tasks if isinstance(tasks, TaskSet) else TaskSet.of(tasks)
            self.tally.add(program, task_set, n_train, n_valid)
            return out

        def probe(
            self, program: Program, tasks: Any, n_train: int, n_valid: int, seed: int
        ) -> np.ndarray:
            t = time.perf_counter()
            out = super().probe(program, tasks, n_train, n_valid, seed)
            self.tally.seconds += time.perf_counter() - t
            return out

    return CountingCompiled()


# --- reading the counts of a run -----------------------------------------------------------------


@dataclass(frozen=True)
class SearchCounts:
    individuals: int  # candidates processed (FEC hits included)
    full_evaluations: int  # candidates actually run on the tasks
    seconds: float  # wall time of the search alone
    fec_hit_rate: float | None
    instructions: int | None = None  # executed by the full evaluations


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def search_counts(
    summary: Mapping[str, Any],
    progress: Sequence[Mapping[str, Any]],
    last: SearchProgress | None,
    tally: Tally | None,
    fec: bool,
    runner: Any = None,
    tasks: TaskSet | None = None,
) -> SearchCounts:
    """Individuals, full evaluations and search seconds of a one-experiment run.

    Reads, most trusted first: counters the summary may carry (``individuals``,
    ``full_evaluations``, ``search_seconds``), the last progress snapshot the reporter saw (the
    search's own clock and the evaluator's stats), the last ``progress.jsonl`` record (its
    elapsed time includes building the tasks), the summary's ``evaluations`` and
    ``elapsed_seconds``. Full evaluations not reported as such are derived from the
    evaluator's FEC hit rate and compute-budget rejections, or else counted by the interpreter
    (``tally``). Executed instructions: an ``instructions`` counter of the run if there is one,
    else the compiled search's ``live_instructions`` (live Setup / Predict / Learn sizes summed
    over its full evaluations; dead code is not run) turned into instructions on ``tasks``, else
    the interpreter's tally scaled to the run's full evaluations.
    The one place to adapt when the search loop reports its counts differently.
    """
    record: Mapping[str, Any] = progress[-1] if progress else {}
    stats: Mapping[str, Any] = dict(last.stats) if last is not None else record
    individuals = _first(
        summary.get("individuals"),
        last.evaluations if last is not None else None,
        record.get("individuals"),
        record.get("evaluations"),
        summary.get("evaluations"),
    )
    seconds = _first(
        summary.get("search_seconds"),
        last.elapsed_seconds if last is not None else None,
        record.get("elapsed_seconds"),
        summary.get("elapsed_seconds"),
    )
    if individuals is None or seconds is None:
        raise BenchError("the run reported neither its evaluations nor its time")
    hit_rate = stats.get("fec_hit_rate")
    full = _first(summary.get("full_evaluations"), stats.get("full_evaluations"))
    if full is None and fec and hit_rate is None and tally is not None and tally.evaluations:
        full = tally.evaluations  # no FEC statistics: what the interpreter was asked to run
    if full is None:
        # The evaluator looks up every candidate within the compute budget in the FEC cache
        # and runs the misses: full = (individuals - over budget) * (1 - hit rate).
        looked_up = int(individuals) - int(stats.get("over_budget") or 0)
        full = round(looked_up * (1.0 - float(hit_rate or 0.0)))
    instructions = _first(
        summary.get("instructions"), stats.get("instructions"), record.get("instructions")
    )
    live = getattr(runner, "live_instructions", None)
    if instructions is None and live is not None and tasks is not None:
        setup, predict, learn = (int(x) for x in live)
        instructions = instructions_for_sizes((setup, predict, learn), tasks)
    if instructions is None and tally is not None and tally.evaluations:
        instructions = round(tally.instructions / tally.evaluations * int(full))
    return SearchCounts(
        individuals=int(individuals),
        full_evaluations=int(full),
        seconds=float(seconds),
        fec_hit_rate=None if hit_rate is None else float(hit_rate),
        instructions=None if instructions is None else int(instructions),
    )


# --- one measurement (in the current process) ----------------------------------------------------


@dataclass
class Measurement:
    config: str
    interpreter: str
    fec: bool
    evaluations_per_s: float
    individuals_per_s: float
    instructions_per_s: float | None
    instructions_per_evaluation: float | None
    peak_rss_mb: float
    first_eval_s: float
    seconds: float
    individuals: int
    full_evaluations: int
    fec_hit_rate: float | None
    interpreter_share: float | None
    ratio_compiled_reference: float | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.interpreter != "compiled" or self.ratio_compiled_reference is None:
            d.pop("ratio_compiled_reference")
        return d


def bench_config(config: str, interpreter: str, fec: bool, seconds: float) -> Config:
    """The config a measurement runs: the named one with what distorts throughput turned off."""
    cfg = load_config(config)
    return cfg.with_overrides(
        **{
            "interpreter": interpreter,
            "fec.enabled": fec,
            "search.time_budget": seconds,
            "search.max_evals": None,
            "select.check_during_search": False,
            "select.sufficient_fitness": None,
            "select.max_experiments": 1,
            "select.tasks.n_tasks": 1,
            "select.tasks.n_train": min(cfg.select.tasks.n_train, 10),
            "select.tasks.n_valid": min(cfg.select.tasks.n_valid, 10),
            "final.tasks": None,
        }
    )


class _LastProgress:
    """A reporter keeping the last progress snapshot and the interpreter's tally at that time
    (the search's end: the select evaluation after it is not counted)."""

    def __init__(self, tally: Tally | None) -> None:
        self.tally = tally
        self.last: SearchProgress | None = None
        self.at_last = Tally()

    def progress(self, experiment: int, p: SearchProgress) -> None:
        self.last = p
        if self.tally is not None:
            self.at_last = Tally(**asdict(self.tally))

    def selected(self, experiment: int, search_fitness: float, select_fitness: float) -> None:
        return None

    def message(self, text: str) -> None:
        return None


def _warm_search(cfg: Config, tasks: TaskSet, interp: Any) -> None:
    """One candidate through the search loop the run will use: the compiled search loads (or
    compiles) its own machine code at its first call."""
    if cfg.interpreter == "compiled":
        islands.build_island(cfg, 1, 0, tasks).step(1)


@contextlib.contextmanager
def _capturing_searches(interp: Any) -> Iterator[list[Any]]:
    """The compiled searches ``run_experiments`` builds for its islands while this is open (to
    read counters it does not report, such as the compiled search's live instructions); the
    reference interpreter's islands (in this process: one inline worker) evaluate with
    ``interp``, which counts what they run."""
    made: list[Any] = []
    build = islands.build_island
    make = builders.make_interpreter

    def capture(*args: Any, **kwargs: Any) -> Any:
        runner = build(*args, **kwargs)
        made.append(runner)
        return runner

    setattr(islands, "build_island", capture)  # noqa: B010
    setattr(builders, "make_interpreter", lambda name: interp)  # noqa: B010
    try:
        yield made
    finally:
        setattr(islands, "build_island", build)  # noqa: B010
        setattr(builders, "make_interpreter", make)  # noqa: B010


def measure(config: str, interpreter: str, fec: bool, seconds: float) -> Measurement:
    """One measurement in this process. Run it in a fresh process (:func:`measure_in_child`)
    for a peak RSS of its own."""
    from primeval.algorithms.experiment import (
        build_space,
        build_tasks,
        derive_seed,
        run_experiments,
    )
    from primeval.algorithms.interpret.reference import combine
    from primeval.engine.runs import RunFolder

    if interpreter not in INTERPRETERS:
        raise BenchError(f"unknown interpreter {interpreter!r}")
    cfg = bench_config(config, interpreter, fec, seconds)
    interp = _counting_compiled() if interpreter == "compiled" else CountingReference()
    tally: Tally = interp.tally

    # Warm up out of the clock: the search tasks of experiment 1 (data sets are read once per
    # process), the compiled dispatch, one evaluation and one FEC probe.
    tasks = build_tasks(cfg.tasks, derive_seed(cfg.seed, "tasks", 1))
    rng = np.random.default_rng(0)
    program = build_space(cfg).random(rng)
    start = time.perf_counter()
    if hasattr(interp, "warm_up"):
        interp.warm_up()
    combine(interp.fitnesses(program, tasks, rng), cfg.fitness.combine)
    interp.probe(program, tasks, cfg.fec.n_train, cfg.fec.n_valid, 1)
    _warm_search(cfg, tasks, interp)
    first_eval_s = time.perf_counter() - start
    tally.evaluations, tally.instructions, tally.seconds = 0, 0, 0.0

    reporter = _LastProgress(tally)
    with (
        tempfile.TemporaryDirectory(prefix="primeval-bench-") as tmp,
        _capturing_searches(interp) as runners,
    ):
        folder = RunFolder.create(Path(tmp) / "run")
        summary, _ = run_experiments(cfg, folder, reporter, interpreter=interp)
        summary_json = summary.to_json() if hasattr(summary, "to_json") else dict(vars(summary))
        with contextlib.suppress(Exception):  # the returned summary is enough
            summary_json = {**folder.read_json(RunFolder.SUMMARY), **summary_json}
        progress = folder.progress()
    seen = reporter.at_last if reporter.last is not None else tally
    runner = runners[-1] if len(runners) == 1 else None
    counts = search_counts(summary_json, progress, reporter.last, seen, fec, runner, tasks)
    secs = max(counts.seconds, 1e-9)
    full = counts.full_evaluations
    instructions = counts.instructions
    return Measurement(
        config=config,
        interpreter=interpreter,
        fec=fec,
        evaluations_per_s=round(counts.full_evaluations / secs, 1),
        individuals_per_s=round(counts.individuals / secs, 1),
        instructions_per_s=None if instructions is None else round(instructions / secs),
        instructions_per_evaluation=(
            round(instructions / full, 1) if instructions is not None and full else None
        ),
        peak_rss_mb=round(peak_rss_mb(), 1),
        first_eval_s=round(first_eval_s, 3),
        seconds=round(counts.seconds, 3),
        individuals=counts.individuals,
        full_evaluations=counts.full_evaluations,
        fec_hit_rate=None if counts.fec_hit_rate is None else round(counts.fec_hit_rate, 4),
        interpreter_share=round(min(seen.seconds / secs, 1.0), 3) if seen.seconds else None,
    )


# --- measurements in fresh processes -------------------------------------------------------------


def measure_in_child(
    config: str, interpreter: str, fec: bool, seconds: float, timeout: float | None = None
) -> Measurement:
    """:func:`measure` in a fresh Python process with one BLAS thread."""
    spec = {"config": config, "interpreter": interpreter, "fec": fec, "seconds": seconds}
    env = {**os.environ, **_ONE_THREAD}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "primeval.bench", json.dumps(spec)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout if timeout is not None else seconds + CHILD_TIMEOUT_EXTRA,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{config} {interpreter}: the measurement timed out") from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"{config} {interpreter} fec={fec}: {why}")
    return Measurement(**json.loads(lines[-1]))


def warm_compiled_cache(timeout: float = COMPILE_TIMEOUT) -> float:
    """Fill the compiled-code disk cache in a throwaway process (compiling takes minutes
    and a few hundred MB the first time on a machine), so that no measurement's first
    evaluation or peak RSS includes compiling. Returns that process's wall time."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "primeval.bench", "--warm"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise BenchError("compiling the interpreter timed out") from None
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"compiling the interpreter failed: {why}")
    return time.perf_counter() - start


@dataclass(frozen=True)
class Plan:
    configs: tuple[str, ...] = CONFIGS
    interpreters: tuple[str, ...] = INTERPRETERS
    fecs: tuple[bool, ...] = (True, False)
    seconds: float = DEFAULT_SECONDS
    reference_seconds: float = DEFAULT_REFERENCE_SECONDS

    def runs(self) -> Iterator[tuple[str, bool, str, float]]:
        """(config, fec, interpreter, seconds); the reference first, so that the compiled
        record can carry the ratio."""
        order = sorted(self.interpreters, key=lambda i: i != "reference")
        for config in self.configs:
            for fec in self.fecs:
                for interp in order:
                    secs = (
                        min(self.seconds, self.reference_seconds)
                        if interp == "reference"
                        else self.seconds
                    )
                    yield config, fec, interp, secs


def run_plan(
    plan: Plan,
    on_result: Callable[[Measurement], None] | None = None,
    on_error: Callable[[BenchError], None] | None = None,
    on_start: Callable[[str, bool, str, float], None] | None = None,
) -> list[Measurement]:
    """Every measurement of the plan, one fresh process each, one after the other."""
    results: list[Measurement] = []
    reference: dict[tuple[str, bool], Measurement] = {}
    if "compiled" in plan.interpreters:
        try:
            warm_compiled_cache()
        except BenchError as e:
            if on_error is None:
                raise
            on_error(e)
            return results
    for config, fec, interp, secs in plan.runs():
        if on_start is not None:
            on_start(config, fec, interp, secs)
        try:
            m = measure_in_child(config, interp, fec, secs)
        except BenchError as e:
            if on_error is None:
                raise
            on_error(e)
            continue
        if interp == "reference":
            reference[(config, fec)] = m
        else:
            ref = reference.get((config, fec))
            if ref is not None and ref.individuals_per_s > 0:
                m.ratio_compiled_reference = round(m.individuals_per_s / ref.individuals_per_s, 1)
        results.append(m)
        if on_result is not None:
            on_result(m)
    return results


def warm_up_compiled() -> None:
    """Compile (or load) the compiled interpreter and search loop, on the demo."""
    from primeval.algorithms.experiment import build_tasks

    cfg = bench_config("demo", "compiled", True, 1.0)
    interp = _counting_compiled()
    interp.warm_up()
    _warm_search(cfg, build_tasks(cfg.tasks, 0), interp)


def _child_main(argv: Sequence[str]) -> int:
    """``python -m primeval.bench SPEC``: one measurement, one JSON line on stdout;
    ``python -m primeval.bench --warm``: :func:`warm_up_compiled`."""
    if len(argv) != 1:
        print("usage: python -m primeval.bench JSON_SPEC | --warm", file=sys.stderr)
        return 2
    if argv[0] == "--warm":
        warm_up_compiled()
        return 0
    spec = json.loads(argv[0])
    try:
        m = measure(spec["config"], spec["interpreter"], bool(spec["fec"]), float(spec["seconds"]))
    except Exception as e:  # reported to the parent as one line (numba's errors span many)
        print(f"{type(e).__name__}: {' '.join(str(e).split())[:400]}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(m)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
