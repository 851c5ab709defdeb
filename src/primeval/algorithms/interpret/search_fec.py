"""Functional equivalence checking in compiled code (Real et al., "AutoML-Zero", ICML 2020,
Sec. 4.2): a 64-bit fingerprint of the rounded probe errors, an LRU cache over a
linear-probing table, and the probe's generators put back in their seeded state.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, register_jitable

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


_jit = register_jitable(error_model="numpy")
for _fn in (
    _mix, fingerprint, _lru_find, _lru_unlink, _lru_append, lru_get, _lru_delete, lru_put,
    restore_generators,
):  # fmt: skip
    _jit(_fn)
