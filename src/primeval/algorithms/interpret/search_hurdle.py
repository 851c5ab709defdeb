"""Fitness combination over tasks and progressive hurdles (So et al., "The Evolved
Transformer", ICML 2019) in compiled code, as :func:`~.reference.combine`,
:class:`~primeval.engine.hurdles.RollingPercentileHurdle` and
:class:`~primeval.engine.hurdles.PopulationHurdle` (the 75th percentile of the
population's unique fitnesses: Real et al., "AutoML-Zero", ICML 2020, Suppl. S9) compute
them.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from primeval.algorithms.interpret.exact_sums import pairwise_sum

# The hurdle's integer state (``HurdleState.state``) and parameters (``HurdleState.params``).
H_COUNT, H_NEXT, H_SINCE_UPDATE, H_PASSED, H_FAILED = 0, 1, 2, 3, 4
N_HURDLE_STATE = 5
P_QUANTILE, P_WARMUP, P_THRESHOLD, P_POPULATION = 0, 1, 2, 3
N_HURDLE_PARAMS = 4  # P_POPULATION: 1.0 for the population rule, 0.0 for the rolling window
UPDATE_EVERY = 16  # checks between updates of the threshold, as RollingPercentileHurdle


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


def unique_percentile(values, n, q, work):
    """``np.percentile(np.unique(finite values[:n]), 100 * q)`` (-inf when none is finite);
    ``work`` has room for ``n`` values."""
    m = 0
    for k in range(n):
        if np.isfinite(values[k]):
            work[m] = values[k]
            m += 1
    if m == 0:
        return -np.inf
    a = np.sort(work[:m])
    u = 1
    for k in range(1, m):
        if a[k] != a[u - 1]:
            a[u] = a[k]
            u += 1
    return percentile_linear(a, u, q)


def hurdle_check(window, finite, hstate, hparams, score, population, count):
    """``RollingPercentileHurdle.check`` or (``P_POPULATION``) ``PopulationHurdle.check``
    against the fitnesses ``population[:count]``, on ``hstate`` (indexed by ``H_*``) and
    ``hparams`` (``P_*``; the threshold is updated in place)."""
    if hparams[P_POPULATION] != 0.0:
        s = score if np.isfinite(score) else -np.inf
        if hstate[H_PASSED] + hstate[H_FAILED] < hparams[P_WARMUP]:
            ok = True
        else:
            hparams[P_THRESHOLD] = unique_percentile(population, count, hparams[P_QUANTILE], finite)
            ok = s >= hparams[P_THRESHOLD]
        if ok:
            hstate[H_PASSED] += 1
        else:
            hstate[H_FAILED] += 1
        return ok
    size = window.shape[0]
    s = score if np.isfinite(score) else -np.inf
    ok = hstate[H_COUNT] < hparams[P_WARMUP] or s >= hparams[P_THRESHOLD]
    window[hstate[H_NEXT]] = s
    hstate[H_NEXT] = (hstate[H_NEXT] + 1) % size
    if hstate[H_COUNT] < size:
        hstate[H_COUNT] += 1
    hstate[H_SINCE_UPDATE] += 1
    if hstate[H_SINCE_UPDATE] >= UPDATE_EVERY or hstate[H_COUNT] <= hparams[P_WARMUP]:
        hstate[H_SINCE_UPDATE] = 0
        n = 0
        for k in range(hstate[H_COUNT]):
            if np.isfinite(window[k]):
                finite[n] = window[k]
                n += 1
        hparams[P_THRESHOLD] = (
            percentile_linear(finite, n, hparams[P_QUANTILE]) if n > 0 else -np.inf
        )
    if ok:
        hstate[H_PASSED] += 1
    else:
        hstate[H_FAILED] += 1
    return ok


_jit = register_jitable(error_model="numpy")
for _fn in (
    combine_into, percentile_linear, unique_percentile, hurdle_check,
):  # fmt: skip
    _jit(_fn)
