"""Ops that read only their data: no-op, constants, and random draws (reference ids 0, 56-64).

An index is stored as a float f and used as ``int(F * f)``, clamped into
range so that any stored value (including NaN from a hand-edited file) is a
valid address. Random draws take the explicitly passed generator; a negative
standard deviation flips the sign of the noise instead of raising.
"""

from __future__ import annotations

from numba.extending import register_jitable

from primeval.algorithms.ops.registry import (
    CONSTANT,
    HIGH,
    INDEX_I,
    INDEX_J,
    LOW,
    MEAN,
    STD,
    Cost,
    register,
)

V, M = Cost.VECTOR, Cost.MATRIX


@register_jitable
def feature_index(f: float, dim: int) -> int:
    """The reference's FloatToIndex: a float in [0, 1) names one of ``dim`` slots."""
    if not f > 0.0:  # also catches NaN
        return 0
    i = int(f * dim) if f < 1.0 else dim - 1
    return i if i < dim else dim - 1


@register(0, "NO_OP", ">", "pass")
def no_op(s, v, m, a, b, o, d, rng):
    return None


@register(56, "SCALAR_CONST_SET", ">s", "{out} = {value}", data=(CONSTANT,))
def scalar_const_set(s, v, m, a, b, o, d, rng):
    s[o] = d[0]


@register(
    57,
    "VECTOR_CONST_SET",
    ">v",
    "{out}[{i}] = {value}",
    data=(INDEX_I, CONSTANT),
    partial_write=True,
)
def vector_const_set(s, v, m, a, b, o, d, rng):
    v[o][feature_index(d[0], v.shape[1])] = d[1]


@register(
    58,
    "MATRIX_CONST_SET",
    ">m",
    "{out}[{i}, {j}] = {value}",
    data=(INDEX_I, INDEX_J, CONSTANT),
    partial_write=True,
)
def matrix_const_set(s, v, m, a, b, o, d, rng):
    dim = m.shape[1]
    m[o][feature_index(d[0], dim), feature_index(d[1], dim)] = d[2]


@register(
    59,
    "SCALAR_UNIFORM_SET",
    ">s",
    "{out} = rng.uniform({low}, {high})",
    data=(LOW, HIGH),
    stochastic=True,
    sorted_data=True,
)
def scalar_uniform_set(s, v, m, a, b, o, d, rng):
    s[o] = d[0] + (d[1] - d[0]) * rng.random()


@register(
    60,
    "VECTOR_UNIFORM_SET",
    ">v",
    "{out} = rng.uniform({low}, {high}, F)",
    V,
    data=(LOW, HIGH),
    stochastic=True,
    sorted_data=True,
)
def vector_uniform_set(s, v, m, a, b, o, d, rng):
    v[o] = d[0] + (d[1] - d[0]) * rng.random(v.shape[1])


@register(
    61,
    "MATRIX_UNIFORM_SET",
    ">m",
    "{out} = rng.uniform({low}, {high}, (F, F))",
    M,
    data=(LOW, HIGH),
    stochastic=True,
    sorted_data=True,
)
def matrix_uniform_set(s, v, m, a, b, o, d, rng):
    dim = m.shape[1]
    m[o] = d[0] + (d[1] - d[0]) * rng.random((dim, dim))


@register(
    62,
    "SCALAR_GAUSSIAN_SET",
    ">s",
    "{out} = rng.normal({mean}, {std})",
    data=(MEAN, STD),
    stochastic=True,
)
def scalar_gaussian_set(s, v, m, a, b, o, d, rng):
    s[o] = d[0] + d[1] * rng.standard_normal()


@register(
    63,
    "VECTOR_GAUSSIAN_SET",
    ">v",
    "{out} = rng.normal({mean}, {std}, F)",
    V,
    data=(MEAN, STD),
    stochastic=True,
)
def vector_gaussian_set(s, v, m, a, b, o, d, rng):
    v[o] = d[0] + d[1] * rng.standard_normal(v.shape[1])


@register(
    64,
    "MATRIX_GAUSSIAN_SET",
    ">m",
    "{out} = rng.normal({mean}, {std}, (F, F))",
    M,
    data=(MEAN, STD),
    stochastic=True,
)
def matrix_gaussian_set(s, v, m, a, b, o, d, rng):
    dim = m.shape[1]
    m[o] = d[0] + d[1] * rng.standard_normal((dim, dim))
