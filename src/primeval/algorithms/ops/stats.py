"""Means and standard deviations (reference ids 50-55).

Standard deviations are population ones computed as the reference does,
``sqrt(mean(x**2) - mean(x)**2)``; rounding can make the radicand slightly
negative for near-constant inputs, which gives NaN exactly as in the reference.
Sums (of squares too) are numpy's ``np.sum``, pairwise; see ``linalg.py``.
"""

from __future__ import annotations

import numpy as np

from primeval.algorithms.ops.registry import Cost, Family, register

V, M = Cost.VECTOR, Cost.MATRIX


@register(50, "VECTOR_MEAN", "v>s", "{out} = np.mean({in1})", V, family=Family.LINEAR)
def vector_mean(s, v, m, a, b, o, d, rng):
    s[o] = np.mean(v[a])


@register(
    54,
    "VECTOR_ST_DEV",
    "v>s",
    "{out} = np.std({in1})",
    V,
    family=Family.SCALE_STAT,
    kernel_form=True,
)
def vector_st_dev(s, v, m, a, b, o, d, rng):
    x = v[a]
    mu = np.mean(x)
    s[o] = np.sqrt(np.sum(np.multiply(x, x)) / x.shape[0] - mu * mu)


@register(51, "MATRIX_MEAN", "m>s", "{out} = np.mean({in1})", M, family=Family.LINEAR)
def matrix_mean(s, v, m, a, b, o, d, rng):
    s[o] = np.mean(m[a])


@register(
    55,
    "MATRIX_ST_DEV",
    "m>s",
    "{out} = np.std({in1})",
    M,
    family=Family.SCALE_STAT,
    kernel_form=True,
)
def matrix_st_dev(s, v, m, a, b, o, d, rng):
    x = m[a]
    mu = np.mean(x)
    s[o] = np.sqrt(np.sum(np.multiply(x, x)) / x.size - mu * mu)


@register(52, "MATRIX_ROW_MEAN", "m>v", "{out} = np.mean({in1}, axis=1)", M, family=Family.LINEAR)
def matrix_row_mean(s, v, m, a, b, o, d, rng):
    y = v[o]
    np.sum(m[a], axis=1, out=y)
    np.divide(y, m.shape[2], y)


@register(
    53,
    "MATRIX_ROW_ST_DEV",
    "m>v",
    "{out} = np.std({in1}, axis=1)",
    M,
    family=Family.SCALE_STAT,
    kernel_form=True,
)
def matrix_row_st_dev(s, v, m, a, b, o, d, rng):
    x = m[a]
    y = v[o]
    n = x.shape[1]
    for i in range(x.shape[0]):  # row by row: no array of means to allocate
        r = x[i]
        mu = np.sum(r) / n
        y[i] = np.sqrt(np.sum(np.multiply(r, r)) / n - mu * mu)
