"""Random programs, mutations and dead-code elimination on programs kept in fixed-size rows:
:class:`~primeval.algorithms.mutate.Mutator` and :func:`~primeval.algorithms.dce.live_mask`
in compiled code, drawing from the generator in the same order (Real et al., "AutoML-Zero",
ICML 2020, Sec. 4.1 for the mutations).
"""

from __future__ import annotations

import math

from numba.extending import register_jitable

from primeval.algorithms.interpret.search_tables import (
    ARITY,
    IN1,
    INIT0,
    M_ALTER,
    M_IDENTITY,
    M_INSERT,
    M_RANDOM_ALGORITHM,
    M_RANDOM_FUNCTION,
    M_RANDOM_INSTRUCTION,
    M_REMOVE,
    M_TRADE,
    MUT0,
    NDATA,
    OUT,
    PARTIAL,
    SORTED,
    STOCHASTIC,
    WHOLE,
    mutation_code,
)
from primeval.algorithms.memory import FEATURES, LABEL, PREDICTION
from primeval.algorithms.mutate import SIGN_FLIP_PROB

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


def _weighted(rng, u, pos, cum):
    """``_Draws.weighted``: an index drawn with the cumulative probabilities ``cum``."""
    x = _uniform(rng, u, pos)
    for k in range(cum.shape[0]):
        if x < cum[k]:
            return k
    return cum.shape[0] - 1


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
    """``mutate._mutate_data``; ``how`` 3 and 4 are ``ConstantRule.PAPER``'s changes of
    codes 1 and 2 (``search_tables.op_table``)."""
    if how == 0:
        return _uniform(rng, u, pos)
    if how >= 3:
        value *= 0.5 + 1.5 * _uniform(rng, u, pos)
        if how == 3 and _uniform(rng, u, pos) < SIGN_FLIP_PROB:
            return -value
        return value
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
    """``Mutator.mutate`` on a row, in place; returns its :func:`mutation_code`."""
    _fresh(rng, u, pos)
    if t.type_cum.shape[0] > 0:
        kind = t.types[_weighted(rng, u, pos, t.type_cum)]
    else:
        kind = t.types[_below(rng, u, pos, t.types.shape[0])]
    if kind == M_IDENTITY:
        return mutation_code(kind, WHOLE)
    if kind == M_RANDOM_ALGORITHM:
        for j in range(t.mutable.shape[0]):
            c = t.mutable[j]
            _random_function(rng, u, pos, t, c, lens[c], ops, args, data, lens)
        return mutation_code(kind, WHOLE)
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
            return mutation_code(kind, c)
        if kind == M_REMOVE and n <= t.min_sizes[c]:
            return mutation_code(kind, c)
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
    return mutation_code(kind, c)


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


_jit = register_jitable(error_model="numpy")
for _fn in (
    _fresh, _uniform, _below, _weighted, _normal, _random_row, _random_op, _random_function,
    _mutate_data, _alter, _shift, random_program_into, seed_program_into, mutate_into,
    _location, _backward, live_mask_into, encode_live,
):  # fmt: skip
    _jit(_fn)
