"""Linear algebra and broadcasting (reference ids 18, 19, 21, 27-29, 31-37, 43).

Where an output may alias an input of the same bank (transpose, products),
the result is computed into a fresh array first, so ``m0 = m0.T`` means what
it says, as in the reference's ``transposeInPlace``.
"""

from __future__ import annotations

import numpy as np

from primeval.algorithms.ops.registry import Cost, register

V, M, C = Cost.VECTOR, Cost.MATRIX, Cost.CUBIC


@register(18, "SCALAR_VECTOR_PRODUCT", "sv>v", "{out} = {in1} * {in2}", V)
def scalar_vector_product(s, v, m, a, b, o, d, rng):
    np.multiply(v[b], s[a], v[o])


@register(19, "SCALAR_BROADCAST", "s>v", "{out} = np.full(F, {in1})", V)
def scalar_broadcast(s, v, m, a, b, o, d, rng):
    v[o][:] = s[a]


@register(21, "VECTOR_NORM", "v>s", "{out} = np.linalg.norm({in1})", V)
def vector_norm(s, v, m, a, b, o, d, rng):
    s[o] = np.sqrt(np.dot(v[a], v[a]))


@register(27, "VECTOR_INNER_PRODUCT", "vv>s", "{out} = np.dot({in1}, {in2})", V)
def vector_inner_product(s, v, m, a, b, o, d, rng):
    s[o] = np.dot(v[a], v[b])


@register(28, "VECTOR_OUTER_PRODUCT", "vv>m", "{out} = np.outer({in1}, {in2})", M)
def vector_outer_product(s, v, m, a, b, o, d, rng):
    m[o] = np.outer(v[a], v[b])


@register(29, "SCALAR_MATRIX_PRODUCT", "sm>m", "{out} = {in1} * {in2}", M)
def scalar_matrix_product(s, v, m, a, b, o, d, rng):
    np.multiply(m[b], s[a], m[o])


@register(31, "MATRIX_VECTOR_PRODUCT", "mv>v", "{out} = {in1} @ {in2}", M)
def matrix_vector_product(s, v, m, a, b, o, d, rng):
    v[o] = np.dot(m[a], v[b])


@register(32, "VECTOR_COLUMN_BROADCAST", "v>m", "{out} = np.repeat({in1}[:, None], F, axis=1)", M)
def vector_column_broadcast(s, v, m, a, b, o, d, rng):
    x = v[a]
    y = m[o]
    for i in range(x.shape[0]):
        y[i, :] = x[i]


@register(33, "VECTOR_ROW_BROADCAST", "v>m", "{out} = np.repeat({in1}[None, :], F, axis=0)", M)
def vector_row_broadcast(s, v, m, a, b, o, d, rng):
    x = v[a]
    y = m[o]
    for i in range(x.shape[0]):
        y[i, :] = x


@register(34, "MATRIX_NORM", "m>s", "{out} = np.linalg.norm({in1})", M)
def matrix_norm(s, v, m, a, b, o, d, rng):
    x = m[a]
    s[o] = np.sqrt(np.sum(x * x))


@register(35, "MATRIX_COLUMN_NORM", "m>v", "{out} = np.linalg.norm({in1}, axis=0)", M)
def matrix_column_norm(s, v, m, a, b, o, d, rng):
    x = m[a]
    v[o] = np.sqrt(np.sum(x * x, axis=0))


@register(36, "MATRIX_ROW_NORM", "m>v", "{out} = np.linalg.norm({in1}, axis=1)", M)
def matrix_row_norm(s, v, m, a, b, o, d, rng):
    x = m[a]
    v[o] = np.sqrt(np.sum(x * x, axis=1))


@register(37, "MATRIX_TRANSPOSE", "m>m", "{out} = {in1}.T", M)
def matrix_transpose(s, v, m, a, b, o, d, rng):
    m[o] = m[a].T.copy()


@register(43, "MATRIX_MATRIX_PRODUCT", "mm>m", "{out} = {in1} @ {in2}", C)
def matrix_matrix_product(s, v, m, a, b, o, d, rng):
    m[o] = np.dot(m[a], m[b])
