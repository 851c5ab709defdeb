"""Regularized evolution of algorithms inside one compiled call per batch of candidates.

The Python search loop (:class:`primeval.engine.search.Search` with an
:class:`~primeval.algorithms.evaluate.AlgorithmEvaluator`) costs tens of microseconds per
candidate in tournament selection, mutation, FEC hashing and bookkeeping, more than a
compiled evaluation. This module runs the same loop in numba, many candidates per call:

- **The same search.** Tournament selection, the mutation operators of
  :mod:`~primeval.algorithms.mutate`, functional equivalence checking with an LRU cache
  (Real et al., "AutoML-Zero", ICML 2020, Sec. 4.2), progressive hurdles (So et al., "The
  Evolved Transformer", ICML 2019), the compute-cost cap and aging or worst-first removal
  (Real et al., "Regularized Evolution", AAAI 2019) are ported one to one and draw from the
  same generator in the same order. A compiled search and the Python one started from the
  same seed make the same candidates and fitnesses, step for step
  (``tests/test_compiled_search.py`` checks it).
- **Less work.** Before a candidate runs, dead code (:mod:`~primeval.algorithms.dce`: results
  that can never reach a prediction) is dropped; the fitness is unchanged. (A program whose
  only random draws are dead is evaluated in full, draws included: they advance the search
  generator.) FEC probes of programs that draw random numbers use one freshly seeded
  generator per task, as the reference does: the probe's generators are put back into their
  seeded state by copying saved bytes over their state (:func:`restore_generators`; checked
  at start-up, else such candidates skip FEC).
- **One definition per op.** Op signatures, data fields and costs come from the op registry
  as tables (:class:`SearchTables`); evaluation is the generated interpreter's
  ``run_tasks_with``. :func:`evolve_with` is plain Python here; the generated module of
  :mod:`~primeval.algorithms.interpret.compiled` compiles a copy of it next to the
  interpreter, so it calls the jump table directly, and caches the machine code on disk.

Programs live in fixed-size rows: component ``c`` of a row occupies ``max_sizes[c] + 1``
slots starting at ``offsets[c]`` (one spare slot for the insertion of a trade).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, register_jitable

from primeval.algorithms.interpret.compiled import (
    _pairwise_sum,
    frozen,
    generator_from,
    run_tasks_with,
)
from primeval.algorithms.memory import FEATURES, LABEL, PREDICTION
from primeval.algorithms.mutate import SIGN_FLIP_PROB, MutationType, ProgramSpace
from primeval.algorithms.ops import REGISTRY, DataInit, DataMutation, Kind
from primeval.algorithms.program import Component, Program

# --- tables derived from the registry -----------------------------------------------------------

KIND_CODE = {Kind.SCALAR: 0, Kind.VECTOR: 1, Kind.MATRIX: 2}
MUTATIONS = list(MutationType)
"""Mutation type codes: the index in this list."""
M_ALTER = MUTATIONS.index(MutationType.ALTER_PARAM)
M_RANDOM_INSTRUCTION = MUTATIONS.index(MutationType.RANDOMIZE_INSTRUCTION)
M_RANDOM_FUNCTION = MUTATIONS.index(MutationType.RANDOMIZE_FUNCTION)
M_INSERT = MUTATIONS.index(MutationType.INSERT)
M_REMOVE = MUTATIONS.index(MutationType.REMOVE)
M_TRADE = MUTATIONS.index(MutationType.TRADE)
M_RANDOM_ALGORITHM = MUTATIONS.index(MutationType.RANDOMIZE_ALGORITHM)
M_IDENTITY = MUTATIONS.index(MutationType.IDENTITY)
M_INITIAL = len(MUTATIONS)  # pseudo-codes for the lineage log
M_COPY = len(MUTATIONS) + 1
M_RANDOM = len(MUTATIONS) + 2
M_MIGRANT = len(MUTATIONS) + 3

# Columns of the op table (one row per op code).
ARITY, IN1, IN2, OUT, NDATA, INIT0, MUT0, SORTED, STOCHASTIC, PARTIAL, FLOPS = (
    0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 14,
)  # fmt: skip
N_COLUMNS = 15
_INIT = {DataInit.UNIT: 0, DataInit.SIGNED: 1}
_MUT = {DataMutation.RESAMPLE_UNIT: 0, DataMutation.LOG_SCALE_OR_FLIP: 1, DataMutation.LOG_SCALE: 2}
_PARTIAL_WRITES = ("VECTOR_CONST_SET", "MATRIX_CONST_SET")  # as in dce.PARTIAL_WRITES


def op_table(dim: int) -> np.ndarray:
    """``(128, N_COLUMNS)`` int64: each registered op's signature, data fields and cost."""
    from primeval.algorithms.dce import PARTIAL_WRITES

    assert set(_PARTIAL_WRITES) == set(PARTIAL_WRITES)
    tab = np.zeros((128, N_COLUMNS), dtype=np.int64)
    tab[:, OUT] = -1
    for spec in REGISTRY:
        row = tab[spec.code]
        row[ARITY] = spec.arity
        for k, kind in enumerate(spec.inputs):
            row[IN1 + k] = KIND_CODE[kind]
        row[OUT] = KIND_CODE[spec.output] if spec.output is not None else -1
        row[NDATA] = len(spec.data)
        for k, field in enumerate(spec.data):
            row[INIT0 + k] = _INIT[field.init]
            row[MUT0 + k] = _MUT[field.mutation]
        row[SORTED] = spec.sorted_data
        row[STOCHASTIC] = spec.stochastic
        row[PARTIAL] = spec.name in PARTIAL_WRITES
        row[FLOPS] = spec.cost.flops(dim)
    return tab


class SearchTables(NamedTuple):
    """A :class:`ProgramSpace` and mutation types as arrays compiled code can read."""

    ops: np.ndarray  # (128, N_COLUMNS) op table
    comp_ops: np.ndarray  # (3, K) allowed op codes per component
    comp_nops: np.ndarray  # (3,) how many of them
    init_sizes: np.ndarray  # (3,)
    min_sizes: np.ndarray  # (3,)
    max_sizes: np.ndarray  # (3,)
    offsets: np.ndarray  # (4,) where each component starts in a row; offsets[3] = row length
    mutable: np.ndarray  # components with allowed ops
    types: np.ndarray  # mutation type codes
    banks: np.ndarray  # (3,) bank sizes (scalars, vectors, matrices)
    out_lo: np.ndarray  # (3,) first writable address per bank
    seed_ops: np.ndarray  # (L,) the program initial members copy (``S_SEEDED``), as a row
    seed_args: np.ndarray  # (L, 3)
    seed_data: np.ndarray  # (L, 3)
    seed_lens: np.ndarray  # (3,)

    @classmethod
    def build(
        cls,
        space: ProgramSpace,
        types: list[MutationType],
        dim: int,
        seed: Program | None = None,
    ) -> SearchTables:
        """``seed`` (default: the empty program of the initial sizes) must fit ``max_sizes``."""
        width = max(1, max(len(ops) for ops in space.ops))
        comp_ops = np.zeros((3, width), dtype=np.int64)
        for c, ops in enumerate(space.ops):
            comp_ops[c, : len(ops)] = [spec.code for spec in ops]
        caps = np.array(space.max_sizes, dtype=np.int64) + 1
        offsets = np.concatenate([[0], np.cumsum(caps)]).astype(np.int64)
        b = space.banks
        seed = seed if seed is not None else Program.empty(b, space.init_sizes)
        length = int(offsets[3])
        seed_ops = np.zeros(length, dtype=np.int64)
        seed_args = np.zeros((length, 3), dtype=np.int64)
        seed_data = np.zeros((length, 3))
        for c, fn in enumerate(seed.functions):
            if len(fn) > space.max_sizes[c]:
                raise ValueError(f"the initial program's {Component(c).label} exceeds max_sizes")
            lo = int(offsets[c])
            seed_ops[lo : lo + len(fn)] = fn.ops
            seed_args[lo : lo + len(fn)] = fn.args
            seed_data[lo : lo + len(fn)] = fn.data
        return cls(
            ops=op_table(dim),
            comp_ops=comp_ops,
            comp_nops=np.array([len(ops) for ops in space.ops], dtype=np.int64),
            init_sizes=np.array(space.init_sizes, dtype=np.int64),
            min_sizes=np.array(space.min_sizes, dtype=np.int64),
            max_sizes=np.array(space.max_sizes, dtype=np.int64),
            offsets=offsets,
            mutable=np.array([int(c) for c in space.mutable()], dtype=np.int64),
            types=np.array([MUTATIONS.index(MutationType(t)) for t in types], dtype=np.int64),
            banks=np.array([b.scalars, b.vectors, b.matrices], dtype=np.int64),
            out_lo=np.array([1, 1, 0], dtype=np.int64),
            seed_ops=seed_ops,
            seed_args=seed_args,
            seed_data=seed_data,
            seed_lens=np.array(seed.sizes(), dtype=np.int64),
        )

    @property
    def row_length(self) -> int:
        return int(self.offsets[3])


# --- random draws, as mutate._Draws takes them ---------------------------------------------------


def _fresh(rng, u, pos):
    """A new block of uniforms (``_Draws(rng)``)."""
    for i in range(u.shape[0]):
        u[i] = rng.random()
    pos[0] = 0


def _uniform(rng, u, pos):
    if pos[0] == u.shape[0]:
        _fresh(rng, u, pos)
    x = u[pos[0]]
    pos[0] += 1
    return x


def _below(rng, u, pos, n):
    return min(int(_uniform(rng, u, pos) * n), n - 1)


def _normal(rng, u, pos):
    u1 = 1.0 - _uniform(rng, u, pos)
    u2 = _uniform(rng, u, pos)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


# --- instructions and mutations (mutate.Mutator, on rows) ---------------------------------------


def _random_row(rng, u, pos, tab, banks, out_lo, code, ops, args, data, i):
    """Instruction ``i`` becomes a random instance of op ``code`` (``Mutator._random_row``)."""
    ops[i] = code
    args[i, 0] = 0
    args[i, 1] = 0
    args[i, 2] = 0
    for slot in range(tab[code, ARITY]):
        args[i, slot] = _below(rng, u, pos, banks[tab[code, IN1 + slot]])
    kind = tab[code, OUT]
    if kind >= 0:
        args[i, 2] = out_lo[kind] + _below(rng, u, pos, banks[kind] - out_lo[kind])
    data[i, 0] = 0.0
    data[i, 1] = 0.0
    data[i, 2] = 0.0
    for k in range(tab[code, NDATA]):
        x = _uniform(rng, u, pos)
        data[i, k] = x if tab[code, INIT0 + k] == 0 else 2.0 * x - 1.0
    if tab[code, SORTED] and data[i, 0] > data[i, 1]:
        lo = data[i, 1]
        data[i, 1] = data[i, 0]
        data[i, 0] = lo


def _random_op(rng, u, pos, comp_ops, comp_nops, c):
    return comp_ops[c, _below(rng, u, pos, comp_nops[c])]


def _random_function(rng, u, pos, t, c, size, ops, args, data, lens):
    """Component ``c`` becomes ``size`` random instructions (no-ops if it has no ops)."""
    base = t.offsets[c]
    for i in range(base, base + size):
        if t.comp_nops[c] == 0:
            ops[i] = 0
            for k in range(3):
                args[i, k] = 0
                data[i, k] = 0.0
        else:
            code = _random_op(rng, u, pos, t.comp_ops, t.comp_nops, c)
            _random_row(rng, u, pos, t.ops, t.banks, t.out_lo, code, ops, args, data, i)
    lens[c] = size


def _mutate_data(rng, u, pos, value, how):
    if how == 0:
        return _uniform(rng, u, pos)
    if how == 1 and _uniform(rng, u, pos) < SIGN_FLIP_PROB:
        return -value
    step = math.exp(_normal(rng, u, pos))
    return value * step if value > 0 else -((-value) * step)


def _alter(rng, u, pos, t, ops, args, data, i):
    """Change one argument slot of instruction ``i`` (``Mutator._alter``)."""
    code = ops[i]
    tab = t.ops
    if tab[code, OUT] < 0:
        return
    arity = tab[code, ARITY]
    n_slots = arity + 1 + (1 if tab[code, NDATA] > 0 else 0)
    slot = _below(rng, u, pos, n_slots)
    if slot == arity:  # the output
        kind = tab[code, OUT]
        args[i, 2] = t.out_lo[kind] + _below(rng, u, pos, t.banks[kind] - t.out_lo[kind])
    elif slot == arity + 1:  # the data
        k = _below(rng, u, pos, tab[code, NDATA])
        data[i, k] = _mutate_data(rng, u, pos, data[i, k], tab[code, MUT0 + k])
        if tab[code, SORTED] and data[i, 0] > data[i, 1]:
            lo = data[i, 1]
            data[i, 1] = data[i, 0]
            data[i, 0] = lo
    else:
        args[i, slot] = _below(rng, u, pos, t.banks[tab[code, IN1 + slot]])


def _shift(ops, args, data, lo, hi, by):
    """Move instructions ``lo:hi`` by ``by`` (+1 or -1) places."""
    if by > 0:
        for i in range(hi - 1, lo - 1, -1):
            ops[i + 1] = ops[i]
            for k in range(3):
                args[i + 1, k] = args[i, k]
                data[i + 1, k] = data[i, k]
    else:
        for i in range(lo, hi):
            ops[i - 1] = ops[i]
            for k in range(3):
                args[i - 1, k] = args[i, k]
                data[i - 1, k] = data[i, k]


def random_program_into(rng, u, pos, t, ops, args, data, lens):
    """``Mutator.random_program``: every component of its initial size, all random."""
    _fresh(rng, u, pos)
    for c in range(3):
        _random_function(rng, u, pos, t, c, t.init_sizes[c], ops, args, data, lens)


def seed_program_into(t, ops, args, data, lens):
    """``AlgorithmSpace.initial`` for an empty or given start: a copy of the tables' seed."""
    for c in range(3):
        base = t.offsets[c]
        for i in range(base, base + t.seed_lens[c]):
            ops[i] = t.seed_ops[i]
            for k in range(3):
                args[i, k] = t.seed_args[i, k]
                data[i, k] = t.seed_data[i, k]
        lens[c] = t.seed_lens[c]


def mutate_into(rng, u, pos, t, ops, args, data, lens):
    """``Mutator.mutate`` on a row, in place; returns ``mutation code * 4 + component``
    (component 3: none)."""
    _fresh(rng, u, pos)
    kind = t.types[_below(rng, u, pos, t.types.shape[0])]
    if kind == M_IDENTITY:
        return kind * 4 + 3
    if kind == M_RANDOM_ALGORITHM:
        for j in range(t.mutable.shape[0]):
            c = t.mutable[j]
            _random_function(rng, u, pos, t, c, lens[c], ops, args, data, lens)
        return kind * 4 + 3
    c = t.mutable[_below(rng, u, pos, t.mutable.shape[0])]
    n = lens[c]
    base = t.offsets[c]
    if kind == M_RANDOM_FUNCTION:
        _random_function(rng, u, pos, t, c, n, ops, args, data, lens)
    elif kind in (M_ALTER, M_RANDOM_INSTRUCTION):
        if n > 0:
            i = base + _below(rng, u, pos, n)
            if kind == M_ALTER:
                _alter(rng, u, pos, t, ops, args, data, i)
            else:
                code = _random_op(rng, u, pos, t.comp_ops, t.comp_nops, c)
                _random_row(rng, u, pos, t.ops, t.banks, t.out_lo, code, ops, args, data, i)
    else:
        if kind == M_INSERT and n >= t.max_sizes[c]:
            return kind * 4 + c
        if kind == M_REMOVE and n <= t.min_sizes[c]:
            return kind * 4 + c
        if kind in (M_INSERT, M_TRADE):
            at = _below(rng, u, pos, n + 1)
            code = _random_op(rng, u, pos, t.comp_ops, t.comp_nops, c)
            _shift(ops, args, data, base + at, base + n, 1)
            _random_row(rng, u, pos, t.ops, t.banks, t.out_lo, code, ops, args, data, base + at)
            n += 1
        if kind in (M_REMOVE, M_TRADE):
            at = _below(rng, u, pos, n)
            _shift(ops, args, data, base + at + 1, base + n, -1)
            n -= 1
        lens[c] = n
    return kind * 4 + c


# --- dead code (dce.live_mask, on rows) ----------------------------------------------------------


def _location(banks, kind, address):
    if kind == 0:
        return address
    if kind == 1:
        return banks[0] + address
    return banks[0] + banks[1] + address


def _backward(t, ops, args, lo, hi, live, mask):
    """``dce._backward`` over instructions ``lo:hi``: marks ``mask``, updates ``live``."""
    tab = t.ops
    for i in range(hi - 1, lo - 1, -1):
        code = ops[i]
        kind = tab[code, OUT]
        mask[i] = False
        if kind < 0:
            continue
        out = _location(t.banks, kind, args[i, 2])
        if not live[out]:
            continue
        mask[i] = True
        if not tab[code, PARTIAL]:
            live[out] = False
        for slot in range(tab[code, ARITY]):
            live[_location(t.banks, tab[code, IN1 + slot], args[i, slot])] = True


def live_mask_into(t, ops, args, lens, mask, work):
    """``dce.live_mask(program, keep_stochastic=True)`` of a row into ``mask``; returns
    whether a live instruction draws random numbers. ``work`` is ``(5, locations)`` bool."""
    into_predict = work[0]
    into_learn = work[1]
    live = work[2]
    new_predict = work[3]
    n_loc = live.shape[0]
    label = _location(t.banks, 0, LABEL)
    features = _location(t.banks, 1, FEATURES)
    prediction = _location(t.banks, 0, PREDICTION)
    p_lo, l_lo, s_lo = t.offsets[1], t.offsets[2], t.offsets[0]
    p_hi, l_hi, s_hi = p_lo + lens[1], l_lo + lens[2], s_lo + lens[0]
    into_predict[:] = False
    into_learn[:] = False
    while True:
        for k in range(n_loc):
            live[k] = into_learn[k] or into_predict[k]
        live[label] = False
        live[features] = False
        live[prediction] = True
        _backward(t, ops, args, p_lo, p_hi, live, mask)
        for k in range(n_loc):
            new_predict[k] = live[k]
        live[label] = False
        live[features] = False
        _backward(t, ops, args, l_lo, l_hi, live, mask)
        same = True
        for k in range(n_loc):
            if new_predict[k] != into_predict[k] or live[k] != into_learn[k]:
                same = False
            into_predict[k] = new_predict[k]
            into_learn[k] = live[k]
        if same:
            break
    for k in range(n_loc):
        live[k] = into_predict[k]
    live[label] = False
    live[features] = False
    _backward(t, ops, args, s_lo, s_hi, live, mask)
    draws = False
    for lo, hi in ((s_lo, s_hi), (p_lo, p_hi), (l_lo, l_hi)):
        for i in range(lo, hi):
            if mask[i] and t.ops[ops[i], STOCHASTIC]:
                draws = True
    if draws:
        for lo, hi in ((s_lo, s_hi), (p_lo, p_hi), (l_lo, l_hi)):
            for i in range(lo, hi):
                if t.ops[ops[i], STOCHASTIC]:
                    mask[i] = True
    return draws


def encode_live(t, ops, args, data, lens, mask, e_ops, e_args, e_data, e_bounds):
    """The live instructions of a row as a flat program (``Program.encode`` of the pruned
    program); returns how many there are."""
    n = 0
    e_bounds[0] = 0
    for c in range(3):
        base = t.offsets[c]
        for i in range(base, base + lens[c]):
            if mask[i]:
                e_ops[n] = ops[i]
                for k in range(3):
                    e_args[n, k] = args[i, k]
                    e_data[n, k] = data[i, k]
                n += 1
        e_bounds[c + 1] = n
    return n


# --- FEC: a fingerprint of the probe errors and an LRU cache -------------------------------------

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_NAN_BITS = np.uint64(0x7FF8000000000001)


def _mix(x):
    """splitmix64's finalizer."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def fingerprint(probe, scale, bits):
    """A 64-bit hash of ``np.round(probe, decimals) + 0.0``: ``rint(x * 10**decimals)`` is
    hashed instead of the rounded value, which is equal exactly when it is. ``bits`` is a
    ``(1,)`` float64 scratch array viewed as uint64."""
    flat_bits = bits.view(np.uint64)
    h = np.uint64(0x9E3779B97F4A7C15)
    for t in range(probe.shape[0]):
        for j in range(probe.shape[1]):
            x = probe[t, j]
            if x != x:
                b = _NAN_BITS
            else:
                bits[0] = np.rint(x * scale) + 0.0
                b = flat_bits[0]
            h = _mix(h ^ b) + np.uint64(0x632BE59BD9B4E019)
    return h


def _memcopy_typer(typingctx, address, src, n):
    """Copy ``n`` bytes from the uint8 array ``src`` to the raw ``address``."""
    if not (isinstance(address, types.Integer) and isinstance(src, types.Array)):
        return None

    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[1])(context, builder, args[1])
        byte_ptr = ir.IntType(8).as_pointer()
        dst = builder.inttoptr(args[0], byte_ptr)
        count = context.cast(builder, args[2], sig.args[2], types.intp)
        cgutils.raw_memcpy(builder, dst, builder.bitcast(arr.data, byte_ptr), count, 1)
        return context.get_dummy_value()

    return types.none(address, src, n), codegen


memcopy: Any = intrinsic(_memcopy_typer)


def restore_generators(to, frm, lengths):
    """Put generators back in a saved state (FEC probes draw from freshly seeded ones)."""
    for k in range(to.shape[0]):
        memcopy(to[k], frm[k], lengths[k])


# LRU state, in ``lru_state``: size, least recently used slot, most recently used slot.
_SIZE, _OLDEST, _NEWEST = 0, 1, 2


def _lru_find(keys, table, key):
    """Index in ``table`` where ``key`` is, or the empty place where it would go."""
    mask = table.shape[0] - 1
    i = np.int64(key & np.uint64(mask))
    while table[i] >= 0 and keys[table[i]] != key:
        i = (i + 1) & mask
    return i


def _lru_unlink(prev, nxt, state, slot):
    p, n = prev[slot], nxt[slot]
    if p >= 0:
        nxt[p] = n
    else:
        state[_OLDEST] = n
    if n >= 0:
        prev[n] = p
    else:
        state[_NEWEST] = p


def _lru_append(prev, nxt, state, slot):
    prev[slot] = state[_NEWEST]
    nxt[slot] = -1
    if state[_NEWEST] >= 0:
        nxt[state[_NEWEST]] = slot
    else:
        state[_OLDEST] = slot
    state[_NEWEST] = slot


def lru_get(keys, values, prev, nxt, table, state, key, out):
    """``LRUCache.get``: whether ``key`` is cached (its value into ``out[0]``); a hit
    becomes the most recently used entry."""
    i = _lru_find(keys, table, key)
    slot = table[i]
    if slot < 0:
        return False
    out[0] = values[slot]
    if state[_NEWEST] != slot:
        _lru_unlink(prev, nxt, state, slot)
        _lru_append(prev, nxt, state, slot)
    return True


def _lru_delete(keys, table, i):
    """Empty place ``i`` of the linear-probing table, shifting later entries back."""
    mask = table.shape[0] - 1
    j = i
    while True:
        table[i] = -1
        while True:
            j = (j + 1) & mask
            if table[j] < 0:
                return
            home = np.int64(keys[table[j]] & np.uint64(mask))
            # Entry j may move to i unless its home lies cyclically in (i, j].
            if i <= j:
                if i < home <= j:
                    continue
            elif i < home or home <= j:
                continue
            break
        table[i] = table[j]
        i = j


def lru_put(keys, values, prev, nxt, table, state, key, value):
    """``LRUCache.put`` of a key not in the cache: evicts the least recently used entry when
    full (capacity ``keys.shape[0]``)."""
    if state[_SIZE] < keys.shape[0]:
        slot = state[_SIZE]
        state[_SIZE] += 1
    else:
        slot = state[_OLDEST]
        _lru_unlink(prev, nxt, state, slot)
        _lru_delete(keys, table, _lru_find(keys, table, keys[slot]))
    keys[slot] = key
    values[slot] = value
    table[_lru_find(keys, table, key)] = slot
    _lru_append(prev, nxt, state, slot)


# --- fitness combination and hurdles -------------------------------------------------------------


def combine_into(f, median):
    """``reference.combine``: numpy's mean, or the upper median."""
    n = f.shape[0]
    if not median:
        return (0.0 + _pairwise_sum(f, 0, n)) / n
    return np.sort(f)[n // 2]


def percentile_linear(values, n, q):
    """``np.percentile(values[:n], 100 * q)`` (method "linear"), as numpy computes it."""
    a = np.sort(values[:n])
    virtual = (n - 1) * q
    lo = math.floor(virtual)
    gamma = virtual - lo
    hi = lo + 1
    if virtual >= n - 1:
        lo = n - 1
        hi = n - 1
    elif virtual < 0:
        lo = 0
        hi = 0
    a_lo, a_hi = a[lo], a[hi]
    diff = a_hi - a_lo
    if gamma >= 0.5:
        return a_hi - diff * (1.0 - gamma)
    return a_lo + diff * gamma


def hurdle_check(window, finite, hstate, hparams, score):
    """``RollingPercentileHurdle.check``. ``hstate``: count, next slot, calls since the
    threshold was updated, passed, failed; ``hparams``: percentile / 100, warmup, and
    the threshold (updated in place)."""
    size = window.shape[0]
    s = score if np.isfinite(score) else -np.inf
    ok = hstate[0] < hparams[1] or s >= hparams[2]
    window[hstate[1]] = s
    hstate[1] = (hstate[1] + 1) % size
    if hstate[0] < size:
        hstate[0] += 1
    hstate[2] += 1
    if hstate[2] >= 16 or hstate[0] <= hparams[1]:
        hstate[2] = 0
        n = 0
        for k in range(hstate[0]):
            if np.isfinite(window[k]):
                finite[n] = window[k]
                n += 1
        hparams[2] = percentile_linear(finite, n, hparams[0]) if n > 0 else -np.inf
    if ok:
        hstate[3] += 1
    else:
        hstate[4] += 1
    return ok


_jit = register_jitable(error_model="numpy")
for _fn in (
    _fresh, _uniform, _below, _normal, _random_row, _random_op, _random_function,
    _mutate_data, _alter, _shift, random_program_into, seed_program_into, mutate_into,
    _location, _backward, live_mask_into, encode_live, _mix, fingerprint, _lru_find,
    _lru_unlink, _lru_append, lru_get, _lru_delete, lru_put, combine_into,
    percentile_linear, hurdle_check, restore_generators,
):  # fmt: skip
    _jit(_fn)


# --- the search loop -----------------------------------------------------------------------------

# Integer settings (``si``).
S_POPULATION, S_TOURNAMENT, S_RANDOM, S_WORST, S_SEEDED = 0, 1, 2, 3, 4
S_FEC, S_FEC_TRAIN, S_FEC_VALID, S_MEDIAN, S_HURDLE_TASKS = 5, 6, 7, 8, 9
S_CLASSIFY, S_N_TRAIN, S_N_VALID, S_FEC_DRAWS, S_LINEAGE = 10, 11, 12, 13, 14
N_SETTINGS = 15
# Float settings (``sf``).
F_MUTATE_PROB, F_MAX_COST, F_MAX_ABS_ERROR, F_FEC_SCALE = 0, 1, 2, 3
# Counters (``ctr``).
C_EVALUATIONS, C_FULL, C_HITS, C_MISSES, C_OVER_BUDGET, C_NEXT_ID = 0, 1, 2, 3, 4, 5
C_COUNT, C_HEAD, C_BYPASS, C_LIVE_SETUP, C_LIVE_PREDICT, C_LIVE_LEARN = 6, 7, 8, 9, 10, 11
C_MIGRANTS, C_MIGRANTS_TAKEN, C_ARCHIVED = 12, 13, 14
N_COUNTERS = 15
# Lineage flags.
FLAG_FEC_HIT, FLAG_OVER_BUDGET, FLAG_DRAWS = 1, 2, 4


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
    params: np.ndarray  # (3,) float64, see hurdle_check


class Best(NamedTuple):
    ops: np.ndarray
    args: np.ndarray
    data: np.ndarray
    lens: np.ndarray
    info: np.ndarray  # (2,) float64: fitness as evaluated, and whether there is a best
    ids: np.ndarray  # (3,) int64: id, parent, mutation code


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
    mutations: np.ndarray  # mutation code * 4 + component (3: all or none)
    fitness: np.ndarray
    flags: np.ndarray


def _copy_row(src_ops, src_args, src_data, src_lens, dst_ops, dst_args, dst_data, dst_lens, t):
    for c in range(3):
        base = t.offsets[c]
        for i in range(base, base + src_lens[c]):
            dst_ops[i] = src_ops[i]
            for k in range(3):
                dst_args[i, k] = src_args[i, k]
                dst_data[i, k] = src_data[i, k]
        dst_lens[c] = src_lens[c]


def _cost(t, ops, lens):
    """``evaluate.per_example_cost``: multiply-adds of Predict and Learn."""
    total = 0
    for c in (1, 2):
        base = t.offsets[c]
        for i in range(base, base + lens[c]):
            total += t.ops[ops[i], FLOPS]
    return total


def _clean(f):
    return f if np.isfinite(f) else -np.inf


def _any_draws(t, ops, lens):
    for c in range(3):
        base = t.offsets[c]
        for i in range(base, base + lens[c]):
            if t.ops[ops[i], STOCHASTIC]:
                return True
    return False


for _loop_helper in (_copy_row, _cost, _clean, _any_draws):
    _jit(_loop_helper)


def evaluate_child(known, t, tasks, ws, cache, hurdle, si, sf, ctr, rngs, idle_rngs):
    """``AlgorithmEvaluator.evaluate`` of the child in ``ws``; returns (fitness, flags)."""
    if sf[F_MAX_COST] < np.inf and _cost(t, ws.ops, ws.lens) > sf[F_MAX_COST]:
        ctr[C_OVER_BUDGET] += 1
        return 0.0, FLAG_OVER_BUDGET
    draws = live_mask_into(t, ws.ops, ws.args, ws.lens, ws.mask, ws.dce)
    n = encode_live(
        t, ws.ops, ws.args, ws.data, ws.lens, ws.mask,
        ws.live_ops, ws.live_args, ws.live_data, ws.live_bounds,
    )  # fmt: skip
    # Read-only, as the interpreter passes a program's arrays: one compilation of the callee.
    ops, args, data = frozen(ws.live_ops[:n]), frozen(ws.live_args[:n]), frozen(ws.live_data[:n])
    bounds = frozen(ws.live_bounds)
    classify = si[S_CLASSIFY] != 0
    max_abs = sf[F_MAX_ABS_ERROR]
    flags = FLAG_DRAWS if draws else 0
    use_fec = si[S_FEC] != 0 and (not draws or si[S_FEC_DRAWS] != 0)
    key = np.uint64(0)
    if si[S_FEC] != 0 and not use_fec:
        ctr[C_BYPASS] += 1
    if use_fec:
        ws.probe[:, :] = np.nan
        probe_rngs = idle_rngs
        if draws:  # as the reference: each task draws from a freshly seeded generator
            restore_generators(cache.restore_to, cache.restore_from, cache.restore_len)
            probe_rngs = cache.gens
        ta = tasks.all
        run_tasks_with(
            known, ops, args, data, bounds, ws.s, ws.v, ws.m,
            ta.train_x, ta.train_y, ta.order, ta.valid_x, ta.valid_y, ta.lanes,
            classify, si[S_FEC_TRAIN], si[S_FEC_VALID], max_abs, probe_rngs, ws.fitness, ws.probe,
        )  # fmt: skip
        key = fingerprint(ws.probe, sf[F_FEC_SCALE], ws.bits)
        if lru_get(cache.keys, cache.values, cache.prev, cache.next, cache.table, cache.state,
                   key, ws.value):  # fmt: skip
            ctr[C_HITS] += 1
            return ws.value[0], FLAG_FEC_HIT
        ctr[C_MISSES] += 1
    if not draws and _any_draws(t, ws.ops, ws.lens):
        # Dead draws still advance the search generator in the reference protocol: keep them.
        for i in range(ws.mask.shape[0]):
            ws.mask[i] = True
        n = encode_live(
            t, ws.ops, ws.args, ws.data, ws.lens, ws.mask,
            ws.live_ops, ws.live_args, ws.live_data, ws.live_bounds,
        )  # fmt: skip
        ops, args = frozen(ws.live_ops[:n]), frozen(ws.live_args[:n])
        data = frozen(ws.live_data[:n])
    ctr[C_FULL] += 1
    ctr[C_LIVE_SETUP] += bounds[1]
    ctr[C_LIVE_PREDICT] += bounds[2] - bounds[1]
    ctr[C_LIVE_LEARN] += bounds[3] - bounds[2]
    median = si[S_MEDIAN] != 0
    h = si[S_HURDLE_TASKS]
    n_train, n_valid = si[S_N_TRAIN], si[S_N_VALID]
    if h > 0:
        th = tasks.head
        run_tasks_with(
            known, ops, args, data, bounds, ws.s, ws.v, ws.m,
            th.train_x, th.train_y, th.order, th.valid_x, th.valid_y, th.lanes,
            classify, n_train, n_valid, max_abs, rngs, ws.fitness[:h], ws.no_probe,
        )  # fmt: skip
        result = combine_into(ws.fitness[:h], median)
        if hurdle_check(hurdle.window, hurdle.finite, hurdle.state, hurdle.params, result):
            tt = tasks.tail
            run_tasks_with(
                known, ops, args, data, bounds, ws.s, ws.v, ws.m,
                tt.train_x, tt.train_y, tt.order, tt.valid_x, tt.valid_y, tt.lanes,
                classify, n_train, n_valid, max_abs, rngs, ws.fitness[h:], ws.no_probe,
            )  # fmt: skip
            result = combine_into(ws.fitness, median)
    else:
        ta = tasks.all
        run_tasks_with(
            known, ops, args, data, bounds, ws.s, ws.v, ws.m,
            ta.train_x, ta.train_y, ta.order, ta.valid_x, ta.valid_y, ta.lanes,
            classify, n_train, n_valid, max_abs, rngs, ws.fitness, ws.no_probe,
        )  # fmt: skip
        result = combine_into(ws.fitness, median)
    if use_fec:
        lru_put(cache.keys, cache.values, cache.prev, cache.next, cache.table, cache.state,
                key, result)  # fmt: skip
    return result, flags


def evolve_with(
    known, t, tasks, pop, ws, cache, hurdle, best, log, migrants, si, sf, ctr, rngs, idle_rngs,
    archive, steps,
):  # fmt: skip
    """``steps`` rounds of ask / evaluate / tell (``RegularizedEvolution`` or
    ``RandomSearch`` with an ``AlgorithmEvaluator``), drawing from ``rngs[0]``. Waiting
    migrants are evaluated first, each in place of a new candidate. With ``S_LINEAGE``, a
    member that was a parent goes to ``archive`` when it leaves the population (the caller
    leaves room for ``steps`` rows)."""
    rng = generator_from(rngs[0])
    size = si[S_POPULATION]
    for step in range(steps):
        count = ctr[C_COUNT]
        parent = -1
        if ctr[C_MIGRANTS_TAKEN] < ctr[C_MIGRANTS]:
            k = ctr[C_MIGRANTS_TAKEN]
            ctr[C_MIGRANTS_TAKEN] = k + 1
            _copy_row(migrants.ops[k], migrants.args[k], migrants.data[k], migrants.lens[k],
                      ws.ops, ws.args, ws.data, ws.lens, t)  # fmt: skip
            mutation = M_MIGRANT * 4 + 3
        elif si[S_RANDOM] != 0:
            random_program_into(rng, ws.u, ws.pos, t, ws.ops, ws.args, ws.data, ws.lens)
            mutation = M_RANDOM * 4 + 3
        elif count < size:
            if si[S_SEEDED] != 0:
                seed_program_into(t, ws.ops, ws.args, ws.data, ws.lens)
            else:
                random_program_into(rng, ws.u, ws.pos, t, ws.ops, ws.args, ws.data, ws.lens)
            mutation = M_INITIAL * 4 + 3
        else:
            picks = rng.integers(0, count, si[S_TOURNAMENT])
            head = ctr[C_HEAD]
            row = pop.order[(head + picks[0]) % size]
            top = pop.fitness[row]
            for k in range(1, picks.shape[0]):
                r = pop.order[(head + picks[k]) % size]
                if pop.fitness[r] > top:
                    top = pop.fitness[r]
                    row = r
            _copy_row(pop.ops[row], pop.args[row], pop.data[row], pop.lens[row],
                      ws.ops, ws.args, ws.data, ws.lens, t)  # fmt: skip
            parent = pop.ids[row]
            pop.kids[row] = 1
            if sf[F_MUTATE_PROB] >= 1.0 or rng.random() < sf[F_MUTATE_PROB]:
                mutation = mutate_into(rng, ws.u, ws.pos, t, ws.ops, ws.args, ws.data, ws.lens)
            else:
                mutation = M_COPY * 4 + 3
        fitness, flags = evaluate_child(
            known, t, tasks, ws, cache, hurdle, si, sf, ctr, rngs, idle_rngs
        )
        ctr[C_EVALUATIONS] += 1
        ident = ctr[C_NEXT_ID]
        ctr[C_NEXT_ID] += 1
        clean = _clean(fitness)
        if best.info[1] == 0.0 or clean > _clean(best.info[0]):
            _copy_row(ws.ops, ws.args, ws.data, ws.lens,
                      best.ops, best.args, best.data, best.lens, t)  # fmt: skip
            best.info[0] = fitness
            best.info[1] = 1.0
            best.ids[0] = ident
            best.ids[1] = parent
            best.ids[2] = mutation
        # tell: the child joins the population
        row = -1
        if count < size:
            row = count
            pop.order[count] = count
            ctr[C_COUNT] = count + 1
        elif si[S_WORST] == 0:
            head = ctr[C_HEAD]
            row = pop.order[head]
            ctr[C_HEAD] = (head + 1) % size
        else:  # drop the worst (the first of equals, oldest first), maybe the child itself
            worst = -1
            low = clean
            for k in range(size - 1, -1, -1):
                if pop.fitness[pop.order[k]] <= low:
                    low = pop.fitness[pop.order[k]]
                    worst = k
            if worst >= 0:
                row = pop.order[worst]
                for k in range(worst, size - 1):
                    pop.order[k] = pop.order[k + 1]
                pop.order[size - 1] = row
        if row >= 0:
            if si[S_LINEAGE] != 0 and count >= size and pop.kids[row] != 0:
                k = ctr[C_ARCHIVED]
                if k < archive.ids.shape[0]:
                    _copy_row(pop.ops[row], pop.args[row], pop.data[row], pop.lens[row],
                              archive.ops[k], archive.args[k], archive.data[k],
                              archive.lens[k], t)  # fmt: skip
                    archive.ids[k] = pop.ids[row]
                    archive.parents[k] = pop.parents[row]
                    archive.muts[k] = pop.muts[row]
                    archive.fitness[k] = pop.raw[row]
                    ctr[C_ARCHIVED] = k + 1
            _copy_row(ws.ops, ws.args, ws.data, ws.lens,
                      pop.ops[row], pop.args[row], pop.data[row], pop.lens[row], t)  # fmt: skip
            pop.fitness[row] = clean
            pop.raw[row] = fitness
            pop.ids[row] = ident
            pop.parents[row] = parent
            pop.muts[row] = mutation
            pop.kids[row] = 0
        if step < log.ids.shape[0]:
            log.ids[step] = ident
            log.parents[step] = parent
            log.mutations[step] = mutation
            log.fitness[step] = fitness
            log.flags[step] = flags
    return steps


GENERATED = (evaluate_child, evolve_with)
ENTRIES = {"evolve": evolve_with}
