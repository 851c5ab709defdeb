"""The state of a compiled search in named records: what the loop reads
(:class:`SearchInputs`) and what it advances in place (:class:`SearchArrays`), with the
named indices of its settings, counters, flags and best record.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from primeval.algorithms.interpret.search_tables import SearchTables

# Integer settings (``si``).
S_POPULATION, S_TOURNAMENT, S_RANDOM, S_WORST, S_SEEDED = 0, 1, 2, 3, 4
S_FEC, S_FEC_TRAIN, S_FEC_VALID, S_MEDIAN, S_HURDLE_TASKS = 5, 6, 7, 8, 9
S_CLASSIFY, S_N_TRAIN, S_N_VALID, S_FEC_DRAWS, S_LINEAGE = 10, 11, 12, 13, 14
S_PRECHECK = 15
N_SETTINGS = 16
# Float settings (``sf``).
F_MUTATE_PROB, F_MAX_COST, F_MAX_ABS_ERROR, F_FEC_SCALE = 0, 1, 2, 3
N_FLOAT_SETTINGS = 4
# Counters (``ctr``).
C_EVALUATIONS, C_FULL, C_HITS, C_MISSES, C_OVER_BUDGET, C_NEXT_ID = 0, 1, 2, 3, 4, 5
C_COUNT, C_HEAD, C_BYPASS, C_LIVE_SETUP, C_LIVE_PREDICT, C_LIVE_LEARN = 6, 7, 8, 9, 10, 11
C_MIGRANTS, C_MIGRANTS_TAKEN, C_ARCHIVED, C_REJECTED = 12, 13, 14, 15
N_COUNTERS = 16
# Lineage flags.
FLAG_FEC_HIT, FLAG_OVER_BUDGET, FLAG_DRAWS, FLAG_REJECTED = 1, 2, 4, 8


class TaskArrays(NamedTuple):
    """A task set's stacked arrays (``TaskSet.stacked``) and its examples in lanes
    (``interpret.compiled.lane_arrays``)."""

    train_x: np.ndarray
    train_y: np.ndarray
    order: np.ndarray
    valid_x: np.ndarray
    valid_y: np.ndarray
    lanes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class TaskSplit(NamedTuple):
    """All the search tasks, and the hurdle's first tasks and the rest (all of them again
    without a hurdle)."""

    all: TaskArrays
    head: TaskArrays
    tail: TaskArrays


class Population(NamedTuple):
    """Members in fixed rows; ``order[(head + k) % P]`` is the row of the k-th oldest."""

    ops: np.ndarray  # (P, L) int64
    args: np.ndarray  # (P, L, 3) int64
    data: np.ndarray  # (P, L, 3)
    lens: np.ndarray  # (P, 3) component sizes
    fitness: np.ndarray  # (P,) fitness, -inf where not finite (selection's view)
    raw: np.ndarray  # (P,) fitness as evaluated
    ids: np.ndarray  # (P,)
    parents: np.ndarray  # (P,) -1: none
    order: np.ndarray  # (P,)
    muts: np.ndarray  # (P,) the mutation code that made each member
    kids: np.ndarray  # (P,) 1 once a member has been picked as a parent


class Workspace(NamedTuple):
    """Scratch arrays: the child, its live code, memory, probe and draws."""

    ops: np.ndarray  # the child's row
    args: np.ndarray
    data: np.ndarray
    lens: np.ndarray
    live_ops: np.ndarray  # its live instructions, encoded
    live_args: np.ndarray
    live_data: np.ndarray
    live_bounds: np.ndarray
    mask: np.ndarray  # (L,) bool
    dce: np.ndarray  # (4, locations) bool
    u: np.ndarray  # (32,) uniforms
    pos: np.ndarray  # (1,) next uniform
    s: np.ndarray  # memory in lanes (interpret.compiled.bank_arrays)
    v: np.ndarray
    m: np.ndarray
    fitness: np.ndarray  # (T,)
    probe: np.ndarray  # (T, fec_n_train + fec_n_valid)
    no_probe: np.ndarray  # (0, 0)
    bits: np.ndarray  # (1,)
    value: np.ndarray  # (1,)


class FecCache(NamedTuple):
    keys: np.ndarray  # (C,) uint64
    values: np.ndarray  # (C,)
    prev: np.ndarray  # (C,) int64
    next: np.ndarray  # (C,) int64
    table: np.ndarray  # (H,) int64, H a power of two >= 2 C
    state: np.ndarray  # (3,) size, oldest, newest
    gens: np.ndarray  # (T, 6) addresses of the probe's generators, one per task
    restore_to: np.ndarray  # (K,) uint64 addresses of their state ...
    restore_from: np.ndarray  # (K, 32) uint8 ... and the bytes of a fresh one's
    restore_len: np.ndarray  # (K,) how many bytes


class HurdleState(NamedTuple):
    window: np.ndarray  # (W,)
    finite: np.ndarray  # (W,)
    state: np.ndarray  # (5,) int64, see hurdle_check
    params: np.ndarray  # (4,) float64, see hurdle_check


# Entries of ``Best.info`` and ``Best.ids``.
BEST_FITNESS, BEST_FOUND = 0, 1
BEST_ID, BEST_PARENT, BEST_MUTATION = 0, 1, 2


class Best(NamedTuple):
    ops: np.ndarray
    args: np.ndarray
    data: np.ndarray
    lens: np.ndarray
    info: np.ndarray  # (2,) float64: BEST_FITNESS as evaluated, BEST_FOUND (1.0 once found)
    ids: np.ndarray  # (3,) int64: BEST_ID, BEST_PARENT, BEST_MUTATION


class Archive(NamedTuple):
    """Members that were parents, kept when they leave the population (``S_LINEAGE``):
    rows ``:C_ARCHIVED`` are filled. With the population they hold every ancestor of every
    member, so any member's ancestry can be rebuilt (:mod:`primeval.algorithms.lineage`
    prunes the rows no member descends from)."""

    ops: np.ndarray
    args: np.ndarray
    data: np.ndarray
    lens: np.ndarray
    ids: np.ndarray
    parents: np.ndarray
    muts: np.ndarray
    fitness: np.ndarray  # as evaluated


class Migrants(NamedTuple):
    """Programs from other islands, waiting to be evaluated here and join the population:
    rows ``C_MIGRANTS_TAKEN:C_MIGRANTS`` are still to come."""

    ops: np.ndarray  # (K, L)
    args: np.ndarray
    data: np.ndarray
    lens: np.ndarray  # (K, 3)


class Lineage(NamedTuple):
    """One entry per candidate of the last call."""

    ids: np.ndarray
    parents: np.ndarray
    mutations: np.ndarray  # search_tables.mutation_code
    fitness: np.ndarray
    flags: np.ndarray


class SearchInputs(NamedTuple):
    """What a compiled search reads and never changes."""

    known: np.ndarray  # (codes,) bool: the op codes the generated module compiled
    tables: SearchTables
    tasks: TaskSplit
    settings: np.ndarray  # (N_SETTINGS,) int64, indexed by S_*
    float_settings: np.ndarray  # float64, indexed by F_*
    rngs: np.ndarray  # (1, 6) the search generator's addresses (intrinsics.generator_addresses)
    idle_rngs: np.ndarray  # (1, 6) the generator of programs that draw nothing


class SearchArrays(NamedTuple):
    """The state a compiled search advances, in place."""

    pop: Population
    ws: Workspace
    cache: FecCache
    hurdle: HurdleState
    best: Best
    migrants: Migrants
    archive: Archive
    counters: np.ndarray  # (N_COUNTERS,) int64, indexed by C_*
