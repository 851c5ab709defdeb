"""numpy's sums, means and reductions along an axis, computed as numpy computes them
(pairwise summation, 8 accumulators per block), without temporaries.

Sums of products (``np.sum(np.multiply(x, y), axis, out)``) are how the ops write dot
products, so that no BLAS with a CPU-dependent order is ever called (:mod:`.compiled`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numba.core.compiler
import numpy as np
from numba.core import types

from primeval.algorithms.interpret.jitting import (
    SCRATCH,
    flat,
    is_none,
    jitable,
    overload_stub,
    scratch,
)
from primeval.algorithms.interpret.operands import (
    Product,
    broadcast,
    c_arrays,
    geometry,
    overlap,
    term,
)

# Loops over 4 elements (vectors with F = 4, the reference's demo) are written out: numba's loop
# of unknown length, vectorized with runtime checks of aliasing (which differ from instruction to
# instruction) and a remainder loop, costs twice the arithmetic at that length. All the loads
# come first, so that an output that is an input is still right.
_FOUR = 4


FAST_DIMS = (_FOUR,)
"""Vector sizes F for which the lockstep jump table has branches compiled with F a constant
(the lanes' views then have constant shapes and strides: the kernels' loops over F are written
out, and LLVM can prove that lanes do not alias)."""


def _pairwise_block(src: Any, start: int, n: int) -> float:
    """numpy's ``pairwise_sum`` for ``n <= 128``: 8 accumulators, then the rest in order."""
    if n == _FOUR:  # written out, see _FOUR
        r0 = -0.0 + term(src, start)
        return ((r0 + term(src, start + 1)) + term(src, start + 2)) + term(src, start + 3)
    if n < 8:
        res = -0.0
        for i in range(n):
            res += term(src, start + i)
        return res
    r0 = term(src, start)
    r1 = term(src, start + 1)
    r2 = term(src, start + 2)
    r3 = term(src, start + 3)
    r4 = term(src, start + 4)
    r5 = term(src, start + 5)
    r6 = term(src, start + 6)
    r7 = term(src, start + 7)
    i = 8
    while i < n - n % 8:
        j = start + i
        r0 += term(src, j)
        r1 += term(src, j + 1)
        r2 += term(src, j + 2)
        r3 += term(src, j + 3)
        r4 += term(src, j + 4)
        r5 += term(src, j + 5)
        r6 += term(src, j + 6)
        r7 += term(src, j + 7)
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += term(src, start + i)
        i += 1
    return float(res)


def _pairwise_tree(src: Any, start: int, n: int) -> float:
    """Above 128 terms numpy adds the sums of two halves (the first a multiple of 8 long).

    The recursion is unrolled into a stack: numba cannot cache code calling a recursive
    function.
    """
    starts = np.empty(256, dtype=np.int64)
    sizes = np.empty(256, dtype=np.int64)  # -1 marks "add the two sums on top"
    sums = np.empty(128)
    top = 0
    depth = 0
    starts[0] = start
    sizes[0] = n
    while top >= 0:
        at = starts[top]
        size = sizes[top]
        top -= 1
        if size < 0:
            depth -= 1
            sums[depth - 1] = sums[depth - 1] + sums[depth]
        elif size <= 128:
            sums[depth] = _pairwise_block(src, at, size)
            depth += 1
        else:
            half = size // 2
            half -= half % 8
            sizes[top + 1] = -1
            starts[top + 2] = at + half
            sizes[top + 2] = size - half
            starts[top + 3] = at
            sizes[top + 3] = half
            top += 3
    return float(sums[0])


def _pairwise_split(inner: Callable[[Any, int, int], float]) -> Callable[[Any, int, int], float]:
    """One level of numpy's split into halves, the halves summed by ``inner``."""

    def split(src: Any, start: int, n: int) -> float:
        if n <= 128:
            return _pairwise_block(src, start, n)
        half = n // 2
        half -= half % 8
        return inner(src, start, half) + inner(src, start + half, n - half)

    return split


# Three levels unrolled (up to 1,024 terms: F x F matrices to F = 32) allocate no stack.
_pairwise_line2 = _pairwise_split(_pairwise_tree)
_pairwise_line1 = _pairwise_split(_pairwise_line2)
_pairwise_line = _pairwise_split(_pairwise_line1)


def pairwise_sum(x: np.ndarray, start: int, n: int) -> float:
    """numpy's ``pairwise_sum`` of ``x[start:start + n]``."""
    return _pairwise_line((x, 0, 1), start, n)


jitable(_pairwise_tree, nrt=True)
jitable(_pairwise_line2, _pairwise_line1)
jitable(_pairwise_block, _pairwise_line, pairwise_sum, inline=True)


def _line(gx: Any, gy: Any, xo: int, yo: int, axis: int) -> Any:
    """The terms along ``axis`` from offsets ``xo`` (and ``yo``), as a :func:`term` source."""
    raise NotImplementedError("compiled code only")


def _line_typer(gx: Any, gy: Any, xo: Any, yo: Any, axis: Any) -> Any:
    if is_none(gy):
        return lambda gx, gy, xo, yo, axis: (gx[0], xo, gx[2][axis])
    return lambda gx, gy, xo, yo, axis: (gx[0], xo, gx[2][axis], gy[0], yo, gy[2][axis])


def _offset(g: Any, p: int, q: int, ip: int, iq: int) -> int:
    raise NotImplementedError("compiled code only")


def _offset_typer(g: Any, p: Any, q: Any, ip: Any, iq: Any) -> Any:
    if is_none(g):
        return lambda g, p, q, ip, iq: 0
    return lambda g, p, q, ip, iq: ip * g[2][p] + iq * g[2][q]


def _dims(gx: Any, gy: Any) -> tuple[int, int, int]:
    raise NotImplementedError("compiled code only")


def _dims_typer(gx: Any, gy: Any) -> Any:
    if is_none(gy):
        return lambda gx, gy: gx[1]
    return lambda gx, gy: (
        broadcast(gx[1][0], gy[1][0]),
        broadcast(gx[1][1], gy[1][1]),
        broadcast(gx[1][2], gy[1][2]),
    )


overload_stub(_line, _line_typer, strict=False, inline=True)
overload_stub(_offset, _offset_typer, strict=False, inline=True)
overload_stub(_dims, _dims_typer, strict=False, inline=True)


def _reduce_into(gx: Any, gy: Any, axis: int, fo: np.ndarray) -> None:
    """numpy's sum over ``axis`` (of 3, padded) of an array, or of the product of two.

    numpy reduces a C-ordered array over its last axis with ``pairwise_sum`` per output,
    starting from ``0.0``, and over any other axis by adding the slices in order to outputs
    set to ``0.0``.
    """
    dims = _dims(gx, gy)
    p, q = (1, 2) if axis == 0 else ((0, 2) if axis == 1 else (0, 1))
    n_p, n_q, n = dims[p], dims[q], dims[axis]
    if fo.size != n_p * n_q:
        raise ValueError("output has the wrong size")
    for ip in range(n_p):
        for iq in range(n_q):
            src = _line(gx, gy, _offset(gx, p, q, ip, iq), _offset(gy, p, q, ip, iq), axis)
            if axis == 2:
                total = 0.0 + _pairwise_line(src, 0, n)
            else:
                total = 0.0
                for k in range(n):
                    total += term(src, k)
            fo[ip * n_q + iq] = total


def _reduce_via_heap(gx: Any, gy: Any, axis: int, fo: np.ndarray) -> None:
    tmp = np.empty(fo.size)
    _reduce_into(gx, gy, axis, tmp)
    for i in range(fo.size):
        fo[i] = tmp[i]


def _reduce_via_temporary(gx: Any, gy: Any, axis: int, fo: np.ndarray) -> None:
    """:func:`_reduce_into` for an output that overlaps an operand (``v1 = m0 @ v1``)."""
    if fo.size > SCRATCH:
        _reduce_via_heap(gx, gy, axis, fo)
        return
    tmp = scratch(fo.size)
    _reduce_into(gx, gy, axis, tmp)
    for i in range(fo.size):
        fo[i] = tmp[i]


jitable(_reduce_into, inline=True)
jitable(_reduce_via_heap, nrt=True)
jitable(_reduce_via_temporary)


def _sum_along(a: np.ndarray, axis: int, out: np.ndarray) -> None:
    nd = a.ndim
    k = (axis + nd if axis < 0 else axis) + 3 - nd
    if k < 3 - nd or k > 2:
        raise ValueError("axis out of range")
    if overlap(a, out):
        _reduce_via_temporary(geometry(a), None, k, flat(out))
    else:
        _reduce_into(geometry(a), None, k, flat(out))


jitable(_sum_along, inline=True)


def exact_sum(a: Any, axis: Any = None, out: Any = None) -> Any:
    return np.sum(a, axis=axis, out=out)


def _sum_typer(a: Any, axis: Any = None, out: Any = None) -> Any:
    """numpy's ``sum`` of an array (up to 3-D) or of a :data:`Product`, over everything or
    one axis. Arrays reduced over an axis and products must be C-ordered, as numpy's product
    array is (pass ``order="C"`` to ``np.multiply`` where an operand is not)."""
    named: Any = a
    if isinstance(a, types.BaseNamedTuple) and named.instance_class is Product:
        x, y = named.types
        if not all(isinstance(t, types.Array) and t.ndim <= 3 for t in (x, y)):
            return None
        nd = max(x.ndim, y.ndim)
        if is_none(axis) and is_none(out):
            if not (c_arrays(x, y) and x.ndim == y.ndim):
                return None

            def whole_product(a: Any, axis: Any = None, out: Any = None) -> Any:
                if a.x.shape != a.y.shape:
                    raise ValueError("operands could not be broadcast together")
                src = (flat(a.x), 0, 1, flat(a.y), 0, 1)
                return 0.0 + _pairwise_line(src, 0, a.x.size)

            return whole_product
        if not (isinstance(axis, types.Integer) and c_arrays(out) and out.ndim == nd - 1):
            return None

        def along_product(a: Any, axis: Any = None, out: Any = None) -> Any:
            k = (axis + nd if axis < 0 else axis) + 3 - nd
            if k < 3 - nd or k > 2:
                raise ValueError("axis out of range")
            if overlap(a.x, out) or overlap(a.y, out):
                _reduce_via_temporary(geometry(a.x), geometry(a.y), k, flat(out))
            else:
                _reduce_into(geometry(a.x), geometry(a.y), k, flat(out))
            return out

        return along_product
    if not isinstance(a, types.Array) or a.ndim > 3:
        return None
    nd = a.ndim
    if is_none(axis) and is_none(out):
        if nd == 1:

            def vector(a: Any, axis: Any = None, out: Any = None) -> Any:
                return 0.0 + _pairwise_line((a, 0, 1), 0, a.size)

            return vector
        if a.layout != "C":
            return None

        def whole(a: Any, axis: Any = None, out: Any = None) -> Any:
            return 0.0 + _pairwise_line((flat(a), 0, 1), 0, a.size)

        return whole
    if not (isinstance(axis, types.Integer) and a.layout == "C"):
        return None

    if is_none(out):
        if nd != 2:
            return None

        def rows_or_columns(a: Any, axis: Any = None, out: Any = None) -> Any:
            res = np.empty(a.shape[1] if axis == 0 or axis == -2 else a.shape[0])
            _sum_along(a, axis, res)
            return res

        return rows_or_columns
    if not (c_arrays(out) and out.ndim == nd - 1):
        return None

    def given(a: Any, axis: Any = None, out: Any = None) -> Any:
        _sum_along(a, axis, out)
        return out

    return given


def exact_mean(a: Any) -> Any:
    return np.mean(a)


def _mean_typer(a: Any) -> Any:
    """numpy's mean of a whole array: its pairwise sum divided by the element count."""
    if not isinstance(a, types.Array):
        return None
    if a.ndim == 1:

        def vector(a: Any) -> Any:
            return (0.0 + _pairwise_line((a, 0, 1), 0, a.size)) / a.size

        return vector
    if a.layout != "C":
        return None

    def mean(a: Any) -> Any:
        return (0.0 + _pairwise_line((flat(a), 0, 1), 0, a.size)) / a.size

    return mean


def exact_dot(a: Any, b: Any) -> Any:
    return np.dot(a, b)


def _dot_typer(a: Any, b: Any) -> Any:
    raise numba.core.errors.TypingError(
        "np.dot in a kernel: numpy computes it with the BLAS it ships, whose summation order "
        "depends on the CPU; write the sum of products, np.sum(np.multiply(x, y), axis, out)"
    )


overload_stub(exact_sum, _sum_typer, inline=True)
overload_stub(exact_mean, _mean_typer, inline=True)
overload_stub(exact_dot, _dot_typer)
