"""Elementwise arithmetic over scalars, vectors and matrices (reference ids 1-17, 20-26, 30, 38-49).

Kernels write into the output bank in place (``np.add(a, b, out)``) so the
compiled interpreter allocates nothing (``out`` goes by keyword where numpy
deprecates it positionally). Numeric trouble (division by zero, log of a
negative, overflow) yields inf or NaN, never an exception: interpreters run
with numpy's error state silenced and numba's ``error_model="numpy"``.

Minimum and maximum follow numpy (NaN propagates). Heaviside is ``x >= 0`` on
scalars and ``x > 0`` on vectors and matrices, as in the reference.
"""

from __future__ import annotations

import numpy as np

from primeval.algorithms.ops.registry import Cost, Family, register

V, M = Cost.VECTOR, Cost.MATRIX

# --- scalar binary -------------------------------------------------------------------


@register(
    1,
    "SCALAR_SUM",
    "ss>s",
    "{out} = {in1} + {in2}",
    family=Family.SUM,
    commutative=True,
    increasing=True,
)
def scalar_sum(s, v, m, a, b, o, d, rng):
    s[o] = s[a] + s[b]


@register(2, "SCALAR_DIFF", "ss>s", "{out} = {in1} - {in2}", family=Family.DIFF, increasing=True)
def scalar_diff(s, v, m, a, b, o, d, rng):
    s[o] = s[a] - s[b]


@register(
    3, "SCALAR_PRODUCT", "ss>s", "{out} = {in1} * {in2}", family=Family.PRODUCT, commutative=True
)
def scalar_product(s, v, m, a, b, o, d, rng):
    s[o] = s[a] * s[b]


@register(4, "SCALAR_DIVISION", "ss>s", "{out} = {in1} / {in2}", family=Family.DIVISION)
def scalar_division(s, v, m, a, b, o, d, rng):
    s[o] = s[a] / s[b]


@register(
    44,
    "SCALAR_MIN",
    "ss>s",
    "{out} = np.minimum({in1}, {in2})",
    family=Family.MIN,
    commutative=True,
)
def scalar_min(s, v, m, a, b, o, d, rng):
    s[o] = np.minimum(s[a], s[b])


@register(
    47,
    "SCALAR_MAX",
    "ss>s",
    "{out} = np.maximum({in1}, {in2})",
    family=Family.MAX,
    commutative=True,
)
def scalar_max(s, v, m, a, b, o, d, rng):
    s[o] = np.maximum(s[a], s[b])


# --- scalar unary --------------------------------------------------------------------


@register(5, "SCALAR_ABS", "s>s", "{out} = np.abs({in1})")
def scalar_abs(s, v, m, a, b, o, d, rng):
    s[o] = np.abs(s[a])


@register(6, "SCALAR_RECIPROCAL", "s>s", "{out} = 1 / {in1}", family=Family.RECIPROCAL)
def scalar_reciprocal(s, v, m, a, b, o, d, rng):
    s[o] = 1.0 / s[a]


@register(7, "SCALAR_SIN", "s>s", "{out} = np.sin({in1})")
def scalar_sin(s, v, m, a, b, o, d, rng):
    s[o] = np.sin(s[a])


@register(8, "SCALAR_COS", "s>s", "{out} = np.cos({in1})")
def scalar_cos(s, v, m, a, b, o, d, rng):
    s[o] = np.cos(s[a])


@register(9, "SCALAR_TAN", "s>s", "{out} = np.tan({in1})", increasing=True)
def scalar_tan(s, v, m, a, b, o, d, rng):
    s[o] = np.tan(s[a])


@register(10, "SCALAR_ARCSIN", "s>s", "{out} = np.arcsin({in1})", increasing=True)
def scalar_arcsin(s, v, m, a, b, o, d, rng):
    s[o] = np.arcsin(s[a])


@register(11, "SCALAR_ARCCOS", "s>s", "{out} = np.arccos({in1})")
def scalar_arccos(s, v, m, a, b, o, d, rng):
    s[o] = np.arccos(s[a])


@register(12, "SCALAR_ARCTAN", "s>s", "{out} = np.arctan({in1})", increasing=True)
def scalar_arctan(s, v, m, a, b, o, d, rng):
    s[o] = np.arctan(s[a])


@register(13, "SCALAR_EXP", "s>s", "{out} = np.exp({in1})", increasing=True)
def scalar_exp(s, v, m, a, b, o, d, rng):
    s[o] = np.exp(s[a])


@register(14, "SCALAR_LOG", "s>s", "{out} = np.log({in1})")
def scalar_log(s, v, m, a, b, o, d, rng):
    s[o] = np.log(s[a])


@register(15, "SCALAR_HEAVYSIDE", "s>s", "{out} = float({in1} >= 0)", family=Family.HEAVISIDE)
def scalar_heaviside(s, v, m, a, b, o, d, rng):
    s[o] = 1.0 if s[a] >= 0.0 else 0.0


# --- vector elementwise --------------------------------------------------------------


@register(23, "VECTOR_SUM", "vv>v", "{out} = {in1} + {in2}", V, family=Family.SUM, commutative=True)
def vector_sum(s, v, m, a, b, o, d, rng):
    np.add(v[a], v[b], v[o])


@register(24, "VECTOR_DIFF", "vv>v", "{out} = {in1} - {in2}", V, family=Family.DIFF)
def vector_diff(s, v, m, a, b, o, d, rng):
    np.subtract(v[a], v[b], v[o])


@register(
    25,
    "VECTOR_PRODUCT",
    "vv>v",
    "{out} = {in1} * {in2}",
    V,
    family=Family.PRODUCT,
    commutative=True,
)
def vector_product(s, v, m, a, b, o, d, rng):
    np.multiply(v[a], v[b], v[o])


@register(26, "VECTOR_DIVISION", "vv>v", "{out} = {in1} / {in2}", V, family=Family.DIVISION)
def vector_division(s, v, m, a, b, o, d, rng):
    np.divide(v[a], v[b], v[o])


@register(
    45,
    "VECTOR_MIN",
    "vv>v",
    "{out} = np.minimum({in1}, {in2})",
    V,
    family=Family.MIN,
    commutative=True,
)
def vector_min(s, v, m, a, b, o, d, rng):
    np.minimum(v[a], v[b], out=v[o])


@register(
    48,
    "VECTOR_MAX",
    "vv>v",
    "{out} = np.maximum({in1}, {in2})",
    V,
    family=Family.MAX,
    commutative=True,
)
def vector_max(s, v, m, a, b, o, d, rng):
    np.maximum(v[a], v[b], out=v[o])


@register(22, "VECTOR_ABS", "v>v", "{out} = np.abs({in1})", V)
def vector_abs(s, v, m, a, b, o, d, rng):
    np.abs(v[a], v[o])


@register(20, "VECTOR_RECIPROCAL", "v>v", "{out} = 1 / {in1}", V, family=Family.RECIPROCAL)
def vector_reciprocal(s, v, m, a, b, o, d, rng):
    np.divide(1.0, v[a], v[o])


@register(16, "VECTOR_HEAVYSIDE", "v>v", "{out} = ({in1} > 0) * 1.0", V, family=Family.HEAVISIDE)
def vector_heaviside(s, v, m, a, b, o, d, rng):
    x = v[a]
    y = v[o]
    for i in range(x.shape[0]):
        y[i] = 1.0 if x[i] > 0.0 else 0.0


# --- matrix elementwise --------------------------------------------------------------


@register(39, "MATRIX_SUM", "mm>m", "{out} = {in1} + {in2}", M, family=Family.SUM, commutative=True)
def matrix_sum(s, v, m, a, b, o, d, rng):
    np.add(m[a], m[b], m[o])


@register(40, "MATRIX_DIFF", "mm>m", "{out} = {in1} - {in2}", M, family=Family.DIFF)
def matrix_diff(s, v, m, a, b, o, d, rng):
    np.subtract(m[a], m[b], m[o])


@register(
    41,
    "MATRIX_PRODUCT",
    "mm>m",
    "{out} = {in1} * {in2}",
    M,
    family=Family.PRODUCT,
    commutative=True,
)
def matrix_product(s, v, m, a, b, o, d, rng):
    np.multiply(m[a], m[b], m[o])


@register(42, "MATRIX_DIVISION", "mm>m", "{out} = {in1} / {in2}", M, family=Family.DIVISION)
def matrix_division(s, v, m, a, b, o, d, rng):
    np.divide(m[a], m[b], m[o])


@register(
    46,
    "MATRIX_MIN",
    "mm>m",
    "{out} = np.minimum({in1}, {in2})",
    M,
    family=Family.MIN,
    commutative=True,
)
def matrix_min(s, v, m, a, b, o, d, rng):
    np.minimum(m[a], m[b], out=m[o])


@register(
    49,
    "MATRIX_MAX",
    "mm>m",
    "{out} = np.maximum({in1}, {in2})",
    M,
    family=Family.MAX,
    commutative=True,
)
def matrix_max(s, v, m, a, b, o, d, rng):
    np.maximum(m[a], m[b], out=m[o])


@register(38, "MATRIX_ABS", "m>m", "{out} = np.abs({in1})", M)
def matrix_abs(s, v, m, a, b, o, d, rng):
    np.abs(m[a], m[o])


@register(30, "MATRIX_RECIPROCAL", "m>m", "{out} = 1 / {in1}", M, family=Family.RECIPROCAL)
def matrix_reciprocal(s, v, m, a, b, o, d, rng):
    np.divide(1.0, m[a], m[o])


@register(17, "MATRIX_HEAVYSIDE", "m>m", "{out} = ({in1} > 0) * 1.0", M, family=Family.HEAVISIDE)
def matrix_heaviside(s, v, m, a, b, o, d, rng):
    x = m[a]
    y = m[o]
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            y[i, j] = 1.0 if x[i, j] > 0.0 else 0.0
