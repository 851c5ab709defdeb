"""An algorithm search run in compiled batches: the fast path of ``primeval search``.

:class:`CompiledSearch` holds the state of a regularized-evolution (or random) search of
programs as arrays and advances it by calling the compiled loop of
:mod:`~primeval.algorithms.interpret.search_loop` on a batch of candidates at a time;
between batches, Python reads the clock, reports progress and checks the best algorithm. It
makes the same candidates, in the same order, as :class:`~primeval.engine.search.Search`
with a :class:`~primeval.engine.strategies.RegularizedEvolution` (or ``RandomSearch``)
strategy and an :class:`~primeval.algorithms.evaluate.AlgorithmEvaluator` on the same
generator, for op sets without random draws (see the compiled loop's docstring for the one
difference). Its arrays are built by :mod:`~primeval.algorithms.evolve_arrays`, packed for
migration by :mod:`~primeval.algorithms.evolve_rows`, saved by
:mod:`~primeval.algorithms.evolve_checkpoint`; :mod:`~primeval.algorithms.evolve_lineage`
keeps the archive of ancestors bounded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np

from primeval.algorithms import evolve_checkpoint, evolve_lineage, evolve_rows
from primeval.algorithms.evaluate import FECSettings, HurdleSettings, two_layer_net_cost
from primeval.algorithms.evolve_arrays import (
    RANDOM_SEARCH_WINDOW,
    float_settings,
    int_settings,
    new_archive,
    new_best,
    new_fec_cache,
    new_hurdle_state,
    new_log,
    new_population,
    new_rows,
    new_workspace,
    next_batch,
    probe_generators,
    split_tasks,
)
from primeval.algorithms.evolve_lineage import mutation_label
from primeval.algorithms.interpret import search_state as ss
from primeval.algorithms.interpret.codegen import load_dispatch
from primeval.algorithms.interpret.compiled import bank_arrays
from primeval.algorithms.interpret.intrinsics import IDLE_RNG, generator_addresses, vectorizing
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR
from primeval.algorithms.interpret.search_hurdle import H_FAILED, H_PASSED
from primeval.algorithms.interpret.search_tables import SearchTables
from primeval.algorithms.lineage import Ancestor
from primeval.algorithms.mutate import ConstantRule, MutationType, ProgramSpace
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import TaskSet
from primeval.engine.genome import Individual
from primeval.engine.search import SearchProgress, SearchResult

_DEFAULT_FEC = FECSettings()
# The best record's entries.
_FITNESS, _FOUND = ss.BEST_FITNESS, ss.BEST_FOUND
_ID, _PARENT, _MUTATION = ss.BEST_ID, ss.BEST_PARENT, ss.BEST_MUTATION


class CompiledSearch:
    """A search of programs in ``space`` on ``tasks``, advanced in compiled batches."""

    def __init__(
        self,
        space: ProgramSpace,
        types: list[MutationType],
        tasks: TaskSet,
        rng: np.random.Generator,
        *,
        strategy: str = "evolution",
        population: int = 1000,
        tournament: int = 10,
        mutate_prob: float = 0.9,
        remove: str = "oldest",
        initial: str | Program = "random",
        combine_mode: str = "mean",
        fec: FECSettings | None = _DEFAULT_FEC,
        hurdle: HurdleSettings | None = None,
        max_cost_ratio: float | None = None,
        max_abs_error: float = MAX_ABS_ERROR,
        lineage: bool = False,
        lineage_max_mb: float = 16.0,
        weights: list[float] | None = None,
        constants: ConstantRule = ConstantRule.LOG_NORMAL,
        precheck: bool = False,
    ) -> None:
        if strategy not in ("evolution", "random"):
            raise ValueError("strategy must be 'evolution' or 'random'")
        if remove not in ("oldest", "worst"):
            raise ValueError("remove must be 'oldest' or 'worst'")
        if not isinstance(initial, Program) and initial not in ("random", "empty"):
            raise ValueError("initial must be 'random', 'empty' or a Program")
        if isinstance(initial, Program) and initial.banks != space.banks:
            raise ValueError("the initial program's memory differs from the space's")
        if combine_mode not in ("mean", "median"):
            raise ValueError(f"unknown fitness combination {combine_mode!r}")
        if population < 1 or tournament < 1:
            raise ValueError("population and tournament sizes must be positive")
        if not space.mutable():
            raise ValueError("no component function has any allowed op")
        if hurdle is not None and not 0 < hurdle.tasks < len(tasks):
            raise ValueError("hurdle tasks must be between 1 and the number of tasks - 1")
        self._dispatch = load_dispatch()
        self.space = space
        self.tasks = tasks
        self.rng = rng  # kept alive: the compiled loop draws from its state by address
        seed = initial if isinstance(initial, Program) else None
        self.tables = SearchTables.build(space, list(types), tasks.dim, seed, weights, constants)
        st = tasks.stacked()
        size = RANDOM_SEARCH_WINDOW if strategy == "random" else population
        length = self.tables.row_length
        n_tasks, dim = len(tasks), tasks.dim
        self.pop = new_population(size, length)
        banks = space.banks
        memory = bank_arrays(n_tasks, banks.scalars, banks.vectors, banks.matrices, dim)
        fec_width = (fec.n_train + fec.n_valid) if fec else 0
        self._ws = new_workspace(length, banks, memory, n_tasks, fec_width)
        gens, restore = probe_generators(n_tasks)
        self._probe_gens = gens  # kept alive: the compiled loop draws from them by address
        self._cache = new_fec_cache(fec.cache_size if fec else 1, gens, restore)
        self._hurdle = new_hurdle_state(hurdle, size)
        self._best = new_best(length)
        self.keeps_lineage = lineage
        self._archive = new_archive(self._archive_room() if lineage else 1, length)
        row_bytes = sum(f[0].nbytes for f in self._archive)
        self._archive_limit = max(int(lineage_max_mb * 1e6) // row_bytes, 2 * self._archive_room())
        max_cost = (
            max_cost_ratio * two_layer_net_cost(dim) if max_cost_ratio is not None else np.inf
        )
        self._inputs = ss.SearchInputs(
            known=self._dispatch._KNOWN,
            tables=self.tables,
            tasks=split_tasks(st, hurdle.tasks if hurdle is not None else 0),
            settings=int_settings(
                population=size,
                tournament=tournament,
                random=strategy == "random",
                worst=remove == "worst",
                seeded=not isinstance(initial, str) or initial == "empty",
                fec=fec,
                median=combine_mode == "median",
                hurdle=hurdle,
                classes=tasks.classes,
                n_train=st["order"].shape[1],
                n_valid=st["valid_x"].shape[1],
                fec_draws=len(restore[0]) > 0,
                lineage=lineage,
                precheck=precheck,
            ),
            float_settings=float_settings(mutate_prob, max_cost, max_abs_error, fec),
            rngs=generator_addresses(rng)[None],
            idle_rngs=generator_addresses(IDLE_RNG)[None],
        )
        self._ctr = np.zeros(ss.N_COUNTERS, dtype=np.int64)
        self._migrants = new_rows(1, length)
        self.lineage = new_log(1)
        self._best_cache: Individual[Program] | None = None
        self.strategy_name = strategy
        self.fec = fec
        self.hurdle = hurdle
        self.precheck = precheck

    # --- running -----------------------------------------------------------------------------

    @property
    def _arrays(self) -> ss.SearchArrays:
        """The state the compiled loop advances (the migrants and archive are replaced as
        they grow)."""
        return ss.SearchArrays(
            self.pop, self._ws, self._cache, self._hurdle, self._best, self._migrants,
            self._archive, self._ctr,
        )  # fmt: skip

    def _archive_room(self) -> int:
        """Steps per compiled call when keeping lineage, and the archive's spare rows."""
        return max(len(self.pop.ids), 1024)

    def _make_room(self, steps: int) -> None:
        """Leave ``steps`` free archive rows: drop rows no member descends from, thin the
        ancestry when it outgrows its memory bound (:meth:`_thin`), then grow."""
        a = self._archive
        if len(a.ids) - int(self._ctr[ss.C_ARCHIVED]) >= steps:
            return
        used = self._prune()
        if used + steps > self._archive_limit:
            used = self._thin((self._archive_limit - steps) // 2)
        if len(a.ids) - used < steps or used > len(a.ids) // 2:
            size = min(max(2 * len(a.ids), used + 2 * steps), self._archive_limit + steps)
            grown = new_archive(max(size, used + steps), self.tables.row_length)
            for old, new in zip(a, grown, strict=True):
                new[:used] = old[:used]
            self._archive = grown

    def _thin(self, target: int) -> int:
        """:func:`~primeval.algorithms.evolve_lineage.thin` of the archive to ``target``."""
        used = int(self._ctr[ss.C_ARCHIVED])
        kept = evolve_lineage.thin(self._archive, used, self.pop, self._best, target)
        self._ctr[ss.C_ARCHIVED] = kept
        return kept

    def _prune(self) -> int:
        """Drop the archived rows that no member (nor the best) descends from."""
        used, count = int(self._ctr[ss.C_ARCHIVED]), int(self._ctr[ss.C_COUNT])
        kept = evolve_lineage.prune(self._archive, used, self.pop, count, self._best)
        self._ctr[ss.C_ARCHIVED] = kept
        return kept

    def warm(self) -> None:
        """Load (or compile) the machine code now, changing nothing: a call for zero steps."""
        self._evolve(0, self.lineage)

    def _evolve(self, n: int, log: ss.Lineage) -> None:
        with vectorizing():
            self._dispatch.evolve(self._inputs, self._arrays, log, n)

    def step(self, n: int) -> ss.Lineage:
        """Make, evaluate and place ``n`` candidates; returns their lineage records."""
        if n <= 0:
            return new_log(0)
        if n > len(self.lineage.ids):
            self.lineage = new_log(max(n, 2 * len(self.lineage.ids)))
        if not self.keeps_lineage:
            self._evolve(n, self.lineage)
        else:
            room = self._archive_room()
            for lo in range(0, n, room):
                k = min(room, n - lo)
                self._make_room(k)
                self._evolve(k, ss.Lineage(*(a[lo:] for a in self.lineage)))
        self._best_cache = None
        return ss.Lineage(*(a[:n] for a in self.lineage))

    def run(
        self,
        max_evals: int | None = None,
        time_budget: float | None = None,
        progress_every_seconds: float = 1.0,
        on_progress: Callable[[SearchProgress], bool | None] | None = None,
        on_batch: Callable[[ss.Lineage], None] | None = None,
        batch_seconds: float = 0.05,
    ) -> SearchResult[Program]:
        """Like :meth:`primeval.engine.search.Search.run`: until ``max_evals`` candidates,
        ``time_budget`` seconds, or ``on_progress`` returning True."""
        if max_evals is None and time_budget is None:
            raise ValueError("a search needs max_evals or time_budget")
        t0 = time.perf_counter()
        last = (0.0, self.evaluations)
        next_report = progress_every_seconds
        stopped = "max_evals"
        batch = 16

        def report() -> bool:
            nonlocal last
            now = time.perf_counter() - t0
            p = self.progress(now, *last)
            last = (now, self.evaluations)
            return bool(on_progress(p)) if on_progress else False

        while max_evals is None or self.evaluations < max_evals:
            n = batch if max_evals is None else min(batch, max_evals - self.evaluations)
            start = time.perf_counter()
            log = self.step(n)
            took = time.perf_counter() - start
            if on_batch is not None:
                on_batch(log)
            batch = next_batch(batch, took, batch_seconds)
            now = time.perf_counter() - t0
            if time_budget is not None and now >= time_budget:
                stopped = "time_budget"
                break
            if now >= next_report:
                next_report = now + progress_every_seconds
                if report():
                    stopped = "callback"
                    break
        if stopped != "callback" and report():
            stopped = "callback"
        best = self.best
        assert best is not None
        return SearchResult(best, self.evaluations, time.perf_counter() - t0, stopped)

    # --- migration ---------------------------------------------------------------------------

    def emigrants(self, n: int, rng: np.random.Generator) -> list[Program]:
        """Copies of ``n`` members drawn without replacement (all of them if fewer)."""
        rows = self.emigrant_rows(n, rng, tuple(int(m) for m in self.tables.max_sizes))
        return [
            self._program(*evolve_rows.unpack(self.tables, rows, r))
            for r in range(len(rows["lens"]))
        ]

    def emigrant_rows(
        self, n: int, rng: np.random.Generator, sizes: tuple[int, ...]
    ) -> dict[str, np.ndarray]:
        """:meth:`emigrants` as packed rows (``ops``, ``args``, ``data``, ``lens``; component
        ``c`` at ``sum(sizes[:c])``, zeros past its length): no program objects, so that
        migration costs microseconds, not milliseconds."""
        count = int(self._ctr[ss.C_COUNT])
        size, head = len(self.pop.order), int(self._ctr[ss.C_HEAD])
        picks = rng.choice(count, size=min(n, count), replace=False) if count else np.zeros(0)
        index = self.pop.order[(head + picks.astype(np.int64)) % size]
        return evolve_rows.pack(self.tables, self.pop, index, sizes)

    def immigrate(self, programs: list[Program]) -> int:
        """Queue programs from another island: each is evaluated here, in place of the next
        candidate, and joins the population. Programs that do not fit this search's sizes
        or memory are skipped; returns how many were queued (any still waiting are kept)."""
        sizes = tuple(int(m) for m in self.tables.max_sizes)
        return self.immigrate_rows(
            evolve_rows.pack_programs(programs, self.space.banks, sizes), sizes
        )

    def immigrate_rows(self, rows: dict[str, np.ndarray], sizes: tuple[int, ...]) -> int:
        """:meth:`immigrate` for packed rows (the layout of :meth:`emigrant_rows`) of programs
        over this search's memory; rows too long for this search's sizes are skipped."""
        taken, waiting = int(self._ctr[ss.C_MIGRANTS_TAKEN]), int(self._ctr[ss.C_MIGRANTS])
        self._migrants, joined = evolve_rows.enqueue(
            self.tables, self._migrants, taken, waiting, rows, sizes
        )
        self._ctr[ss.C_MIGRANTS_TAKEN] = 0
        self._ctr[ss.C_MIGRANTS] = (waiting - taken) + joined
        return joined

    # --- checkpoints -------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """Everything needed to continue this search exactly: copies of the population,
        FEC cache, hurdle window, best, counters and the generator's state (as JSON)."""
        used = self._prune() if self.keeps_lineage else 0
        return evolve_checkpoint.snapshot(self._arrays, self.rng, used)

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Continue from :meth:`state` of a search built with the same arguments; raises
        ``ValueError`` if the arrays do not fit."""
        room = self._archive_room() if self.keeps_lineage else 0
        self._migrants, self._archive = evolve_checkpoint.restore(
            state, self._arrays, self.rng, room
        )
        self._best_cache = None

    # --- reading the state -------------------------------------------------------------------

    @property
    def evaluations(self) -> int:
        return int(self._ctr[ss.C_EVALUATIONS])

    @property
    def full_evaluations(self) -> int:
        return int(self._ctr[ss.C_FULL])

    @property
    def live_instructions(self) -> tuple[int, int, int]:
        """Live (Setup, Predict, Learn) instructions summed over full evaluations."""
        c = self._ctr
        return int(c[ss.C_LIVE_SETUP]), int(c[ss.C_LIVE_PREDICT]), int(c[ss.C_LIVE_LEARN])

    def _program(
        self, ops: np.ndarray, args: np.ndarray, data: np.ndarray, lens: np.ndarray
    ) -> Program:
        return evolve_rows.row_program(self.tables, self.space.banks, ops, args, data, lens)

    @property
    def best(self) -> Individual[Program] | None:
        """The fittest candidate seen (the first of equals)."""
        if self._best.info[_FOUND] == 0.0:
            return None
        if self._best_cache is None:
            b = self._best
            parent = int(b.ids[_PARENT])
            self._best_cache = Individual(
                int(b.ids[_ID]),
                self._program(b.ops, b.args, b.data, b.lens),
                float(b.info[_FITNESS]),
                parent if parent >= 0 else None,
                mutation_label(int(b.ids[_MUTATION])),
                int(b.ids[_ID]) + 1,
            )
        return self._best_cache

    def ancestry(self, ident: int | None = None) -> list[Ancestor]:
        """The ancestors of candidate ``ident`` (default: the best), oldest first, ending with
        it: every one while it is a member, the best or (with ``lineage=True``) archived;
        without lineage the chain stops at the first ancestor that left the population."""
        # Find each link by binary search over the ids; only the links become programs (the
        # archive can hold hundreds of thousands of rows). Later sources win: archive < pop < best.
        a, used = self._archive, int(self._ctr[ss.C_ARCHIVED]) if self.keeps_lineage else 0
        p, b = self.pop, self._best
        count = int(self._ctr[ss.C_COUNT])
        members = p.order[: min(count, len(p.order))]
        has_best = b.info[_FOUND] != 0.0
        ids = np.concatenate(
            [a.ids[:used], p.ids[members], b.ids[_ID : _ID + 1] if has_best else b.ids[:0]]
        )
        rows = np.concatenate([np.arange(used), members, np.zeros(int(has_best), np.int64)])
        source = np.repeat([0, 1, 2], [used, len(members), int(has_best)])
        position = evolve_lineage.positions(ids)
        if ident is None:
            ident = int(b.ids[_ID]) if has_best else -1
        chain: list[Ancestor] = []
        while True:
            k = int(position(np.array([ident]))[0])
            if k < 0:
                break
            src, r = int(source[k]), int(rows[k])
            if src == 0:
                parent, mut, fitness = int(a.parents[r]), int(a.muts[r]), float(a.fitness[r])
                program = self._program(a.ops[r], a.args[r], a.data[r], a.lens[r])
            elif src == 1:
                parent, mut, fitness = int(p.parents[r]), int(p.muts[r]), float(p.raw[r])
                program = self._program(p.ops[r], p.args[r], p.data[r], p.lens[r])
            else:
                parent, mut, fitness = (
                    int(b.ids[_PARENT]),
                    int(b.ids[_MUTATION]),
                    float(b.info[_FITNESS]),
                )
                program = self._program(b.ops, b.args, b.data, b.lens)
            chain.append(
                Ancestor(
                    ident,
                    parent if parent >= 0 else None,
                    mutation_label(mut),
                    fitness,
                    ident + 1,
                    program,
                )
            )
            ident = parent
        return chain[::-1]

    def members(self) -> list[Individual[Program]]:
        """The population, oldest first."""
        size = len(self.pop.order)
        count = int(self._ctr[ss.C_COUNT])
        head = int(self._ctr[ss.C_HEAD])
        out = []
        for k in range(count):
            row = int(self.pop.order[(head + k) % size])
            parent = int(self.pop.parents[row])
            ident = int(self.pop.ids[row])
            out.append(
                Individual(
                    ident,
                    self._program(
                        self.pop.ops[row],
                        self.pop.args[row],
                        self.pop.data[row],
                        self.pop.lens[row],
                    ),
                    float(self.pop.raw[row]),
                    parent if parent >= 0 else None,
                    mutation_label(int(self.pop.muts[row])),
                    ident + 1,
                )
            )
        return out

    def stats(self) -> Mapping[str, float]:
        """The counters ``AlgorithmEvaluator.stats`` reports, and a few more."""
        c = self._ctr
        out: dict[str, float] = {}
        if self.fec is not None:
            n = c[ss.C_HITS] + c[ss.C_MISSES]
            out["fec_hit_rate"] = float(c[ss.C_HITS] / n) if n else 0.0
            if c[ss.C_BYPASS]:
                out["fec_bypassed"] = float(c[ss.C_BYPASS])
        if self.hurdle is not None:
            passed, failed = self._hurdle.state[H_PASSED], self._hurdle.state[H_FAILED]
            out["hurdle_pass_rate"] = float(passed / (passed + failed)) if passed + failed else 1.0
        if np.isfinite(self._inputs.float_settings[ss.F_MAX_COST]):
            out["over_budget"] = float(c[ss.C_OVER_BUDGET])
        if self.precheck:
            out["rejected"] = float(c[ss.C_REJECTED])
        out["full_evaluations"] = float(c[ss.C_FULL])
        return out

    def progress(self, now: float, t_prev: float = 0.0, n_prev: int = 0) -> SearchProgress:
        rate = (self.evaluations - n_prev) / (now - t_prev) if now > t_prev else 0.0
        count = int(self._ctr[ss.C_COUNT])
        fit = self.pop.fitness[self.pop.order[:count]] if count else np.zeros(0)
        finite = fit[np.isfinite(fit)]
        best = self.best
        best_f = best.fitness if best is not None and math.isfinite(best.fitness) else -math.inf
        return SearchProgress(
            evaluations=self.evaluations,
            elapsed_seconds=now,
            evals_per_second=rate,
            best_fitness=best_f,
            mean_fitness=float(np.mean(finite)) if len(finite) else -math.inf,
            stats=dict(self.stats()),
        )
