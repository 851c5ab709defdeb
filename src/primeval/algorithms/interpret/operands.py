"""Operands of numpy calls in kernels, as compiled code sees them: lines of terms, 3-D
geometry, broadcasting and overlap.

The numpy-exact stand-ins (:mod:`.exact_sums`, :mod:`.exact_elementwise`) are plain loops
over these views, allocating nothing; a product that is only summed stays the unevaluated
:data:`Product` of its two operands.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
from numba.core import types

from primeval.algorithms.interpret.jitting import flat, jitable, overload_stub, span

#
# Kernels call numpy with ``out`` arrays, so that numpy allocates nothing but the temporaries of
# an expression. numba compiles such calls through its general ufunc machinery (broadcasting,
# strides, a fresh array for each temporary): for vectors of 4 that costs several times the
# arithmetic, an allocation ten times. The stand-ins below are plain loops over the few array
# shapes kernels use (anything else fails to compile, loudly). A product that is only summed,
# ``np.sum(np.multiply(x, y), axis, out)``, is never materialized: ``np.multiply`` without
# ``out`` returns an unevaluated :data:`Product`, which only ``np.sum`` accepts, and the sum
# adds the terms in the order numpy adds those of the C-ordered product array.

Product = collections.namedtuple("Product", "x y")


def term(src: Any, i: int) -> float:
    """Term ``i`` of a line: ``(x, start, step)`` or ``(x, xstart, xstep, y, ystart, ystep)``."""
    if len(src) == 3:
        return float(src[0][src[1] + i * src[2]])
    return float(src[0][src[1] + i * src[2]] * src[3][src[4] + i * src[5]])


def _term_typer(src: Any, i: Any) -> Any:
    if not isinstance(src, types.BaseTuple):
        return None
    terms: Any = src
    if terms.count == 3:

        def single(src: Any, i: Any) -> Any:
            return src[0][src[1] + i * src[2]]

        return single
    if terms.count == 6:

        def product(src: Any, i: Any) -> Any:
            return src[0][src[1] + i * src[2]] * src[3][src[4] + i * src[5]]

        return product
    return None


overload_stub(term, _term_typer, strict=False, inline=True)


def _shaped(
    a: np.ndarray, n0: int, n1: int, n2: int, b0: int, b1: int, b2: int
) -> tuple[np.ndarray, tuple[int, int, int], tuple[int, int, int]]:
    size = a.itemsize
    s0 = b0 // size if n0 > 1 else 0  # an axis of size 1 broadcasts: stride 0
    s1 = b1 // size if n1 > 1 else 0
    s2 = b2 // size if n2 > 1 else 0
    if s0 < 0 or s1 < 0 or s2 < 0:
        raise ValueError("negative strides are not supported")
    if n0 == 0 or n1 == 0 or n2 == 0:
        return span(a, 0), (n0, n1, n2), (s0, s1, s2)
    extent = 1 + (n0 - 1) * s0 + (n1 - 1) * s1 + (n2 - 1) * s2
    return span(a, extent), (n0, n1, n2), (s0, s1, s2)


def geometry(a: np.ndarray) -> Any:
    """``(span, (n0, n1, n2), (s0, s1, s2))``: ``a`` as 3-D (padded on the left, as numpy
    broadcasts), its element ``(i, j, k)`` at ``span[i * s0 + j * s1 + k * s2]``."""
    raise NotImplementedError("compiled code only")


def _geometry_typer(a: Any) -> Any:
    if not isinstance(a, types.Array) or a.ndim > 3:
        return None
    if a.ndim == 1:

        def vector(a: Any) -> Any:
            return _shaped(a, 1, 1, a.shape[0], 0, 0, a.strides[0])

        return vector
    if a.ndim == 2:

        def matrix(a: Any) -> Any:
            return _shaped(a, 1, a.shape[0], a.shape[1], 0, a.strides[0], a.strides[1])

        return matrix

    def cube(a: Any) -> Any:
        return _shaped(
            a, a.shape[0], a.shape[1], a.shape[2], a.strides[0], a.strides[1], a.strides[2]
        )

    return cube


overload_stub(geometry, _geometry_typer, strict=False, inline=True)


def broadcast(n: int, m: int) -> int:
    if n == m or m == 1:
        return n
    if n == 1:
        return m
    raise ValueError("operands could not be broadcast together")


def overlap(a: Any, b: Any) -> bool:
    """Whether two arrays' memory ranges intersect (never, for a scalar)."""
    raise NotImplementedError("compiled code only")


def _bounds(a: np.ndarray) -> tuple[int, int]:
    lo = a.ctypes.data
    hi = lo + a.itemsize
    for k in range(a.ndim):
        if a.shape[k] == 0:
            return lo, lo
        hi += (a.shape[k] - 1) * a.strides[k]
    return lo, hi


def _extent(a: np.ndarray) -> int:
    """Bytes from an array's first element to the end of its last (positive strides)."""
    hi = a.itemsize
    for k in range(a.ndim):
        if a.shape[k] == 0:
            return 0
        hi += (a.shape[k] - 1) * a.strides[k]
    return hi


def _overlap_typer(a: Any, b: Any) -> Any:
    if isinstance(a, types.Array) and isinstance(b, types.Array):

        def arrays(a: Any, b: Any) -> Any:
            alo, ahi = _bounds(a)
            blo, bhi = _bounds(b)
            return alo < bhi and blo < ahi

        return arrays
    if isinstance(a, types.Array | types.Number) and isinstance(b, types.Array | types.Number):
        return lambda a, b: False
    return None


overload_stub(overlap, _overlap_typer, strict=False, inline=True)


def at(x: Any, i: int) -> float:
    """Element ``i`` of a :func:`flat_operand`."""
    raise NotImplementedError("compiled code only")


def _at_typer(x: Any, i: Any) -> Any:
    if isinstance(x[0], types.Array):
        return lambda x, i: x[0][i]
    if isinstance(x[0], types.Number):
        return lambda x, i: x[0]
    return None


def flat_operand(x: Any, out: np.ndarray) -> Any:
    """A same-shaped C-ordered operand of ``out`` as a flat view, or a scalar, in a 1-tuple
    (code compiled without numba's runtime may return a new array view only in a tuple)."""
    raise NotImplementedError("compiled code only")


def _flat_operand_typer(x: Any, out: Any) -> Any:
    if isinstance(x, types.Array):

        def array(x: Any, out: Any) -> Any:
            if x.shape != out.shape:
                raise ValueError("operands could not be broadcast together")
            return (flat(x),)

        return array
    if isinstance(x, types.Number):
        return lambda x, out: (x,)
    return None


def moved(x: Any, out: np.ndarray) -> bool:
    """Whether a same-shaped operand overlaps ``out`` without being it: then elementwise
    loops would read what they already wrote."""
    raise NotImplementedError("compiled code only")


def _moved_typer(x: Any, out: Any) -> Any:
    if isinstance(x, types.Array):

        def array(x: Any, out: Any) -> Any:
            d = np.intp(x.ctypes.data) - np.intp(out.ctypes.data)  # signed
            return d != 0 and d < _extent(out) and -d < _extent(x)

        return array
    if isinstance(x, types.Number):
        return lambda x, out: False
    return None


def shape_of(x1: Any, x2: Any) -> tuple[int, ...]:
    """The shape of the first array operand."""
    raise NotImplementedError("compiled code only")


def _shape_of_typer(x1: Any, x2: Any) -> Any:
    if isinstance(x1, types.Array):
        return lambda x1, x2: x1.shape
    if isinstance(x2, types.Array):
        return lambda x1, x2: x2.shape
    return None


jitable(_shaped, broadcast, _bounds, _extent, inline=True)
overload_stub(at, _at_typer, strict=False, inline=True)
overload_stub(flat_operand, _flat_operand_typer, strict=False, inline=True)
overload_stub(moved, _moved_typer, strict=False, inline=True)
overload_stub(shape_of, _shape_of_typer, strict=False, inline=True)


def c_arrays(*ts: Any) -> bool:
    """Whether arrays are C-ordered or 1-D (of any stride): what :func:`flat` takes."""
    return all(isinstance(t, types.Array) and (t.layout == "C" or t.ndim == 1) for t in ts)
