"""The arrays of a compiled search (:class:`~primeval.algorithms.evolve.CompiledSearch`):
allocation, settings, the task split, FEC probe generators, and the batch size.

The records are the named tuples of :mod:`~primeval.algorithms.interpret.search_state`,
which the compiled loop (:mod:`~primeval.algorithms.interpret.search_loop`) reads and
advances in place.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping

import numpy as np

from primeval.algorithms.evaluate import FEC_SEED, FECSettings, HurdleSettings
from primeval.algorithms.interpret import search_state as ss
from primeval.algorithms.interpret.compiled import lane_arrays
from primeval.algorithms.interpret.intrinsics import generator_addresses
from primeval.algorithms.interpret.search_hurdle import (
    N_HURDLE_PARAMS,
    N_HURDLE_STATE,
    P_POPULATION,
    P_QUANTILE,
    P_THRESHOLD,
    P_WARMUP,
)
from primeval.algorithms.memory import Banks

RANDOM_SEARCH_WINDOW = 100  # as RandomSearch's window
UNIFORMS_PER_BLOCK = 32  # uniforms per mutation block, as mutate._Draws
MAX_BATCH = 1 << 20


def frozen_array(a: np.ndarray) -> np.ndarray:
    """``a``, made read-only (compiled code then sees one array type in every call)."""
    a.setflags(write=False)
    return a


def probe_generators(
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
        frozen_array(np.array(to, dtype=np.uint64)),
        frozen_array(np.array(frm, dtype=np.uint8).reshape(-1, 32)),
        frozen_array(np.array(lengths, dtype=np.int64)),
    )
    return gens, tables


def task_arrays(st: Mapping[str, np.ndarray], lo: int, hi: int) -> ss.TaskArrays:
    """Tasks ``lo:hi`` of stacked arrays, and their examples in lanes."""
    x, y, order = st["train_x"][lo:hi], st["train_y"][lo:hi], st["order"][lo:hi]
    vx, vy = st["valid_x"][lo:hi], st["valid_y"][lo:hi]
    return ss.TaskArrays(x, y, order, vx, vy, lane_arrays(x, y, order, vx, vy))


def split_tasks(st: Mapping[str, np.ndarray], hurdle_tasks: int) -> ss.TaskSplit:
    """All tasks, the hurdle's first ``hurdle_tasks`` and the rest (all, without a hurdle)."""
    n = len(st["train_x"])
    every = task_arrays(st, 0, n)
    if hurdle_tasks <= 0:
        return ss.TaskSplit(every, every, every)
    return ss.TaskSplit(every, task_arrays(st, 0, hurdle_tasks), task_arrays(st, hurdle_tasks, n))


def new_population(size: int, length: int) -> ss.Population:
    return ss.Population(
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


def new_workspace(
    length: int,
    banks: Banks,
    memory: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_tasks: int,
    fec_width: int,
) -> ss.Workspace:
    """Scratch arrays for a child of rows ``length`` long, with the memory banks ``memory``
    (:func:`~primeval.algorithms.interpret.compiled.bank_arrays`)."""
    return ss.Workspace(
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
        u=np.zeros(UNIFORMS_PER_BLOCK),
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


def new_fec_cache(
    capacity: int,
    gens: list[np.random.Generator],
    restore: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> ss.FecCache:
    """An empty LRU cache of ``capacity`` fitnesses, with the probe generators ``gens`` and
    how to reseed them (:func:`probe_generators`)."""
    table_size = 1 << max(1, (2 * capacity - 1).bit_length())
    return ss.FecCache(
        keys=np.zeros(capacity, dtype=np.uint64),
        values=np.zeros(capacity),
        prev=np.full(capacity, -1, dtype=np.int64),
        next=np.full(capacity, -1, dtype=np.int64),
        table=np.full(table_size, -1, dtype=np.int64),
        state=np.array([0, -1, -1], dtype=np.int64),
        gens=frozen_array(np.stack([generator_addresses(g, cache=False) for g in gens])),
        restore_to=restore[0],
        restore_from=restore[1],
        restore_len=restore[2],
    )


def new_hurdle_state(hurdle: HurdleSettings | None, population: int = 1) -> ss.HurdleState:
    """A hurdle's state; ``population`` members' fitnesses fit its work array."""
    window = hurdle.window if hurdle else 1
    params = np.zeros(N_HURDLE_PARAMS)
    params[P_POPULATION] = 1.0 if hurdle is not None and hurdle.rule == "population" else 0.0
    params[P_QUANTILE] = hurdle.percentile / 100.0 if hurdle else 0.0
    params[P_WARMUP] = hurdle.warmup if hurdle else 0
    params[P_THRESHOLD] = -np.inf
    return ss.HurdleState(
        window=np.zeros(window),
        finite=np.zeros(max(window, population)),
        state=np.zeros(N_HURDLE_STATE, dtype=np.int64),
        params=params,
    )


def new_best(length: int) -> ss.Best:
    return ss.Best(
        ops=np.zeros(length, dtype=np.int64),
        args=np.zeros((length, 3), dtype=np.int64),
        data=np.zeros((length, 3)),
        lens=np.zeros(3, dtype=np.int64),
        info=np.zeros(2),
        ids=np.full(3, -1, dtype=np.int64),
    )


def new_rows(n: int, length: int) -> ss.Migrants:
    """``n`` empty program rows ``length`` long (the migrants' queue, or an archive's rows)."""
    return ss.Migrants(
        ops=np.zeros((n, length), dtype=np.int64),
        args=np.zeros((n, length, 3), dtype=np.int64),
        data=np.zeros((n, length, 3)),
        lens=np.zeros((n, 3), dtype=np.int64),
    )


def new_archive(n: int, length: int) -> ss.Archive:
    return ss.Archive(
        *new_rows(n, length),
        ids=np.zeros(n, dtype=np.int64),
        parents=np.zeros(n, dtype=np.int64),
        muts=np.zeros(n, dtype=np.int64),
        fitness=np.zeros(n),
    )


def new_log(n: int) -> ss.Lineage:
    return ss.Lineage(
        ids=np.zeros(n, dtype=np.int64),
        parents=np.zeros(n, dtype=np.int64),
        mutations=np.zeros(n, dtype=np.int64),
        fitness=np.zeros(n),
        flags=np.zeros(n, dtype=np.int64),
    )


def int_settings(
    *,
    population: int,
    tournament: int,
    random: bool,
    worst: bool,
    seeded: bool,
    fec: FECSettings | None,
    median: bool,
    hurdle: HurdleSettings | None,
    classes: int,
    n_train: int,
    n_valid: int,
    fec_draws: bool,
    lineage: bool,
    precheck: bool = False,
) -> np.ndarray:
    """The integer settings array, indexed by ``search_state.S_*``."""
    si = np.zeros(ss.N_SETTINGS, dtype=np.int64)
    si[ss.S_POPULATION] = population
    si[ss.S_TOURNAMENT] = tournament
    si[ss.S_RANDOM] = random
    si[ss.S_WORST] = worst
    si[ss.S_SEEDED] = seeded
    si[ss.S_FEC] = fec is not None
    si[ss.S_FEC_TRAIN] = fec.n_train if fec else 0
    si[ss.S_FEC_VALID] = fec.n_valid if fec else 0
    si[ss.S_MEDIAN] = median
    si[ss.S_HURDLE_TASKS] = hurdle.tasks if hurdle else 0
    si[ss.S_CLASSIFY] = classes  # TaskSet.classes: 0 regression, 2 binary, more multi-class
    si[ss.S_N_TRAIN] = n_train
    si[ss.S_N_VALID] = n_valid
    si[ss.S_FEC_DRAWS] = fec_draws
    si[ss.S_LINEAGE] = lineage
    si[ss.S_PRECHECK] = precheck
    return si


def float_settings(
    mutate_prob: float, max_cost: float, max_abs_error: float, fec: FECSettings | None
) -> np.ndarray:
    """The float settings array, indexed by ``search_state.F_*``."""
    sf = np.zeros(ss.N_FLOAT_SETTINGS)
    sf[ss.F_MUTATE_PROB] = mutate_prob
    sf[ss.F_MAX_COST] = max_cost
    sf[ss.F_MAX_ABS_ERROR] = max_abs_error
    sf[ss.F_FEC_SCALE] = 10.0 ** (fec.decimals if fec else 0)
    return sf


def next_batch(batch: int, took: float, batch_seconds: float) -> int:
    """The next batch size, so that batches take about ``batch_seconds`` (the clock and the
    callbacks are read between batches)."""
    if took < batch_seconds / 2:
        return min(batch * 2, MAX_BATCH)
    if took > batch_seconds * 2 and batch > 1:
        return batch // 2
    return batch
