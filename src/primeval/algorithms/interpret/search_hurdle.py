"""Fitness combination and progressive hurdles in compiled code."""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from primeval.algorithms.interpret.exact_sums import pairwise_sum

# --- fitness combination and hurdles -------------------------------------------------------------


def combine_into(f, median):
    """``reference.combine``: numpy's mean, or the upper median."""
    n = f.shape[0]
    if not median:
        return (0.0 + pairwise_sum(f, 0, n)) / n
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
    combine_into, percentile_linear, hurdle_check,
):  # fmt: skip
    _jit(_fn)
