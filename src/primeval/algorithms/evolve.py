"""An algorithm search run in compiled batches: the fast path of ``primeval search``.

:class:`CompiledSearch` holds the state of a regularized-evolution (or random) search of
programs as arrays and advances it by calling the compiled loop of
:mod:`~primeval.algorithms.compiled_search` on a batch of candidates at a time; between
batches, Python reads the clock, reports progress and checks the best algorithm. It makes
the same candidates, in the same order, as :class:`~primeval.engine.search.Search` with a
:class:`~primeval.engine.strategies.RegularizedEvolution` (or ``RandomSearch``) strategy and
an :class:`~primeval.algorithms.evaluate.AlgorithmEvaluator` on the same generator, for op
sets without random draws (see the compiled loop's docstring for the one difference).
"""

from __future__ import annotations

import ctypes
import json
import math
import time
from collections.abc import Callable, Mapping

import numpy as np

from primeval.algorithms.evaluate import (
    FEC_SEED,
    FECSettings,
    HurdleSettings,
    two_layer_net_cost,
)
from primeval.algorithms.interpret import search_state as cs
from primeval.algorithms.interpret import search_tables
from primeval.algorithms.interpret.codegen import load_dispatch
from primeval.algorithms.interpret.compiled import bank_arrays, lane_arrays
from primeval.algorithms.interpret.intrinsics import IDLE_RNG, generator_addresses, vectorizing
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR
from primeval.algorithms.lineage import Ancestor, needed
from primeval.algorithms.mutate import MutationType, ProgramSpace
from primeval.algorithms.program import Function, Program
from primeval.algorithms.tasks.base import TaskSet
from primeval.engine.genome import Individual
from primeval.engine.search import SearchProgress, SearchResult

RANDOM_SEARCH_WINDOW = 100  # as RandomSearch's window
_BLOCK = 32  # uniforms per mutation block, as mutate._Draws
_DEFAULT_FEC = FECSettings()


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _probe_generators(
    n: int,
) -> tuple[list[np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` generators seeded as FEC probes need them, and how to reseed them in place.

    Reseeding copies the bytes of a PCG64 state saved just after seeding back over the
    generator's state (numpy's ``pcg64_state`` points to the 128-bit state and increment,
    then holds the buffered 32-bit draw). The copy is tried here, in Python; if it does not
    reproduce a fresh generator's draws, the returned tables are empty and programs that draw
    random numbers skip FEC.
    """
    gens = [np.random.default_rng(FEC_SEED) for _ in range(n)]
    to, frm, lengths = [], [], []
    try:
        for g in gens:
            if not isinstance(g.bit_generator, np.random.PCG64):
                raise TypeError("not PCG64")
            state = int(g.bit_generator.ctypes.state_address)
            pcg = ctypes.c_uint64.from_address(state).value
            for address, size in ((pcg, 32), (state + 8, 8)):
                to.append(address)
                frm.append(
                    np.frombuffer(ctypes.string_at(address, size).ljust(32, b"\0"), np.uint8)
                )
                lengths.append(size)
        check = np.random.default_rng(FEC_SEED)
        first = gens[0]
        first.random(3)
        first.standard_normal(3)
        for k in range(2):
            ctypes.memmove(to[k], frm[k].tobytes(), lengths[k])
        if not np.array_equal(first.random(5), check.random(5)):
            raise ValueError("restored state differs")
        for k in range(2):
            ctypes.memmove(to[k], frm[k].tobytes(), lengths[k])
    except (TypeError, ValueError):
        to, frm, lengths = [], [], []
    tables = (
        _frozen(np.array(to, dtype=np.uint64)),
        _frozen(np.array(frm, dtype=np.uint8).reshape(-1, 32)),
        _frozen(np.array(lengths, dtype=np.int64)),
    )
    return gens, tables


def _task_arrays(st: Mapping[str, np.ndarray], lo: int, hi: int) -> cs.TaskArrays:
    """Tasks ``lo:hi`` of stacked arrays, and their examples in lanes."""
    x, y, order = st["train_x"][lo:hi], st["train_y"][lo:hi], st["order"][lo:hi]
    vx, vy = st["valid_x"][lo:hi], st["valid_y"][lo:hi]
    return cs.TaskArrays(x, y, order, vx, vy, lane_arrays(x, y, order, vx, vy))


def _split(st: Mapping[str, np.ndarray], hurdle_tasks: int) -> cs.TaskSplit:
    n = len(st["train_x"])
    every = _task_arrays(st, 0, n)
    if hurdle_tasks <= 0:
        return cs.TaskSplit(every, every, every)
    return cs.TaskSplit(every, _task_arrays(st, 0, hurdle_tasks), _task_arrays(st, hurdle_tasks, n))


def mutation_label(code: int) -> str:
    """The lineage log's mutation code as text (``"alter_param learn"``)."""
    kind, comp = divmod(int(code), 4)
    names = [m.value for m in search_tables.MUTATIONS] + [
        "initial",
        "copy",
        "random",
        "migrant",
        "several",
    ]
    where = ("setup", "predict", "learn", "")[comp]
    return f"{names[kind]} {where}".strip()


def _positions(ids: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Where each queried id is in ``ids`` (-1 if absent; the last occurrence if repeated)."""
    by_id = np.argsort(ids, kind="stable")
    sorted_ids = ids[by_id]

    def find(x: np.ndarray) -> np.ndarray:
        k = np.searchsorted(sorted_ids, x, side="right") - 1
        hit = k >= 0
        hit[hit] = sorted_ids[k[hit]] == x[hit]
        return np.where(hit, by_id[np.maximum(k, 0)], -1) if len(ids) else np.full(len(x), -1)

    return find


SEVERAL = 4 * (len(search_tables.MUTATIONS) + 4) + 3
"""Mutation code of a candidate whose parent was thinned out of the archive (several
mutations separate it from its recorded parent)."""


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
        self.tables = search_tables.SearchTables.build(space, list(types), tasks.dim, seed)
        st = tasks.stacked()
        self._tasks = _split(st, hurdle.tasks if hurdle is not None else 0)
        size = RANDOM_SEARCH_WINDOW if strategy == "random" else population
        length = self.tables.row_length
        n_tasks, dim = len(tasks), tasks.dim
        self.pop = cs.Population(
            ops=np.zeros((size, length), dtype=np.int64),
            args=np.zeros((size, length, 3), dtype=np.int64),
            data=np.zeros((size, length, 3)),
            lens=np.zeros((size, 3), dtype=np.int64),
            fitness=np.full(size, -np.inf),
            raw=np.full(size, np.nan),
            ids=np.full(size, -1, dtype=np.int64),
            parents=np.full(size, -1, dtype=np.int64),
            order=np.arange(size, dtype=np.int64),
            muts=np.zeros(size, dtype=np.int64),
            kids=np.zeros(size, dtype=np.int64),
        )
        banks = space.banks
        memory = bank_arrays(n_tasks, banks.scalars, banks.vectors, banks.matrices, dim)
        fec_width = (fec.n_train + fec.n_valid) if fec else 0
        self._ws = cs.Workspace(
            ops=np.zeros(length, dtype=np.int64),
            args=np.zeros((length, 3), dtype=np.int64),
            data=np.zeros((length, 3)),
            lens=np.zeros(3, dtype=np.int64),
            live_ops=np.zeros(length, dtype=np.int64),
            live_args=np.zeros((length, 3), dtype=np.int64),
            live_data=np.zeros((length, 3)),
            live_bounds=np.zeros(4, dtype=np.int64),
            mask=np.zeros(length, dtype=np.bool_),
            dce=np.zeros((4, banks.scalars + banks.vectors + banks.matrices), dtype=np.bool_),
            u=np.zeros(_BLOCK),
            pos=np.zeros(1, dtype=np.int64),
            s=memory[0],
            v=memory[1],
            m=memory[2],
            fitness=np.zeros(n_tasks),
            probe=np.zeros((n_tasks, max(fec_width, 1))),
            no_probe=np.empty((0, 0)),
            bits=np.zeros(1),
            value=np.zeros(1),
        )
        gens, restore = _probe_generators(n_tasks)
        self._probe_gens = gens  # kept alive: the compiled loop draws from them by address
        capacity = fec.cache_size if fec else 1
        table_size = 1 << max(1, (2 * capacity - 1).bit_length())
        self._cache = cs.FecCache(
            keys=np.zeros(capacity, dtype=np.uint64),
            values=np.zeros(capacity),
            prev=np.full(capacity, -1, dtype=np.int64),
            next=np.full(capacity, -1, dtype=np.int64),
            table=np.full(table_size, -1, dtype=np.int64),
            state=np.array([0, -1, -1], dtype=np.int64),
            gens=_frozen(np.stack([generator_addresses(g, cache=False) for g in gens])),
            restore_to=restore[0],
            restore_from=restore[1],
            restore_len=restore[2],
        )
        window = hurdle.window if hurdle else 1
        self._hurdle = cs.HurdleState(
            window=np.zeros(window),
            finite=np.zeros(window),
            state=np.zeros(5, dtype=np.int64),
            params=np.array(
                [
                    hurdle.percentile / 100.0 if hurdle else 0.0,
                    hurdle.warmup if hurdle else 0,
                    -np.inf,
                ]
            ),
        )
        self._best = cs.Best(
            ops=np.zeros(length, dtype=np.int64),
            args=np.zeros((length, 3), dtype=np.int64),
            data=np.zeros((length, 3)),
            lens=np.zeros(3, dtype=np.int64),
            info=np.zeros(2),
            ids=np.full(3, -1, dtype=np.int64),
        )
        si = np.zeros(cs.N_SETTINGS, dtype=np.int64)
        si[cs.S_POPULATION] = size
        si[cs.S_TOURNAMENT] = tournament
        si[cs.S_RANDOM] = strategy == "random"
        si[cs.S_WORST] = remove == "worst"
        si[cs.S_SEEDED] = not isinstance(initial, str) or initial == "empty"
        si[cs.S_FEC] = fec is not None
        si[cs.S_FEC_TRAIN] = fec.n_train if fec else 0
        si[cs.S_FEC_VALID] = fec.n_valid if fec else 0
        si[cs.S_MEDIAN] = combine_mode == "median"
        si[cs.S_HURDLE_TASKS] = hurdle.tasks if hurdle else 0
        si[cs.S_CLASSIFY] = tasks.classification
        si[cs.S_N_TRAIN] = st["order"].shape[1]
        si[cs.S_N_VALID] = st["valid_x"].shape[1]
        si[cs.S_FEC_DRAWS] = len(restore[0]) > 0
        si[cs.S_LINEAGE] = lineage
        self._si = si
        self.keeps_lineage = lineage
        self._archive = self._new_archive(self._archive_room() if lineage else 1)
        row_bytes = sum(f[0].nbytes for f in self._archive)
        self._archive_limit = max(int(lineage_max_mb * 1e6) // row_bytes, 2 * self._archive_room())
        max_cost = (
            max_cost_ratio * two_layer_net_cost(dim) if max_cost_ratio is not None else np.inf
        )
        self._sf = np.array(
            [mutate_prob, max_cost, max_abs_error, 10.0 ** (fec.decimals if fec else 0)]
        )
        self._ctr = np.zeros(cs.N_COUNTERS, dtype=np.int64)
        self._migrants = self._new_migrants(1)
        self._rngs = generator_addresses(rng)[None]
        self._idle = generator_addresses(IDLE_RNG)[None]
        self._log_size = 0
        self.lineage = self._new_log(1)
        self._best_cache: Individual[Program] | None = None
        self.strategy_name = strategy
        self.fec = fec
        self.hurdle = hurdle

    # --- running -----------------------------------------------------------------------------

    def _new_migrants(self, n: int) -> cs.Migrants:
        length = self.tables.row_length
        return cs.Migrants(
            ops=np.zeros((n, length), dtype=np.int64),
            args=np.zeros((n, length, 3), dtype=np.int64),
            data=np.zeros((n, length, 3)),
            lens=np.zeros((n, 3), dtype=np.int64),
        )

    def _new_archive(self, n: int) -> cs.Archive:
        return cs.Archive(
            *self._new_migrants(n),  # the program rows
            ids=np.zeros(n, dtype=np.int64),
            parents=np.zeros(n, dtype=np.int64),
            muts=np.zeros(n, dtype=np.int64),
            fitness=np.zeros(n),
        )

    def _archive_room(self) -> int:
        """Steps per compiled call when keeping lineage, and the archive's spare rows."""
        return max(len(self.pop.ids), 1024)

    def _make_room(self, steps: int) -> None:
        """Leave ``steps`` free archive rows: drop rows no member descends from, thin the
        ancestry when it outgrows its memory bound (:meth:`_thin`), then grow."""
        a = self._archive
        if len(a.ids) - int(self._ctr[cs.C_ARCHIVED]) >= steps:
            return
        used = self._prune()
        if used + steps > self._archive_limit:
            used = self._thin((self._archive_limit - steps) // 2)
        if len(a.ids) - used < steps or used > len(a.ids) // 2:
            size = min(max(2 * len(a.ids), used + 2 * steps), self._archive_limit + steps)
            grown = self._new_archive(max(size, used + steps))
            for old, new in zip(a, grown, strict=True):
                new[:used] = old[:used]
            self._archive = grown

    def _thin(self, target: int) -> int:
        """Drop archived ancestors until at most ``target`` remain, relinking each child to
        its nearest kept ancestor (its mutation becomes ``several``): first the neutral ones
        (fitness equal to their parent's, the flat steps of the staircase), then every other
        one among the oldest. Chains still run from an initial program to every member and
        keep every change of fitness but the oldest ones'; memory stays bounded in a search of
        any length."""
        a = self._archive
        used = int(self._ctr[cs.C_ARCHIVED])
        ids, parents, fitness = a.ids[:used], a.parents[:used], a.fitness[:used]
        row_of = _positions(ids)

        up = row_of(parents)  # each row's parent row, -1 when not archived
        drop = (up >= 0) & (fitness == fitness[np.maximum(up, 0)])
        while (excess := used - int(drop.sum()) - target) > 0:
            rest = np.flatnonzero(~drop & (parents >= 0))  # roots stay
            if len(rest) == 0:
                break
            rest = rest[np.argsort(ids[rest], kind="stable")]
            drop[rest[: 2 * excess : 2]] = True
        # Nearest kept ancestor of each dropped row, by pointer jumping.
        to_id, to_row = parents.copy(), up.copy()
        while True:
            bad = np.flatnonzero(drop & (to_row >= 0))
            bad = bad[drop[to_row[bad]]]
            if len(bad) == 0:
                break
            to_id[bad], to_row[bad] = to_id[to_row[bad]], to_row[to_row[bad]]

        def relink(pointers: np.ndarray, muts: np.ndarray) -> None:
            r = row_of(pointers)
            hit = r >= 0
            hit[hit] = drop[r[hit]]
            pointers[hit] = to_id[r[hit]]
            muts[hit] = SEVERAL

        relink(a.parents[:used], a.muts[:used])
        relink(self.pop.parents, self.pop.muts)
        best_parent, best_mut = self._best.ids[1:2].copy(), self._best.ids[2:3].copy()
        relink(best_parent, best_mut)
        self._best.ids[1], self._best.ids[2] = best_parent[0], best_mut[0]
        keep = np.flatnonzero(~drop)
        for field in a:
            field[: len(keep)] = field[keep]
        self._ctr[cs.C_ARCHIVED] = len(keep)
        return len(keep)

    def _prune(self) -> int:
        """Drop the archived rows that no member (nor the best) descends from."""
        a = self._archive
        used = int(self._ctr[cs.C_ARCHIVED])
        count = int(self._ctr[cs.C_COUNT])
        members = self.pop.order[:count] if count < len(self.pop.order) else self.pop.order
        seeds = np.concatenate([self.pop.parents[members], self._best.ids[:2]])
        keep = np.flatnonzero(needed(a.ids[:used], a.parents[:used], seeds))
        for field in a:
            field[: len(keep)] = field[keep]
        self._ctr[cs.C_ARCHIVED] = len(keep)
        return len(keep)

    def _new_log(self, n: int) -> cs.Lineage:
        return cs.Lineage(
            ids=np.zeros(n, dtype=np.int64),
            parents=np.zeros(n, dtype=np.int64),
            mutations=np.zeros(n, dtype=np.int64),
            fitness=np.zeros(n),
            flags=np.zeros(n, dtype=np.int64),
        )

    def warm(self) -> None:
        """Load (or compile) the machine code now, changing nothing: a call for zero steps."""
        self._evolve(0, self.lineage)

    def _evolve(self, n: int, log: cs.Lineage) -> None:
        with vectorizing():
            self._dispatch.evolve(
                self._dispatch._KNOWN, self.tables, self._tasks, self.pop, self._ws, self._cache,
                self._hurdle, self._best, log, self._migrants, self._si, self._sf, self._ctr,
                self._rngs, self._idle, self._archive, n,
            )  # fmt: skip

    def step(self, n: int) -> cs.Lineage:
        """Make, evaluate and place ``n`` candidates; returns their lineage records."""
        if n <= 0:
            return self._new_log(0)
        if n > len(self.lineage.ids):
            self.lineage = self._new_log(max(n, 2 * len(self.lineage.ids)))
        if not self.keeps_lineage:
            self._evolve(n, self.lineage)
        else:
            room = self._archive_room()
            for lo in range(0, n, room):
                k = min(room, n - lo)
                self._make_room(k)
                self._evolve(k, cs.Lineage(*(a[lo:] for a in self.lineage)))
        self._best_cache = None
        return cs.Lineage(*(a[:n] for a in self.lineage))

    def run(
        self,
        max_evals: int | None = None,
        time_budget: float | None = None,
        progress_every_seconds: float = 1.0,
        on_progress: Callable[[SearchProgress], bool | None] | None = None,
        on_batch: Callable[[cs.Lineage], None] | None = None,
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
            # Batches of about batch_seconds: the clock and callbacks are read between them.
            if took < batch_seconds / 2:
                batch = min(batch * 2, 1 << 20)
            elif took > batch_seconds * 2 and batch > 1:
                batch //= 2
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
        return [self._program(*self._own_row(rows, r)) for r in range(len(rows["lens"]))]

    def emigrant_rows(
        self, n: int, rng: np.random.Generator, sizes: tuple[int, ...]
    ) -> dict[str, np.ndarray]:
        """:meth:`emigrants` as packed rows (``ops``, ``args``, ``data``, ``lens``; component
        ``c`` at ``sum(sizes[:c])``, zeros past its length): no program objects, so that
        migration costs microseconds, not milliseconds."""
        count = int(self._ctr[cs.C_COUNT])
        size, head = len(self.pop.order), int(self._ctr[cs.C_HEAD])
        picks = rng.choice(count, size=min(n, count), replace=False) if count else np.zeros(0)
        index = self.pop.order[(head + picks.astype(np.int64)) % size]
        lens = self.pop.lens[index].astype(np.int64)
        k, width = len(index), sum(sizes)
        out = {
            "ops": np.zeros((k, width), dtype=np.int16),
            "args": np.zeros((k, width, 3), dtype=np.int16),
            "data": np.zeros((k, width, 3)),
            "lens": lens,
        }
        for c in range(3):
            lo, plo, w = int(self.tables.offsets[c]), sum(sizes[:c]), sizes[c]
            w = min(w, int(self.tables.max_sizes[c]))
            live = np.arange(w)[None, :] < lens[:, c : c + 1]
            out["ops"][:, plo : plo + w] = np.where(live, self.pop.ops[index, lo : lo + w], 0)
            for f in ("args", "data"):
                src = getattr(self.pop, f)[index, lo : lo + w]
                out[f][:, plo : plo + w] = np.where(live[:, :, None], src, 0)
        return out

    def _own_row(
        self, rows: dict[str, np.ndarray], r: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Row ``r`` of rows packed with this search's ``max_sizes``, in its own layout."""
        length = self.tables.row_length
        ops, args, data = (
            np.zeros(length, np.int64),
            np.zeros((length, 3), np.int64),
            np.zeros((length, 3)),
        )
        plo = 0
        for c in range(3):
            lo, w = int(self.tables.offsets[c]), int(self.tables.max_sizes[c])
            ops[lo : lo + w] = rows["ops"][r, plo : plo + w]
            args[lo : lo + w] = rows["args"][r, plo : plo + w]
            data[lo : lo + w] = rows["data"][r, plo : plo + w]
            plo += w
        return ops, args, data, rows["lens"][r]

    def immigrate(self, programs: list[Program]) -> int:
        """Queue programs from another island: each is evaluated here, in place of the next
        candidate, and joins the population. Programs that do not fit this search's sizes
        or memory are skipped; returns how many were queued (any still waiting are kept)."""
        sizes = tuple(int(m) for m in self.tables.max_sizes)
        fits = [
            q
            for q in programs
            if q.banks == self.space.banks
            and all(len(f) <= m for f, m in zip(q.functions, sizes, strict=True))
        ]
        k, width = len(fits), sum(sizes)
        rows = {
            "ops": np.zeros((k, width), dtype=np.int64),
            "args": np.zeros((k, width, 3), dtype=np.int64),
            "data": np.zeros((k, width, 3)),
            "lens": np.zeros((k, 3), dtype=np.int64),
        }
        for r, q in enumerate(fits):
            plo = 0
            for c, fn in enumerate(q.functions):
                rows["ops"][r, plo : plo + len(fn)] = fn.ops
                rows["args"][r, plo : plo + len(fn)] = fn.args
                rows["data"][r, plo : plo + len(fn)] = fn.data
                rows["lens"][r, c] = len(fn)
                plo += sizes[c]
        return self.immigrate_rows(rows, sizes)

    def immigrate_rows(self, rows: dict[str, np.ndarray], sizes: tuple[int, ...]) -> int:
        """:meth:`immigrate` for packed rows (the layout of :meth:`emigrant_rows`) of programs
        over this search's memory; rows too long for this search's sizes are skipped."""
        lens = np.asarray(rows["lens"], dtype=np.int64).reshape(-1, 3)
        fits = np.flatnonzero(np.all(lens <= self.tables.max_sizes[None, :], axis=1))
        taken, waiting = int(self._ctr[cs.C_MIGRANTS_TAKEN]), int(self._ctr[cs.C_MIGRANTS])
        keep = tuple(a[taken:waiting].copy() for a in self._migrants)
        total = (waiting - taken) + len(fits)
        migrants = self._new_migrants(max(total, 1))
        for field, old in zip(migrants, keep, strict=True):
            field[: len(old)] = old
        new = slice(waiting - taken, total)
        for c in range(3):
            lo, plo = int(self.tables.offsets[c]), sum(sizes[:c])
            w = min(sizes[c], int(self.tables.max_sizes[c]))
            migrants.ops[new, lo : lo + w] = rows["ops"][fits, plo : plo + w]
            migrants.args[new, lo : lo + w] = rows["args"][fits, plo : plo + w]
            migrants.data[new, lo : lo + w] = rows["data"][fits, plo : plo + w]
        migrants.lens[new] = lens[fits]
        self._migrants = migrants
        self._ctr[cs.C_MIGRANTS_TAKEN] = 0
        self._ctr[cs.C_MIGRANTS] = total
        return len(fits)

    # --- checkpoints -------------------------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        named: dict[str, np.ndarray] = {
            f"migrants.{field}": array
            for field, array in zip(self._migrants._fields, self._migrants, strict=True)
        }
        for prefix, group in (
            ("pop", self.pop),
            ("cache", self._cache),
            ("hurdle", self._hurdle),
            ("best", self._best),
        ):
            for field, array in zip(group._fields, group, strict=True):
                named[f"{prefix}.{field}"] = array
        named["counters"] = self._ctr
        return named

    _FIXED = ("cache.gens", "cache.restore_to", "cache.restore_from", "cache.restore_len")

    def state(self) -> dict[str, np.ndarray]:
        """Everything needed to continue this search exactly: copies of the population,
        FEC cache, hurdle window, best, counters and the generator's state (as JSON)."""
        used = self._prune() if self.keeps_lineage else 0
        out = {k: a.copy() for k, a in self._arrays().items() if k not in self._FIXED}
        out["rng"] = np.array(json.dumps(self.rng.bit_generator.state))
        for field, array in zip(self._archive._fields, self._archive, strict=True):
            out[f"archive.{field}"] = array[:used].copy()
        return out

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Continue from :meth:`state` of a search built with the same arguments; raises
        ``ValueError`` if the arrays do not fit."""
        state = dict(state)
        archived = {
            k.split(".", 1)[1]: np.asarray(state.pop(k))
            for k in list(state)
            if k.startswith("archive.")
        }
        waiting = np.asarray(state.get("migrants.ops", np.zeros((1, 0))))
        self._migrants = self._new_migrants(max(1, waiting.shape[0]))
        arrays = self._arrays()
        expected = set(arrays) - set(self._FIXED) | {"rng"}
        if set(state) != expected:
            raise ValueError("checkpoint does not match this search (different fields)")
        for key, target in arrays.items():
            if key in self._FIXED:
                continue
            value = np.asarray(state[key])
            if value.shape != target.shape or value.dtype != target.dtype:
                raise ValueError(f"checkpoint does not match this search ({key})")
        rng_state = json.loads(str(state["rng"]))
        if rng_state.get("bit_generator") != type(self.rng.bit_generator).__name__:
            raise ValueError("checkpoint does not match this search (generator)")
        used = len(archived.get("ids", ()))
        if set(archived) != set(cs.Archive._fields) or any(
            len(x) != used for x in archived.values()
        ):
            raise ValueError("checkpoint does not match this search (archive)")
        room = self._archive_room() if self.keeps_lineage else 0
        archive = self._new_archive(max(1, used + room))
        for field, target in zip(archive._fields, archive, strict=True):
            if archived[field].shape[1:] != target.shape[1:]:
                raise ValueError("checkpoint does not match this search (archive)")
        for key, target in arrays.items():
            if key not in self._FIXED:
                target[...] = state[key]
        for field, target in zip(archive._fields, archive, strict=True):
            target[:used] = archived[field]
        self._archive = archive
        self.rng.bit_generator.state = rng_state
        self._best_cache = None

    # --- reading the state -------------------------------------------------------------------

    @property
    def evaluations(self) -> int:
        return int(self._ctr[cs.C_EVALUATIONS])

    @property
    def full_evaluations(self) -> int:
        return int(self._ctr[cs.C_FULL])

    @property
    def live_instructions(self) -> tuple[int, int, int]:
        """Live (Setup, Predict, Learn) instructions summed over full evaluations."""
        c = self._ctr
        return int(c[cs.C_LIVE_SETUP]), int(c[cs.C_LIVE_PREDICT]), int(c[cs.C_LIVE_LEARN])

    def _program(
        self, ops: np.ndarray, args: np.ndarray, data: np.ndarray, lens: np.ndarray
    ) -> Program:
        fns = []
        for c in range(3):
            lo = int(self.tables.offsets[c])
            hi = lo + int(lens[c])
            fns.append(Function(ops[lo:hi], args[lo:hi], data[lo:hi]))
        return Program(fns[0], fns[1], fns[2], self.space.banks)

    @property
    def best(self) -> Individual[Program] | None:
        """The fittest candidate seen (the first of equals)."""
        if self._best.info[1] == 0.0:
            return None
        if self._best_cache is None:
            b = self._best
            parent = int(b.ids[1])
            self._best_cache = Individual(
                int(b.ids[0]),
                self._program(b.ops, b.args, b.data, b.lens),
                float(b.info[0]),
                parent if parent >= 0 else None,
                mutation_label(int(b.ids[2])),
                int(b.ids[0]) + 1,
            )
        return self._best_cache

    def ancestry(self, ident: int | None = None) -> list[Ancestor]:
        """The ancestors of candidate ``ident`` (default: the best), oldest first, ending with
        it: every one while it is a member, the best or (with ``lineage=True``) archived;
        without lineage the chain stops at the first ancestor that left the population."""
        # Find each link by binary search over the ids; only the links become programs (the
        # archive can hold hundreds of thousands of rows). Later sources win: archive < pop < best.
        a, used = self._archive, int(self._ctr[cs.C_ARCHIVED]) if self.keeps_lineage else 0
        p, b = self.pop, self._best
        count = int(self._ctr[cs.C_COUNT])
        members = p.order[: min(count, len(p.order))]
        has_best = b.info[1] != 0.0
        ids = np.concatenate([a.ids[:used], p.ids[members], b.ids[:1] if has_best else b.ids[:0]])
        rows = np.concatenate([np.arange(used), members, np.zeros(int(has_best), np.int64)])
        source = np.repeat([0, 1, 2], [used, len(members), int(has_best)])
        position = _positions(ids)
        if ident is None:
            ident = int(b.ids[0]) if has_best else -1
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
                parent, mut, fitness = int(b.ids[1]), int(b.ids[2]), float(b.info[0])
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
        count = int(self._ctr[cs.C_COUNT])
        head = int(self._ctr[cs.C_HEAD])
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
            n = c[cs.C_HITS] + c[cs.C_MISSES]
            out["fec_hit_rate"] = float(c[cs.C_HITS] / n) if n else 0.0
            if c[cs.C_BYPASS]:
                out["fec_bypassed"] = float(c[cs.C_BYPASS])
        if self.hurdle is not None:
            passed, failed = self._hurdle.state[3], self._hurdle.state[4]
            out["hurdle_pass_rate"] = float(passed / (passed + failed)) if passed + failed else 1.0
        if np.isfinite(self._sf[cs.F_MAX_COST]):
            out["over_budget"] = float(c[cs.C_OVER_BUDGET])
        out["full_evaluations"] = float(c[cs.C_FULL])
        return out

    def progress(self, now: float, t_prev: float = 0.0, n_prev: int = 0) -> SearchProgress:
        rate = (self.evaluations - n_prev) / (now - t_prev) if now > t_prev else 0.0
        count = int(self._ctr[cs.C_COUNT])
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
