"""Linear algebra and broadcasting (reference ids 18, 19, 21, 27-29, 31-37, 43).

Every sum of products (inner, matrix-vector and matrix-matrix products, norms)
is numpy's sum of the elementwise products, ``np.sum(np.multiply(x, y), axis)``:
pairwise summation (in order for fewer than 8 terms) of the products over the
contracted index, from ``+0.0``; down the columns of a matrix (column norms)
the rows are added in order. This defines every result to the bit on every CPU,
where ``np.dot`` and ``@`` would call the BLAS numpy ships, whose summation
order depends on the CPU. The printed templates say the same in numpy (``@`` or
``np.dot`` would agree to rounding only). The compiled interpreter never builds
the product array (see ``NUMPY_EXACT`` in ``interpret/numpy_exact.py``).

An output may alias an input of the same bank (transpose, products): numpy
computes the product array, or copies an overlapping source, before writing,
so ``m0 = m0.T`` means what it says, as in the reference's ``transposeInPlace``.
"""

from __future__ import annotations

import numpy as np

from primeval.algorithms.ops.registry import Cost, Family, register

V, M, C = Cost.VECTOR, Cost.MATRIX, Cost.CUBIC


@register(18, "SCALAR_VECTOR_PRODUCT", "sv>v", "{out} = {in1} * {in2}", V, family=Family.PRODUCT)
def scalar_vector_product(s, v, m, a, b, o, d, rng):
    np.multiply(v[b], s[a], v[o])


@register(19, "SCALAR_BROADCAST", "s>v", "{out} = np.full(F, {in1})", V, family=Family.LINEAR)
def scalar_broadcast(s, v, m, a, b, o, d, rng):
    np.copyto(v[o], s[a])


@register(
    21, "VECTOR_NORM", "v>s", "{out} = np.sqrt(np.sum({in1} * {in1}))", V, family=Family.SCALE_STAT
)
def vector_norm(s, v, m, a, b, o, d, rng):
    x = v[a]
    s[o] = np.sqrt(np.sum(np.multiply(x, x)))


@register(
    27,
    "VECTOR_INNER_PRODUCT",
    "vv>s",
    "{out} = np.sum({in1} * {in2})",
    V,
    family=Family.CONTRACTION,
    commutative=True,
    bilinear=True,
)
def vector_inner_product(s, v, m, a, b, o, d, rng):
    s[o] = np.sum(np.multiply(v[a], v[b]))


@register(
    28,
    "VECTOR_OUTER_PRODUCT",
    "vv>m",
    "{out} = np.outer({in1}, {in2})",
    M,
    family=Family.PRODUCT,
    bilinear=True,
)
def vector_outer_product(s, v, m, a, b, o, d, rng):
    np.outer(v[a], v[b], m[o])


@register(29, "SCALAR_MATRIX_PRODUCT", "sm>m", "{out} = {in1} * {in2}", M, family=Family.PRODUCT)
def scalar_matrix_product(s, v, m, a, b, o, d, rng):
    np.multiply(m[b], s[a], m[o])


@register(
    31,
    "MATRIX_VECTOR_PRODUCT",
    "mv>v",
    "{out} = np.sum({in1} * {in2}, axis=1)",
    M,
    family=Family.CONTRACTION,
    bilinear=True,
)
def matrix_vector_product(s, v, m, a, b, o, d, rng):
    np.sum(np.multiply(m[a], v[b]), axis=1, out=v[o])


@register(
    32,
    "VECTOR_COLUMN_BROADCAST",
    "v>m",
    "{out} = np.repeat({in1}[:, None], F, axis=1)",
    M,
    family=Family.LINEAR,
)
def vector_column_broadcast(s, v, m, a, b, o, d, rng):
    np.copyto(m[o], v[a][:, None])


@register(
    33,
    "VECTOR_ROW_BROADCAST",
    "v>m",
    "{out} = np.repeat({in1}[None, :], F, axis=0)",
    M,
    family=Family.LINEAR,
)
def vector_row_broadcast(s, v, m, a, b, o, d, rng):
    np.copyto(m[o], v[a])


@register(
    34,
    "MATRIX_NORM",
    "m>s",
    "{out} = np.linalg.norm({in1})",
    M,
    family=Family.SCALE_STAT,
    kernel_form=True,
)
def matrix_norm(s, v, m, a, b, o, d, rng):
    x = m[a]
    s[o] = np.sqrt(np.sum(np.multiply(x, x)))


@register(
    35,
    "MATRIX_COLUMN_NORM",
    "m>v",
    "{out} = np.linalg.norm({in1}, axis=0)",
    M,
    family=Family.SCALE_STAT,
)
def matrix_column_norm(s, v, m, a, b, o, d, rng):
    x = m[a]
    y = v[o]
    np.sum(np.multiply(x, x), axis=0, out=y)
    np.sqrt(y, y)


@register(
    36,
    "MATRIX_ROW_NORM",
    "m>v",
    "{out} = np.linalg.norm({in1}, axis=1)",
    M,
    family=Family.SCALE_STAT,
)
def matrix_row_norm(s, v, m, a, b, o, d, rng):
    x = m[a]
    y = v[o]
    np.sum(np.multiply(x, x), axis=1, out=y)
    np.sqrt(y, y)


@register(37, "MATRIX_TRANSPOSE", "m>m", "{out} = {in1}.T", M, family=Family.LINEAR)
def matrix_transpose(s, v, m, a, b, o, d, rng):
    np.copyto(m[o], m[a].T)


@register(
    43,
    "MATRIX_MATRIX_PRODUCT",
    "mm>m",
    "{out} = np.sum(np.multiply({in1}[:, None, :], {in2}.T, order='C'), axis=2)",
    C,
    family=Family.CONTRACTION,
    bilinear=True,
)
def matrix_matrix_product(s, v, m, a, b, o, d, rng):
    # The products x[i, k] * y[k, j] laid out as [i, j, k] (C order), summed over k.
    np.sum(np.multiply(m[a][:, None, :], m[b].T, order="C"), axis=2, out=m[o])
