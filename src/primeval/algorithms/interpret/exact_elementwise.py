"""numpy's elementwise functions (with ``out``), ``copyto`` and ``outer`` in compiled
kernels: plain loops over the shapes kernels use, computing as numpy does (``maximum`` and
``minimum`` propagate NaN and return the second of two zeros) and allocating nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba.core import types

from primeval.algorithms.interpret.jitting import flat, is_none, jitable, overload_stub
from primeval.algorithms.interpret.operands import (
    Product,
    at,
    c_arrays,
    flat_operand,
    geometry,
    moved,
    overlap,
    shape_of,
)


def _greater_or_nan(a: float, b: float) -> bool:
    return a > b or a != a


def _less_or_nan(a: float, b: float) -> bool:
    return a < b or a != a


def _add(a: float, b: float) -> float:
    return a + b


def _subtract(a: float, b: float) -> float:
    return a - b


def _multiply(a: float, b: float) -> float:
    return a * b


def _divide(a: float, b: float) -> float:
    return a / b


def _maximum(a: float, b: float) -> float:
    """numpy's maximum: NaN propagates, and a tie (``0.0`` vs ``-0.0``) gives ``b``."""
    return a if _greater_or_nan(a, b) else b


def _minimum(a: float, b: float) -> float:
    return a if _less_or_nan(a, b) else b


def _absolute(a: float) -> float:
    return abs(a)


def _square_root(a: float) -> float:
    return float(np.sqrt(a))


jitable(_greater_or_nan, _less_or_nan, _add, _subtract, _multiply, _divide, inline=True)
jitable(_maximum, _minimum, _absolute, _square_root, inline=True)


SCALAR_BINARY = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "divide": _divide,
    "maximum": _maximum,
    "minimum": _minimum,
}
"""numpy's binary ufuncs that kernels call, as functions of two floats."""

SCALAR_UNARY = {"abs": _absolute, "sqrt": _square_root}
"""numpy's unary ufuncs that kernels call with ``out`` (the rest: :mod:`.ufunc_loops`)."""


# Kernels never make an operand that overlaps its output without being it: copying it first,
# as numpy does, would need a temporary array in every kernel that could.
_OVERLAP = "an operand overlaps the output without being it (not supported when compiled)"


def elementwise_binary(name: str, fn: Callable[[float, float], float]) -> Callable[..., Any]:
    """A stand-in for ``np.<name>``: scalars, or same-shaped C-ordered arrays and scalars.

    ``np.multiply`` of arrays without ``out`` is the unevaluated :data:`Product`.
    """
    ufunc = getattr(np, name)

    def stub(x1: Any, x2: Any, out: Any = None, order: str = "K") -> Any:
        return ufunc(x1, x2, out=out, order=order)

    stub.__name__ = stub.__qualname__ = f"exact_{name}"

    def typer(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
        if not all(isinstance(t, types.Array | types.Number) for t in (x1, x2)):
            return None
        arrays = [t for t in (x1, x2) if isinstance(t, types.Array)]
        if is_none(out):
            if not arrays:

                def scalars(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
                    return fn(x1, x2)

                return scalars
            if name == "multiply":

                def lazy(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
                    return Product(x1, x2)

                return lazy
            if not (c_arrays(*arrays) and len({t.ndim for t in arrays}) == 1):
                return None

            def fresh(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
                return stub(x1, x2, np.empty(shape_of(x1, x2)))

            return fresh
        if c_arrays(out, *arrays) and all(t.ndim == out.ndim for t in arrays):

            def given(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
                a = flat_operand(x1, out)
                b = flat_operand(x2, out)
                if moved(x1, out) or moved(x2, out):
                    raise ValueError(_OVERLAP)
                fo = flat(out)
                if fo.size == 4:  # see _FOUR
                    a0, a1, a2, a3 = at(a, 0), at(a, 1), at(a, 2), at(a, 3)
                    b0, b1, b2, b3 = at(b, 0), at(b, 1), at(b, 2), at(b, 3)
                    fo[0], fo[1], fo[2], fo[3] = fn(a0, b0), fn(a1, b1), fn(a2, b2), fn(a3, b3)
                    return out
                for i in range(fo.size):
                    fo[i] = fn(at(a, i), at(b, i))
                return out

            return given
        return None

    overload_stub(stub, typer, inline=True)
    return stub


def elementwise_unary(name: str, fn: Callable[[float], float]) -> Callable[..., Any]:
    """A stand-in for ``np.<name>`` of a scalar or a C-ordered array."""
    ufunc = getattr(np, name)

    def stub(x: Any, out: Any = None) -> Any:
        return ufunc(x, out=out)

    stub.__name__ = stub.__qualname__ = f"exact_{name}"

    def typer(x: Any, out: Any = None) -> Any:
        if isinstance(x, types.Number) and is_none(out):

            def scalar(x: Any, out: Any = None) -> Any:
                return fn(x)

            return scalar
        if not c_arrays(x):
            return None
        if is_none(out):

            def fresh(x: Any, out: Any = None) -> Any:
                return stub(x, np.empty(x.shape))

            return fresh
        if c_arrays(out) and out.ndim == x.ndim:

            def given(x: Any, out: Any = None) -> Any:
                a = flat_operand(x, out)
                if moved(x, out):
                    raise ValueError(_OVERLAP)
                fo = flat(out)
                if fo.size == 4:  # see _FOUR
                    a0, a1, a2, a3 = at(a, 0), at(a, 1), at(a, 2), at(a, 3)
                    fo[0], fo[1], fo[2], fo[3] = fn(a0), fn(a1), fn(a2), fn(a3)
                    return out
                for i in range(fo.size):
                    fo[i] = fn(at(a, i))
                return out

            return given
        return None

    overload_stub(stub, typer, inline=True)
    return stub


def exact_copyto(dst: Any, src: Any) -> Any:
    return np.copyto(dst, src)


def _gather(g: Any, d0: int, d1: int, d2: int, fd: np.ndarray) -> None:
    """Write the array described by geometry ``g``, broadcast to ``(d0, d1, d2)``, to ``fd``."""
    span = g[0]
    n0, n1, n2 = g[1]
    s0, s1, s2 = g[2]  # 0 along axes of size 1, which broadcast
    if (n0 != d0 and n0 != 1) or (n1 != d1 and n1 != 1) or (n2 != d2 and n2 != 1):
        raise ValueError("could not broadcast input array into the output")
    k = 0
    for i in range(d0):
        for j in range(d1):
            at = i * s0 + j * s1
            for m in range(d2):
                fd[k] = span[at + m * s2]
                k += 1


def _transpose_in_place(fd: np.ndarray, n: int) -> None:
    for i in range(n):
        for j in range(i + 1, n):
            a = fd[i * n + j]
            fd[i * n + j] = fd[j * n + i]
            fd[j * n + i] = a


jitable(_gather, _transpose_in_place, inline=True)


def _copyto_typer(dst: Any, src: Any) -> Any:
    """numpy's ``copyto`` into a C-ordered array, with broadcasting. A source overlapping the
    destination must be it, or (square) its transpose, which is transposed in place."""
    if not (c_arrays(dst) and dst.ndim <= 3):
        return None
    if isinstance(src, types.Number):

        def fill(dst: Any, src: Any) -> Any:
            fd = flat(dst)
            for i in range(fd.size):
                fd[i] = src

        return fill
    if not (isinstance(src, types.Array) and src.ndim <= dst.ndim):
        return None

    def copy(dst: Any, src: Any) -> Any:
        g = geometry(src)
        h = geometry(dst)
        d0, d1, d2 = h[1]
        fd = flat(dst)
        if not overlap(src, dst):
            _gather(g, d0, d1, d2, fd)
        elif src.ctypes.data == dst.ctypes.data and g[1] == h[1] and g[2] == h[2]:
            pass  # the array itself
        elif (
            src.ctypes.data == dst.ctypes.data
            and g[1] == h[1]
            and d0 == 1
            and d1 == d2
            and (g[2][1], g[2][2]) == (h[2][2], h[2][1])
        ):
            _transpose_in_place(fd, d1)
        else:
            raise ValueError(_OVERLAP)

    return copy


def exact_outer(a: Any, b: Any, out: Any = None) -> Any:
    return np.outer(a, b, out)


def _outer_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    ga = geometry(a)
    gb = geometry(b)
    sa, na, ta = ga[0], ga[1][2], ga[2][2]
    sb, nb, tb = gb[0], gb[1][2], gb[2][2]
    if out.shape != (na, nb):
        raise ValueError("out has the wrong shape")
    fo = flat(out)
    for i in range(na):
        x = sa[i * ta]
        for j in range(nb):
            fo[i * nb + j] = x * sb[j * tb]


jitable(_outer_into, inline=True)


def _outer_typer(a: Any, b: Any, out: Any = None) -> Any:
    """numpy's ``outer`` of two vectors: one product per element."""
    if not all(isinstance(t, types.Array) and t.ndim == 1 for t in (a, b)):
        return None
    if is_none(out):

        def fresh(a: Any, b: Any, out: Any = None) -> Any:
            res = np.empty((a.shape[0], b.shape[0]))
            _outer_into(a, b, res)
            return res

        return fresh
    if not (c_arrays(out) and out.ndim == 2):
        return None

    def given(a: Any, b: Any, out: Any = None) -> Any:
        if overlap(a, out) or overlap(b, out):
            raise ValueError(_OVERLAP)
        _outer_into(a, b, out)
        return out

    return given


overload_stub(exact_copyto, _copyto_typer, inline=True)
overload_stub(exact_outer, _outer_typer, inline=True)
