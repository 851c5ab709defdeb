"""The compiled interpreter: the reference protocol in one numba call per program.

It gives the answers of :mod:`~primeval.algorithms.interpret.reference`, bit for bit, a few
hundred times faster. The protocol is AutoML-Zero's (Real et al., "AutoML-Zero: Evolving
Machine Learning Algorithms From Scratch", ICML 2020, Sec. 4 and the reference ``Executor``);
the reference module's docstring lists its steps.

Design:

- **Dispatch generated from the registry.** Each op is defined once, as a kernel in
  :mod:`~primeval.algorithms.ops`. :func:`generate_source` writes a module that compiles
  every registered kernel and the protocol (:func:`_run_task`, :func:`_run_lockstep`,
  :func:`run_tasks_with`, plain Python here), with the protocol's single ``_exec(...)`` and
  ``_exec_tasks(...)`` lines expanded into ``if/elif`` chains over op codes calling the
  kernels (LLVM makes a chain a jump table). One call of the generated ``run_tasks_with``
  evaluates a program on every task, epoch and example.
- **Tasks in lockstep, in SIMD lanes.** All tasks of a set have as many examples and epochs,
  so a program that draws no random numbers runs on all of them at once
  (:func:`_run_lockstep`): each instruction is decoded and dispatched once, and its branch of
  the jump table applies the kernel to every task. Memory keeps the tasks innermost, in
  groups of :data:`LANES` (``s[group, address, lane]``, ``v[group, address, i, lane]``), and
  so do the examples (:func:`lane_arrays`, built once per task set): a branch runs the op's
  own kernel, inlined, on each lane's view of memory (:func:`lane`) in a loop of ``LANES``
  iterations, which LLVM writes out and packs into SIMD instructions across tasks (its SLP
  vectorizer, which numba leaves off: :class:`vectorizing`). That needs views whose shapes
  and strides are constants (for ``F`` in :data:`FAST_DIMS`; other sizes get a branch with
  ``F`` a variable, per lane), and banks that LLVM knows not to overlap
  (:class:`NoAliasCompiler`). Scalar and vector ops run on every lane, tasks stopped or not
  (a stopped task's lane computes what no one reads); matrix ops and the rest are called per
  lane, for running tasks only. Matrices stay per task (``m[task]``). The bookkeeping per
  example (errors, losses, loading the next example) is SIMD too, falling back to a loop
  over tasks for classification, probes and failing tasks. A program that draws runs task
  after task (:func:`_run_task`, on each task's lane), so that the draws come in the
  reference's order.
- **Disk cache.** The generated source goes to ``$PRIMEVAL_CACHE_DIR`` (default
  ``~/.cache/primeval/numba``) under a name hashing it, every kernel module, this module and
  the numpy / numba / Python versions, and is imported from there so that numba's
  ``cache=True`` works (numba cannot cache code built with ``exec``): a second process loads
  machine code instead of compiling. Nothing compiles at import; the first evaluation does
  (two to three minutes, cold).
- **Bit-identical to the reference.** numba reimplements numpy, not always the way numpy
  computes. numpy evaluates ``exp``, ``log``, ``tan``, ``arcsin``, ``arccos`` and ``arctan``
  with its own SIMD code (AVX-512, SVML), which differs from the C library's in the last bit
  for a few percent of inputs; it sums with pairwise summation; its ``maximum``/``minimum``
  return the second argument when both are zeros of either sign. The kernels are therefore
  compiled against :data:`NUMPY_EXACT`, the ``numpy`` namespace with those functions
  replaced: the transcendental functions call numpy's own float64 ufunc loop (its address
  linked under a fixed symbol name, so cached code stays valid in a new process), and
  ``sum``/``mean``/``maximum``/``minimum`` follow numpy's algorithms. Products are never
  numpy's ``dot`` (the BLAS it ships sums in an order that depends on the CPU): the ops
  define them as numpy's sum of the elementwise products, and ``NUMPY_EXACT.dot`` refuses
  to compile. Random draws go through the caller's generator, as in numpy.
- **Speed.** Most of an instruction's cost was overhead around a few flops on vectors of 4:
  numba's ufunc machinery (broadcasting, a fresh array per temporary, BLAS for a 4-element
  dot product), a function call per kernel, and reference counting of every array view.
  Now: the ``NUMPY_EXACT`` stand-ins are plain loops that allocate nothing (a product that is
  only summed is never built; loops over 4 elements are written out); the kernels of
  scalar and vector ops are inlined by LLVM (numba's ``forceinline``) into the jump tables'
  branches, matrix ops are called (inlining them all costs compile time for little);
  kernels and the lockstep protocol are compiled without numba's runtime (``_nrt=False``:
  no reference counting; its few allocations are passed in); addresses, tasks and examples
  are indexed with unsigned integers (numba then emits no handling of negative indices);
  the generator is passed as its bit generator's addresses (numba's unboxing of a
  ``Generator`` costs about 7 us per call); arrays are borrowed without reference counting.
  On the demo (F = 4, 10 tasks of 100 + 100 examples, three groups of lanes) a scalar or
  vector instruction costs about 0.3-0.5 ns per task (mostly the latency of its result
  going through memory to the next instruction), a matrix one 10-40 ns (a call per task);
  the protocol's bookkeeping about 2.5 ns per example and task; a call from Python about
  3.5 us.

``tests/test_compiled.py`` checks equality with the reference on random programs over all ops.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import fcntl
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import tempfile
import threading
import types as pytypes
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llvmlite
import llvmlite.binding as llvm_binding
import numba
import numba.core.compiler
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload, register_jitable

from primeval.algorithms.interpret import reference
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR
from primeval.algorithms.memory import FEATURES, LABEL, PREDICTION, Banks
from primeval.algorithms.ops import REGISTRY, Cost, Kind, OpSpec
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import Task, TaskSet

_TWO_OVER_PI = 2.0 / np.pi  # the reference's constant, computed the same way

_cg: Any = cgutils  # llvmlite / numba code generation helpers are untyped
_borrowed: Any = impl_ret_borrowed


# Compiled helpers are only ever called from compiled code: no Python or C entry points to build.
_NO_WRAPPERS = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


def _jitable(*fns: Callable[..., Any], inline: bool = False, nrt: bool | None = None) -> None:
    """Make plain functions callable from compiled code (compiled with numpy's error model).

    With ``inline`` the compiled function is marked ``alwaysinline`` for LLVM (numba's
    ``forceinline``). Otherwise LLVM hardly ever inlines a numba function into another: each
    is optimized on its own first, loops unrolled and vectorized, and then costs too much. A
    call with array arguments costs a few nanoseconds, more than the arithmetic on a vector
    of 4, and counts references to the arrays. (numba's own inlining, ``inline="always"``,
    copies untyped code and types it again at every call site: minutes of compilation.)
    """
    options: dict[str, Any] = {"error_model": "numpy", "forceinline": inline, **_NO_WRAPPERS}
    if nrt is not None:
        options["_nrt"] = nrt
    for fn in fns:
        register_jitable(**options)(fn)


def _overload(
    stub: Callable[..., Any], typer: Callable[..., Any], strict: bool = True, inline: bool = False
) -> None:
    """Compile calls of ``stub`` with what ``typer`` returns for the argument types (inlined
    if ``inline``, see :func:`_jitable`). Not ``strict``: the implementations may be lambdas,
    whose arguments have no annotations."""
    options: Any = {"error_model": "numpy", "forceinline": inline, **_NO_WRAPPERS}
    overload(stub, jit_options=options, strict=strict)(typer)


def _is_none(t: Any) -> bool:
    """Whether an optional argument's numba type says it was not given."""
    return t is None or isinstance(t, types.NoneType | types.Omitted)


# --- numpy's own float64 ufunc loops ------------------------------------------------------------

# Functions numpy computes with CPU-dispatched code of its own. sqrt is correctly rounded
# everywhere; sin and cos agree with the C library today, but need not on every CPU.
EXACT_UFUNCS = ("exp", "log", "sin", "cos", "tan", "arcsin", "arccos", "arctan")


class _UFuncHead(ctypes.Structure):
    """The leading fields of numpy's public ``PyUFuncObject`` (numpy/ufuncobject.h)."""

    _fields_ = [
        ("ob_refcnt", ctypes.c_ssize_t),
        ("ob_type", ctypes.c_void_p),
        ("nin", ctypes.c_int),
        ("nout", ctypes.c_int),
        ("nargs", ctypes.c_int),
        ("identity", ctypes.c_int),
        ("functions", ctypes.POINTER(ctypes.c_void_p)),
        ("data", ctypes.POINTER(ctypes.c_void_p)),
        ("ntypes", ctypes.c_int),
        ("reserved1", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("types", ctypes.POINTER(ctypes.c_char)),
    ]


def _float64_loop(ufunc: np.ufunc) -> tuple[int, int]:
    """Address of a unary ufunc's ``d->d`` inner loop and of its ``data``."""
    head = _UFuncHead.from_address(id(ufunc))
    if (head.nin, head.nout, head.nargs, head.name) != (1, 1, 2, ufunc.__name__.encode()):
        raise RuntimeError(f"unexpected PyUFuncObject layout for np.{ufunc.__name__}")
    double = np.dtype(np.float64).num
    for i in range(head.ntypes):
        if head.types[2 * i][0] == head.types[2 * i + 1][0] == double:
            return int(head.functions[i] or 0), int(head.data[i] or 0)
    raise RuntimeError(f"np.{ufunc.__name__} has no float64 loop")


def _loop_symbol(name: str) -> str:
    return f"primeval_numpy_{name}_float64"


_LOOPS = {name: _float64_loop(getattr(np, name)) for name in EXACT_UFUNCS}

# Compiled code (fresh or from the disk cache) calls these by name; the addresses are this
# process's.
for _name, (_loop, _data) in _LOOPS.items():
    llvm_binding.add_symbol(_loop_symbol(_name), _loop)
    if _data:
        llvm_binding.add_symbol(_loop_symbol(_name) + "_data", _data)


def _loop_caller(name: str) -> Any:
    """An intrinsic ``f(x) -> float64`` running numpy's loop for ``np.<name>`` on one value."""
    symbol = _loop_symbol(name)
    has_data = bool(_LOOPS[name][1])

    def typer(typingctx: Any, x: Any) -> Any:
        if not isinstance(x, types.Float | types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            value = context.cast(builder, args[0], sig.args[0], types.float64)
            byte_ptr = ir.IntType(8).as_pointer()
            intp = context.get_value_type(types.intp)
            fnty = ir.FunctionType(
                ir.VoidType(),
                [byte_ptr.as_pointer(), intp.as_pointer(), intp.as_pointer(), byte_ptr],
            )
            loop = _cg.get_or_insert_function(builder.module, fnty, symbol)
            src = _cg.alloca_once_value(builder, value)
            dst = _cg.alloca_once(builder, ir.DoubleType())
            argv = _cg.alloca_once(builder, byte_ptr, size=2)
            builder.store(builder.bitcast(src, byte_ptr), argv)
            builder.store(builder.bitcast(dst, byte_ptr), builder.gep(argv, [intp(1)]))
            steps = _cg.alloca_once(builder, intp, size=2)
            builder.store(intp(8), steps)
            builder.store(intp(8), builder.gep(steps, [intp(1)]))
            data = ir.Constant(byte_ptr, None)
            if has_data:
                gv = builder.module.globals.get(symbol + "_data")
                if gv is None:
                    gv = ir.GlobalVariable(builder.module, ir.IntType(8), symbol + "_data")
                    gv.linkage = "external"
                data = builder.bitcast(gv, byte_ptr)
            builder.call(loop, [argv, _cg.alloca_once_value(builder, intp(1)), steps, data])
            return builder.load(dst)

        return types.float64(x), codegen

    return intrinsic(typer)


def _exact_unary(name: str) -> Callable[[Any], Any]:
    """A stand-in for ``np.<name>`` whose compiled form calls numpy's own float64 loop."""
    ufunc = getattr(np, name)
    call = _loop_caller(name)

    def stub(x: Any) -> Any:
        return ufunc(x)

    stub.__name__ = stub.__qualname__ = f"exact_{name}"

    def typer(x: Any) -> Any:
        if isinstance(x, types.Float | types.Integer):

            def scalar(x: Any) -> Any:
                return call(x)

            return scalar
        if isinstance(x, types.Array):

            def elementwise(x: Any) -> Any:
                res = np.empty(x.shape)
                fx, fr = x.ravel(), res.ravel()
                for i in range(fr.size):
                    fr[i] = call(fx[i])
                return res

            return elementwise
        return None

    _overload(stub, typer, inline=True)
    return stub


# --- flat views ---------------------------------------------------------------------------------


def _flat_typer(typingctx: Any, arr: Any) -> Any:
    """A C-ordered array as a 1-D view, without numba's (slower, out-of-line) ``reshape``; a
    1-D array (of any strides) as itself."""
    if isinstance(arr, types.Array) and arr.ndim == 1:

        def same(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return _borrowed(context, builder, sig.return_type, args[0])

        return arr(arr), same
    if not (isinstance(arr, types.Array) and arr.layout == "C"):
        return None
    flat_type = arr.copy(ndim=1)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        src = context.make_array(sig.args[0])(context, builder, args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        context.populate_array(
            dst,
            data=src.data,
            shape=[src.nitems],
            strides=[src.itemsize],
            itemsize=src.itemsize,
            meminfo=src.meminfo,
            parent=src.parent,
        )
        return _borrowed(context, builder, sig.return_type, dst._getvalue())

    return flat_type(arr), codegen


flat: Any = intrinsic(_flat_typer)


# --- numpy's sums, elementwise functions and products, without temporaries ----------------------
#
# Kernels call numpy with ``out`` arrays, so that numpy allocates nothing but the temporaries of
# an expression. numba compiles such calls through its general ufunc machinery (broadcasting,
# strides, a fresh array for each temporary): for vectors of 4 that costs several times the
# arithmetic, an allocation ten times. The stand-ins below are plain loops over the few array
# shapes kernels use (anything else fails to compile, loudly). A product that is only summed,
# ``np.sum(np.multiply(x, y), axis, out)``, is never materialized: ``np.multiply`` without
# ``out`` returns an unevaluated :data:`_Product`, which only ``np.sum`` accepts, and the sum
# adds the terms in the order numpy adds those of the C-ordered product array.

_Product = collections.namedtuple("_Product", "x y")


def _term(src: Any, i: int) -> float:
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


_overload(_term, _term_typer, strict=False, inline=True)


# Loops over 4 elements (vectors with F = 4, the reference's demo) are written out: numba's loop
# of unknown length, vectorized with runtime checks of aliasing (which differ from instruction to
# instruction) and a remainder loop, costs twice the arithmetic at that length. All the loads
# come first, so that an output that is an input is still right.
_FOUR = 4

LANES = 4
"""Tasks per lane group: lockstep memory keeps the tasks innermost, ``s[group, address, lane]``,
so that a kernel inlined into a loop over the lanes of a group becomes SIMD instructions
across tasks (4 doubles: one AVX2 register)."""

FAST_DIMS = (_FOUR,)
"""Vector sizes F for which the lockstep jump table has branches compiled with F a constant
(the lanes' views then have constant shapes and strides: the kernels' loops over F are written
out, and LLVM can prove that lanes do not alias)."""


def _pairwise_block(src: Any, start: int, n: int) -> float:
    """numpy's ``pairwise_sum`` for ``n <= 128``: 8 accumulators, then the rest in order."""
    if n == _FOUR:  # written out, see _FOUR
        r0 = -0.0 + _term(src, start)
        return ((r0 + _term(src, start + 1)) + _term(src, start + 2)) + _term(src, start + 3)
    if n < 8:
        res = -0.0
        for i in range(n):
            res += _term(src, start + i)
        return res
    r0 = _term(src, start)
    r1 = _term(src, start + 1)
    r2 = _term(src, start + 2)
    r3 = _term(src, start + 3)
    r4 = _term(src, start + 4)
    r5 = _term(src, start + 5)
    r6 = _term(src, start + 6)
    r7 = _term(src, start + 7)
    i = 8
    while i < n - n % 8:
        j = start + i
        r0 += _term(src, j)
        r1 += _term(src, j + 1)
        r2 += _term(src, j + 2)
        r3 += _term(src, j + 3)
        r4 += _term(src, j + 4)
        r5 += _term(src, j + 5)
        r6 += _term(src, j + 6)
        r7 += _term(src, j + 7)
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += _term(src, start + i)
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


def _pairwise_sum(x: np.ndarray, start: int, n: int) -> float:
    """numpy's ``pairwise_sum`` of ``x[start:start + n]``."""
    return _pairwise_line((x, 0, 1), start, n)


def _span_typer(typingctx: Any, arr: Any, n: Any) -> Any:
    """The ``n`` elements from ``arr``'s first, as a 1-D view, whatever ``arr``'s strides."""
    if not (isinstance(arr, types.Array) and isinstance(n, types.Integer)):
        return None
    span_type = arr.copy(ndim=1, layout="C")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        src = context.make_array(sig.args[0])(context, builder, args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        context.populate_array(
            dst,
            data=src.data,
            shape=[context.cast(builder, args[1], sig.args[1], types.intp)],
            strides=[src.itemsize],
            itemsize=src.itemsize,
            meminfo=src.meminfo,
            parent=src.parent,
        )
        return _borrowed(context, builder, sig.return_type, dst._getvalue())

    return span_type(arr, n), codegen


_span: Any = intrinsic(_span_typer)


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
        return _span(a, 0), (n0, n1, n2), (s0, s1, s2)
    extent = 1 + (n0 - 1) * s0 + (n1 - 1) * s1 + (n2 - 1) * s2
    return _span(a, extent), (n0, n1, n2), (s0, s1, s2)


def _geometry(a: np.ndarray) -> Any:
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


_overload(_geometry, _geometry_typer, strict=False, inline=True)


def _broadcast(n: int, m: int) -> int:
    if n == m or m == 1:
        return n
    if n == 1:
        return m
    raise ValueError("operands could not be broadcast together")


def _overlap(a: Any, b: Any) -> bool:
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


_overload(_overlap, _overlap_typer, strict=False, inline=True)


def _at(x: Any, i: int) -> float:
    """Element ``i`` of a :func:`_flat_operand`."""
    raise NotImplementedError("compiled code only")


def _at_typer(x: Any, i: Any) -> Any:
    if isinstance(x[0], types.Array):
        return lambda x, i: x[0][i]
    if isinstance(x[0], types.Number):
        return lambda x, i: x[0]
    return None


def _flat_operand(x: Any, out: np.ndarray) -> Any:
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


def _moved(x: Any, out: np.ndarray) -> bool:
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


def _shape_of(x1: Any, x2: Any) -> tuple[int, ...]:
    """The shape of the first array operand."""
    raise NotImplementedError("compiled code only")


def _shape_of_typer(x1: Any, x2: Any) -> Any:
    if isinstance(x1, types.Array):
        return lambda x1, x2: x1.shape
    if isinstance(x2, types.Array):
        return lambda x1, x2: x2.shape
    return None


_overload(_at, _at_typer, strict=False, inline=True)
_overload(_flat_operand, _flat_operand_typer, strict=False, inline=True)
_overload(_moved, _moved_typer, strict=False, inline=True)
_overload(_shape_of, _shape_of_typer, strict=False, inline=True)


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


_jitable(_pairwise_tree, nrt=True)
_jitable(_pairwise_line2, _pairwise_line1)
_jitable(
    _pairwise_block,
    _pairwise_line,
    _pairwise_sum,
    _shaped,
    _broadcast,
    _bounds,
    _extent,
    inline=True,
)
_jitable(_greater_or_nan, _less_or_nan, _add, _subtract, _multiply, _divide, inline=True)
_jitable(_maximum, _minimum, _absolute, _square_root, inline=True)


def _c_arrays(*ts: Any) -> bool:
    """Whether arrays are C-ordered or 1-D (of any stride): what :func:`flat` takes."""
    return all(isinstance(t, types.Array) and (t.layout == "C" or t.ndim == 1) for t in ts)


# Kernels never make an operand that overlaps its output without being it: copying it first,
# as numpy does, would need a temporary array in every kernel that could.
_OVERLAP = "an operand overlaps the output without being it (not supported when compiled)"


def _elementwise_binary(name: str, fn: Callable[[float, float], float]) -> Callable[..., Any]:
    """A stand-in for ``np.<name>``: scalars, or same-shaped C-ordered arrays and scalars.

    ``np.multiply`` of arrays without ``out`` is the unevaluated :data:`_Product`.
    """
    ufunc = getattr(np, name)

    def stub(x1: Any, x2: Any, out: Any = None, order: str = "K") -> Any:
        return ufunc(x1, x2, out=out, order=order)

    stub.__name__ = stub.__qualname__ = f"exact_{name}"

    def typer(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
        if not all(isinstance(t, types.Array | types.Number) for t in (x1, x2)):
            return None
        arrays = [t for t in (x1, x2) if isinstance(t, types.Array)]
        if _is_none(out):
            if not arrays:

                def scalars(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
                    return fn(x1, x2)

                return scalars
            if name == "multiply":

                def lazy(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
                    return _Product(x1, x2)

                return lazy
            if not (_c_arrays(*arrays) and len({t.ndim for t in arrays}) == 1):
                return None

            def fresh(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
                return stub(x1, x2, np.empty(_shape_of(x1, x2)))

            return fresh
        if _c_arrays(out, *arrays) and all(t.ndim == out.ndim for t in arrays):

            def given(x1: Any, x2: Any, out: Any = None, order: Any = "K") -> Any:
                a = _flat_operand(x1, out)
                b = _flat_operand(x2, out)
                if _moved(x1, out) or _moved(x2, out):
                    raise ValueError(_OVERLAP)
                fo = flat(out)
                if fo.size == 4:  # see _FOUR
                    a0, a1, a2, a3 = _at(a, 0), _at(a, 1), _at(a, 2), _at(a, 3)
                    b0, b1, b2, b3 = _at(b, 0), _at(b, 1), _at(b, 2), _at(b, 3)
                    fo[0], fo[1], fo[2], fo[3] = fn(a0, b0), fn(a1, b1), fn(a2, b2), fn(a3, b3)
                    return out
                for i in range(fo.size):
                    fo[i] = fn(_at(a, i), _at(b, i))
                return out

            return given
        return None

    _overload(stub, typer, inline=True)
    return stub


def _elementwise_unary(name: str, fn: Callable[[float], float]) -> Callable[..., Any]:
    """A stand-in for ``np.<name>`` of a scalar or a C-ordered array."""
    ufunc = getattr(np, name)

    def stub(x: Any, out: Any = None) -> Any:
        return ufunc(x, out=out)

    stub.__name__ = stub.__qualname__ = f"exact_{name}"

    def typer(x: Any, out: Any = None) -> Any:
        if isinstance(x, types.Number) and _is_none(out):

            def scalar(x: Any, out: Any = None) -> Any:
                return fn(x)

            return scalar
        if not _c_arrays(x):
            return None
        if _is_none(out):

            def fresh(x: Any, out: Any = None) -> Any:
                return stub(x, np.empty(x.shape))

            return fresh
        if _c_arrays(out) and out.ndim == x.ndim:

            def given(x: Any, out: Any = None) -> Any:
                a = _flat_operand(x, out)
                if _moved(x, out):
                    raise ValueError(_OVERLAP)
                fo = flat(out)
                if fo.size == 4:  # see _FOUR
                    a0, a1, a2, a3 = _at(a, 0), _at(a, 1), _at(a, 2), _at(a, 3)
                    fo[0], fo[1], fo[2], fo[3] = fn(a0), fn(a1), fn(a2), fn(a3)
                    return out
                for i in range(fo.size):
                    fo[i] = fn(_at(a, i))
                return out

            return given
        return None

    _overload(stub, typer, inline=True)
    return stub


def _exact_copyto(dst: Any, src: Any) -> Any:
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


_jitable(_gather, _transpose_in_place, inline=True)


def _copyto_typer(dst: Any, src: Any) -> Any:
    """numpy's ``copyto`` into a C-ordered array, with broadcasting. A source overlapping the
    destination must be it, or (square) its transpose, which is transposed in place."""
    if not (_c_arrays(dst) and dst.ndim <= 3):
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
        g = _geometry(src)
        h = _geometry(dst)
        d0, d1, d2 = h[1]
        fd = flat(dst)
        if not _overlap(src, dst):
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


def _exact_outer(a: Any, b: Any, out: Any = None) -> Any:
    return np.outer(a, b, out)


def _outer_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    ga = _geometry(a)
    gb = _geometry(b)
    sa, na, ta = ga[0], ga[1][2], ga[2][2]
    sb, nb, tb = gb[0], gb[1][2], gb[2][2]
    if out.shape != (na, nb):
        raise ValueError("out has the wrong shape")
    fo = flat(out)
    for i in range(na):
        x = sa[i * ta]
        for j in range(nb):
            fo[i * nb + j] = x * sb[j * tb]


_jitable(_outer_into, inline=True)


def _outer_typer(a: Any, b: Any, out: Any = None) -> Any:
    """numpy's ``outer`` of two vectors: one product per element."""
    if not all(isinstance(t, types.Array) and t.ndim == 1 for t in (a, b)):
        return None
    if _is_none(out):

        def fresh(a: Any, b: Any, out: Any = None) -> Any:
            res = np.empty((a.shape[0], b.shape[0]))
            _outer_into(a, b, res)
            return res

        return fresh
    if not (_c_arrays(out) and out.ndim == 2):
        return None

    def given(a: Any, b: Any, out: Any = None) -> Any:
        if _overlap(a, out) or _overlap(b, out):
            raise ValueError(_OVERLAP)
        _outer_into(a, b, out)
        return out

    return given


def _line(gx: Any, gy: Any, xo: int, yo: int, axis: int) -> Any:
    """The terms along ``axis`` from offsets ``xo`` (and ``yo``), as a :func:`_term` source."""
    raise NotImplementedError("compiled code only")


def _line_typer(gx: Any, gy: Any, xo: Any, yo: Any, axis: Any) -> Any:
    if _is_none(gy):
        return lambda gx, gy, xo, yo, axis: (gx[0], xo, gx[2][axis])
    return lambda gx, gy, xo, yo, axis: (gx[0], xo, gx[2][axis], gy[0], yo, gy[2][axis])


def _offset(g: Any, p: int, q: int, ip: int, iq: int) -> int:
    raise NotImplementedError("compiled code only")


def _offset_typer(g: Any, p: Any, q: Any, ip: Any, iq: Any) -> Any:
    if _is_none(g):
        return lambda g, p, q, ip, iq: 0
    return lambda g, p, q, ip, iq: ip * g[2][p] + iq * g[2][q]


def _dims(gx: Any, gy: Any) -> tuple[int, int, int]:
    raise NotImplementedError("compiled code only")


def _dims_typer(gx: Any, gy: Any) -> Any:
    if _is_none(gy):
        return lambda gx, gy: gx[1]
    return lambda gx, gy: (
        _broadcast(gx[1][0], gy[1][0]),
        _broadcast(gx[1][1], gy[1][1]),
        _broadcast(gx[1][2], gy[1][2]),
    )


_overload(_line, _line_typer, strict=False, inline=True)
_overload(_offset, _offset_typer, strict=False, inline=True)
_overload(_dims, _dims_typer, strict=False, inline=True)


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
                    total += _term(src, k)
            fo[ip * n_q + iq] = total


_SCRATCH = 256  # doubles on the stack: the product of two 16 x 16 matrices


def _scratch_typer(typingctx: Any, n: Any) -> Any:
    """A 1-D float64 array of ``n <= _SCRATCH`` elements on the stack of the function it is
    used in (uninitialized, never to escape it)."""
    if not isinstance(n, types.Integer):
        return None
    array_type = types.Array(types.float64, 1, "C")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        buf = _cg.alloca_once(builder, ir.DoubleType(), size=_SCRATCH)
        arr = context.make_array(array_type)(context, builder)
        itemsize = context.get_constant(types.intp, 8)
        context.populate_array(
            arr,
            data=buf,
            shape=[context.cast(builder, args[0], sig.args[0], types.intp)],
            strides=[itemsize],
            itemsize=itemsize,
            meminfo=None,
        )
        return arr._getvalue()

    return array_type(n), codegen


_scratch: Any = intrinsic(_scratch_typer)


def _reduce_via_heap(gx: Any, gy: Any, axis: int, fo: np.ndarray) -> None:
    tmp = np.empty(fo.size)
    _reduce_into(gx, gy, axis, tmp)
    for i in range(fo.size):
        fo[i] = tmp[i]


def _reduce_via_temporary(gx: Any, gy: Any, axis: int, fo: np.ndarray) -> None:
    """:func:`_reduce_into` for an output that overlaps an operand (``v1 = m0 @ v1``)."""
    if fo.size > _SCRATCH:
        _reduce_via_heap(gx, gy, axis, fo)
        return
    tmp = _scratch(fo.size)
    _reduce_into(gx, gy, axis, tmp)
    for i in range(fo.size):
        fo[i] = tmp[i]


_jitable(_reduce_into, inline=True)
_jitable(_reduce_via_heap, nrt=True)
_jitable(_reduce_via_temporary)


def _sum_along(a: np.ndarray, axis: int, out: np.ndarray) -> None:
    nd = a.ndim
    k = (axis + nd if axis < 0 else axis) + 3 - nd
    if k < 3 - nd or k > 2:
        raise ValueError("axis out of range")
    if _overlap(a, out):
        _reduce_via_temporary(_geometry(a), None, k, flat(out))
    else:
        _reduce_into(_geometry(a), None, k, flat(out))


_jitable(_sum_along, inline=True)


def _exact_sum(a: Any, axis: Any = None, out: Any = None) -> Any:
    return np.sum(a, axis=axis, out=out)


def _sum_typer(a: Any, axis: Any = None, out: Any = None) -> Any:
    """numpy's ``sum`` of an array (up to 3-D) or of a :data:`_Product`, over everything or
    one axis. Arrays reduced over an axis and products must be C-ordered, as numpy's product
    array is (pass ``order="C"`` to ``np.multiply`` where an operand is not)."""
    named: Any = a
    if isinstance(a, types.BaseNamedTuple) and named.instance_class is _Product:
        x, y = named.types
        if not all(isinstance(t, types.Array) and t.ndim <= 3 for t in (x, y)):
            return None
        nd = max(x.ndim, y.ndim)
        if _is_none(axis) and _is_none(out):
            if not (_c_arrays(x, y) and x.ndim == y.ndim):
                return None

            def whole_product(a: Any, axis: Any = None, out: Any = None) -> Any:
                if a.x.shape != a.y.shape:
                    raise ValueError("operands could not be broadcast together")
                src = (flat(a.x), 0, 1, flat(a.y), 0, 1)
                return 0.0 + _pairwise_line(src, 0, a.x.size)

            return whole_product
        if not (isinstance(axis, types.Integer) and _c_arrays(out) and out.ndim == nd - 1):
            return None

        def along_product(a: Any, axis: Any = None, out: Any = None) -> Any:
            k = (axis + nd if axis < 0 else axis) + 3 - nd
            if k < 3 - nd or k > 2:
                raise ValueError("axis out of range")
            if _overlap(a.x, out) or _overlap(a.y, out):
                _reduce_via_temporary(_geometry(a.x), _geometry(a.y), k, flat(out))
            else:
                _reduce_into(_geometry(a.x), _geometry(a.y), k, flat(out))
            return out

        return along_product
    if not isinstance(a, types.Array) or a.ndim > 3:
        return None
    nd = a.ndim
    if _is_none(axis) and _is_none(out):
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

    if _is_none(out):
        if nd != 2:
            return None

        def rows_or_columns(a: Any, axis: Any = None, out: Any = None) -> Any:
            res = np.empty(a.shape[1] if axis == 0 or axis == -2 else a.shape[0])
            _sum_along(a, axis, res)
            return res

        return rows_or_columns
    if not (_c_arrays(out) and out.ndim == nd - 1):
        return None

    def given(a: Any, axis: Any = None, out: Any = None) -> Any:
        _sum_along(a, axis, out)
        return out

    return given


def _exact_mean(a: Any) -> Any:
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


def _exact_dot(a: Any, b: Any) -> Any:
    return np.dot(a, b)


def _dot_typer(a: Any, b: Any) -> Any:
    raise numba.core.errors.TypingError(
        "np.dot in a kernel: numpy computes it with the BLAS it ships, whose summation order "
        "depends on the CPU; write the sum of products, np.sum(np.multiply(x, y), axis, out)"
    )


_overload(_exact_copyto, _copyto_typer, inline=True)
_overload(_exact_outer, _outer_typer, inline=True)
_overload(_exact_sum, _sum_typer, inline=True)
_overload(_exact_mean, _mean_typer, inline=True)
_overload(_exact_dot, _dot_typer)
_BINARY = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "divide": _divide,
    "maximum": _maximum,
    "minimum": _minimum,
}
_EXACT: dict[str, Callable[..., Any]] = {name: _exact_unary(name) for name in EXACT_UFUNCS}
_EXACT.update({name: _elementwise_binary(name, fn) for name, fn in _BINARY.items()})
_EXACT.update(abs=_elementwise_unary("abs", _absolute))
_EXACT.update(sqrt=_elementwise_unary("sqrt", _square_root))
_EXACT.update(absolute=_EXACT["abs"], true_divide=_EXACT["divide"], copyto=_exact_copyto)
_EXACT.update(outer=_exact_outer, sum=_exact_sum, mean=_exact_mean, dot=_exact_dot)
_exact_exp = _EXACT["exp"]
_exact_arctan = _EXACT["arctan"]


def _numpy_exact() -> pytypes.ModuleType:
    mod = pytypes.ModuleType("primeval_numpy_exact", "numpy, computing as numpy does, in numba")
    mod.__dict__.update({k: v for k, v in vars(np).items() if not k.startswith("__")})
    mod.__dict__["__getattr__"] = lambda name: getattr(np, name)
    mod.__dict__.update(_EXACT)
    return mod


NUMPY_EXACT = _numpy_exact()
"""What ``np`` means in compiled kernels: numpy, with the functions numba computes otherwise
replaced by ones that compute as numpy does."""


def jit_kernel(kernel: Callable[..., None], inline: bool = False, nrt: bool = True) -> Any:
    """``kernel`` compiled, with its module's ``np`` bound to :data:`NUMPY_EXACT`; with
    ``inline``, marked for LLVM to inline (numba's ``forceinline``, see :func:`_jitable`);
    without ``nrt``, without numba's runtime: no reference counting of array views (and no
    allocation)."""
    env = dict(kernel.__globals__)
    if env.get("np") is np:
        env["np"] = NUMPY_EXACT
    clone = pytypes.FunctionType(
        kernel.__code__, env, kernel.__name__, kernel.__defaults__, kernel.__closure__
    )
    clone.__qualname__ = kernel.__qualname__
    clone.__module__ = kernel.__module__
    options: Any = {"forceinline": inline, "_nrt": nrt, "error_model": "numpy", **_NO_WRAPPERS}
    return njit(**options)(clone)


# --- generators and arrays, passed without numba's boxing ---------------------------------------


def _generator_typer(typingctx: Any, addresses: Any) -> Any:
    """numba's ``Generator`` value, rebuilt from :func:`generator_addresses`.

    Fills the fields numba's own unboxing fills (``numba/core/boxing.py``) without its Python
    round trips. The value is never boxed, so ``parent`` and ``meminfo`` stay null; the
    Python caller keeps the generator alive.
    """
    if not (isinstance(addresses, types.Array) and addresses.dtype == types.uint64):
        return None
    gen_type = types.NumPyRandomGeneratorType("NumPyRandomGeneratorType")
    bits_type = types.NumPyRandomBitGeneratorType("bit_generator")
    fields = (
        "state_address",
        "state",
        "fnptr_next_uint64",
        "fnptr_next_uint32",
        "fnptr_next_double",
        "bit_generator",
    )

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        null = _cg.get_null_value(context.get_value_type(types.pyobject))
        bits = _cg.create_struct_proxy(bits_type)(context, builder)
        bits.parent = null
        for k, field in enumerate(fields):
            setattr(bits, field, builder.load(builder.gep(arr.data, [ir.IntType(64)(k)])))
        gen = _cg.create_struct_proxy(gen_type)(context, builder)
        gen.bit_generator = bits._getvalue()
        gen.meminfo = _cg.get_null_value(gen.meminfo.type)
        gen.parent = null
        return gen._getvalue()

    return gen_type(addresses), codegen


generator_from: Any = intrinsic(_generator_typer)

_ADDRESSES: dict[int, tuple[np.random.Generator, np.ndarray]] = {}


def generator_addresses(rng: np.random.Generator, cache: bool = True) -> np.ndarray:
    """The ``(6,)`` uint64 addresses :func:`generator_from` takes, optionally cached."""
    hit = _ADDRESSES.get(id(rng))
    if hit is not None and hit[0] is rng:
        return hit[1]
    ct = rng.bit_generator.ctypes
    pointers = (ct.next_uint64, ct.next_uint32, ct.next_double)
    values = [ct.state_address, ct.state.value]
    values += [ctypes.cast(p, ctypes.c_void_p).value for p in pointers]
    values.append(ct.bit_generator.value)
    out = np.array(values, dtype=np.uint64)
    out.setflags(write=False)
    if not cache:
        return out
    if len(_ADDRESSES) >= 64:
        del _ADDRESSES[next(iter(_ADDRESSES))]
    _ADDRESSES[id(rng)] = (rng, out)  # holding the generator keeps the addresses valid
    return out


def _borrow_typer(typingctx: Any, arr: Any) -> Any:
    """The same array with a null ``meminfo``: numba does no reference counting on it.

    Counting costs an atomic increment and decrement of the owner's count for every view a
    kernel takes. Only for arrays that outlive the compiled call: the caller's.
    """
    if not isinstance(arr, types.Array):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        src = context.make_array(sig.args[0])(context, builder, args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(dst, field, getattr(src, field))
        dst.meminfo = _cg.get_null_value(dst.meminfo.type)
        dst.parent = _cg.get_null_value(dst.parent.type)
        return dst._getvalue()

    return arr(arr), codegen


borrow: Any = intrinsic(_borrow_typer)


def _frozen_typer(typingctx: Any, arr: Any) -> Any:
    """The same array (counted as it was), typed read-only: callers passing the program's
    encoded arrays read-only or not then share one compilation of what they call."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return _borrowed(context, builder, sig.return_type, args[0])

    return arr.copy(readonly=True)(arr), codegen


frozen: Any = intrinsic(_frozen_typer)


def _lane_typer(typingctx: Any, arr: Any, g: Any, u: Any, dim: Any) -> Any:
    """Lane ``u`` of group ``g`` of lockstep memory: ``arr[g, ..., u]`` of a C-ordered float64
    array ``(G, n, W)`` or ``(G, n, F, W)`` whose last axis has :data:`LANES` lanes (the caller
    checks), without reference counting. With ``dim`` a literal, ``F`` is that constant, and
    so are the view's strides (``W * 8`` and ``F * W * 8`` bytes)."""
    if not (
        isinstance(arr, types.Array)
        and arr.layout == "C"
        and arr.ndim in (3, 4)
        and arr.dtype == types.float64
        and all(isinstance(x, types.Integer) for x in (g, u, dim))
    ):
        return None
    fixed = getattr(dim, "literal_value", None)
    view = arr.copy(ndim=arr.ndim - 2, layout="A")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        src = context.make_array(sig.args[0])(context, builder, args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        intp = context.get_value_type(types.intp)
        shape = _cg.unpack_tuple(builder, src.shape)
        gi = context.cast(builder, args[1], sig.args[1], types.intp)
        ui = context.cast(builder, args[2], sig.args[2], types.intp)
        lane = intp(LANES)
        if arr.ndim == 3:
            dims = [shape[1]]
            strides = [intp(LANES * 8)]
        else:
            f = intp(fixed) if fixed is not None else shape[2]
            dims = [shape[1], f]
            strides = [builder.mul(f, intp(LANES * 8)), intp(LANES * 8)]
        group = builder.mul(lane, dims[0])
        if arr.ndim == 4:
            group = builder.mul(group, dims[1])
        first = builder.add(builder.mul(gi, group), ui)
        context.populate_array(
            dst,
            data=builder.gep(src.data, [first]),
            shape=dims,
            strides=strides,
            itemsize=src.itemsize,
            meminfo=None,
            parent=None,
        )
        return dst._getvalue()

    return view(arr, g, u, dim), codegen


lane: Any = intrinsic(prefer_literal=True)(_lane_typer)


class NoAliasCompiler(numba.core.compiler.Compiler):
    """numba's compiler, with the function's pointer arguments marked ``noalias`` for LLVM (the
    flag numba sets for its own gufuncs): for a function whose array arguments never overlap,
    so that LLVM may reorder the loads and stores of different arrays (the lockstep memory
    banks: the lanes of an instruction reading one bank and writing another become one SIMD
    instruction)."""

    def define_pipelines(self) -> Any:
        self.state.flags.noalias = True
        return super().define_pipelines()  # type: ignore[no-untyped-call]


# --- the evaluation protocol (its source is compiled into the generated module) -----------------


def _exec(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    lo: int,
    hi: int,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Run instructions ``lo:hi``. In the generated module the call becomes a jump table."""
    for i in range(lo, hi):
        a, b, o = (int(x) for x in args[i])
        REGISTRY[int(ops[i])].kernel(s, v, m, a, b, o, data[i], rng)


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + _exact_exp(-x)))


def _validation_fitness(loss: float, nv: int, classification: bool) -> float:
    """The end of ``reference._validate``: accuracy, or the squashed RMS error."""
    if nv == 0:
        return 0.0
    if classification:
        return 1.0 - loss / nv
    rmse = np.sqrt(loss / nv)
    if not np.isfinite(rmse):
        return 0.0
    return float(1.0 - _TWO_OVER_PI * _exact_arctan(rmse))


def _load(v: np.ndarray, x: np.ndarray, row: int) -> None:
    for f in range(x.shape[1]):
        v[FEATURES, f] = x[row, f]


def _zero(a: np.ndarray) -> None:
    a[...] = 0.0


def _zero_typer(a: Any) -> Any:
    """Compiled: one loop over a C-ordered array (numba's ``a[...] = 0.0`` calls ``memset``
    once per row)."""
    if not _c_arrays(a):
        return None

    def loop(a: Any) -> None:
        fa = flat(a)
        for i in range(fa.size):
            fa[i] = 0.0

    return loop


def _load_lanes(v: np.ndarray, x: np.ndarray, row: Any, dim: int) -> None:
    """The features of example ``row`` of lane-ordered examples ``x`` (``(rows, G, F, W)``)
    into the vector banks ``v`` (``(G, n_v, F, W)``)."""
    for g in range(np.uint64(v.shape[0])):
        for f in range(np.uint64(dim)):
            for u in range(LANES):
                v[g, FEATURES, f, u] = x[row, g, f, u]


def _set_labels(s: np.ndarray, y: np.ndarray, row: Any) -> None:
    """``s[LABEL]`` of every lane from lane-ordered labels ``y[row]`` (``(rows, G, W)``)."""
    for g in range(np.uint64(s.shape[0])):
        for u in range(LANES):
            s[g, LABEL, u] = y[row, g, u]


def _clear_labels(s: np.ndarray) -> None:
    for g in range(np.uint64(s.shape[0])):
        for u in range(LANES):
            s[g, LABEL, u] = 0.0


def _any_fails(
    s: np.ndarray, y: np.ndarray, row: Any, mask: np.ndarray, max_abs_error: float
) -> bool:
    """Whether a lane in ``mask`` has an error ``|y - prediction|`` that is NaN or above
    ``max_abs_error`` (regression). Branch-free over the lanes: SIMD."""
    bad = 0
    for g in range(np.uint64(s.shape[0])):
        for u in range(LANES):
            err = abs(y[row, g, u] - s[g, PREDICTION, u])
            bad |= (mask[g * np.uint64(LANES) + u] != 0) & (not err <= max_abs_error)
    return bad != 0


def _add_losses(s: np.ndarray, y: np.ndarray, row: Any, mask: np.ndarray, loss: np.ndarray) -> None:
    """``loss += (y - prediction) ** 2`` on the lanes in ``mask`` (regression), as the
    protocol adds a validation error, branch-free over the lanes (SIMD)."""
    for g in range(np.uint64(s.shape[0])):
        for u in range(LANES):
            t = g * np.uint64(LANES) + u
            error = y[row, g, u] - s[g, PREDICTION, u]
            total = loss[t] + error * error
            loss[t] = total if mask[t] != 0 else loss[t]


def _save_lane(s: np.ndarray, v: np.ndarray, t: Any, bs: np.ndarray, bv: np.ndarray) -> None:
    """Task ``t``'s scalars and vectors, out of the lanes."""
    g, u = t // LANES, t % LANES
    for a in range(s.shape[1]):
        bs[t, a] = s[g, a, u]
    for a in range(v.shape[1]):
        for f in range(v.shape[2]):
            bv[t, a, f] = v[g, a, f, u]


def _restore_lane(s: np.ndarray, v: np.ndarray, t: Any, bs: np.ndarray, bv: np.ndarray) -> None:
    g, u = t // LANES, t % LANES
    for a in range(s.shape[1]):
        s[g, a, u] = bs[t, a]
    for a in range(v.shape[1]):
        for f in range(v.shape[2]):
            v[g, a, f, u] = bv[t, a, f]


_jitable(_validation_fitness)
_jitable(_sigmoid, _load, _load_lanes, _set_labels, _clear_labels, inline=True)
_jitable(_any_fails, _add_losses, inline=True)
_jitable(_save_lane, _restore_lane)
_overload(_zero, _zero_typer, inline=True)

# What the instructions just run were.
_SETUP, _PREDICT, _LEARN, _VALIDATE = 0, 1, 2, 3

_KIND_CODES = {Kind.SCALAR: 0, Kind.VECTOR: 1, Kind.MATRIX: 2}


_VECTOR_KIND = _KIND_CODES[Kind.VECTOR]


def _writes_features(
    ops: np.ndarray, args: np.ndarray, bounds: np.ndarray, arg_kinds: np.ndarray
) -> bool:
    """Whether Predict writes ``v0``, which then holds the features no more. (A function: a
    flag set from literals would be typed ``Literal[bool]`` first, and the lockstep protocol
    compiled twice.)"""
    for i in range(bounds[1], bounds[2]):
        if arg_kinds[ops[i], 2] == _VECTOR_KIND and args[i, 2] == FEATURES:
            return True
    return False


_jitable(_writes_features)


def _draws_table(specs: list[OpSpec]) -> np.ndarray:
    """Whether op code ``c`` draws random numbers."""
    table = np.zeros(max(spec.code for spec in specs) + 1, dtype=np.bool_)
    table[[spec.code for spec in specs if spec.stochastic]] = True
    return table


def _arg_kinds_table(specs: list[OpSpec]) -> np.ndarray:
    """The bank (0 scalars, 1 vectors, 2 matrices) of op code ``c``'s ``in1, in2, out``
    addresses, -1 where unused."""
    table = np.full((max(spec.code for spec in specs) + 1, 3), -1, dtype=np.int8)
    for spec in specs:
        for slot, kind in enumerate(spec.inputs):
            table[spec.code, slot] = _KIND_CODES[kind]
        if spec.output is not None:
            table[spec.code, 2] = _KIND_CODES[spec.output]
    return table


# The generated module has its own, from the ops it compiles.
_DRAWS = _draws_table(list(REGISTRY))
_ARG_KINDS = _arg_kinds_table(list(REGISTRY))


def _run_task(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    bounds: np.ndarray,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    rng: Any,
    train_x: np.ndarray,
    train_y: np.ndarray,
    order: np.ndarray,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
    classification: bool,
    n_train: int,
    n_valid: int,
    max_abs_error: float,
    errors: np.ndarray,
    record: bool,
) -> float:
    """``reference._run`` on one task; ``errors`` receives its probe row when ``record``.

    The reference's nested loops (epochs; training, then validation examples) are one loop
    here that runs a component and then decides what runs next, so that the jump table is
    expanded at a single place.
    """
    s[:] = 0.0
    v[:, :] = 0.0
    m[:, :, :] = 0.0
    total = min(n_train, order.shape[0])
    per_epoch = min(train_x.shape[0], total)
    nv = min(n_valid, valid_x.shape[0])
    best = 0.0
    fitness = 0.0
    step = 0  # training steps taken, over all epochs
    stop = 0  # where the current epoch's training ends
    first_epoch = True
    y = 0.0  # the current example's label
    k = 0  # the current validation example
    loss = 0.0
    stage = _SETUP
    lo, hi = bounds[0], bounds[1]
    while True:
        _exec(ops, args, data, lo, hi, s, v, m, rng)
        if stage == _PREDICT:
            if classification:
                s[PREDICTION] = _sigmoid(s[PREDICTION])
            err = abs(y - s[PREDICTION])
            if np.isnan(err) or err > max_abs_error:
                return best  # training stops; 0.0 in the first epoch
            if record and first_epoch:
                errors[step] = err
            _load(v, train_x, order[step])
            s[LABEL] = y
            stage, lo, hi = _LEARN, bounds[2], bounds[3]
            continue
        if stage == _LEARN:
            step += 1
            if step < stop:
                y = train_y[order[step]]
                _load(v, train_x, order[step])
                s[LABEL] = 0.0
                stage, lo, hi = _PREDICT, bounds[1], bounds[2]
                continue
            k = 0
            loss = 0.0
            if k < nv:
                _load(v, valid_x, k)
                s[LABEL] = 0.0
                stage, lo, hi = _VALIDATE, bounds[1], bounds[2]
                continue
            fitness = _validation_fitness(loss, nv, classification)
        elif stage == _VALIDATE:
            y = valid_y[k]
            if classification:
                p = _sigmoid(s[PREDICTION])
                error = 0.0 if ((y > 0.5) == (p > 0.5)) else 1.0
            else:
                error = y - s[PREDICTION]
            a = abs(error)
            if np.isnan(a) or a > max_abs_error:
                fitness = 0.0
            else:
                if record and first_epoch:
                    errors[n_train + k] = a
                loss += error if classification else error * error
                k += 1
                if k < nv:
                    _load(v, valid_x, k)
                    s[LABEL] = 0.0
                    continue
                fitness = _validation_fitness(loss, nv, classification)
        if stage != _SETUP:  # an epoch's validation is done
            if fitness > best:
                best = fitness
            first_epoch = False
        if step >= total:
            return best
        stop = min(step + per_epoch, total)
        y = train_y[order[step]]
        _load(v, train_x, order[step])
        s[LABEL] = 0.0
        stage, lo, hi = _PREDICT, bounds[1], bounds[2]


def _exec_tasks(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    lo: int,
    hi: int,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    mask: np.ndarray,
    dim: int,
) -> None:
    """Run instructions ``lo:hi`` on every group of lanes, each instruction on every lane
    before the next. Deterministic ops only. In the generated module the call becomes a jump
    table whose branches loop over the groups and their lanes (:func:`_lockstep_branch`): the
    kernels of scalar and vector ops inlined into a loop of :data:`LANES` iterations, which
    LLVM turns into SIMD instructions across tasks; other kernels called on each lane in
    ``mask``."""
    for i in range(lo, hi):
        a, b, o = (int(x) for x in args[i])
        spec = REGISTRY[int(ops[i])]
        for g in range(s.shape[0]):
            for u in range(LANES):
                t = g * LANES + u
                if _every_lane(spec) or mask[t] != 0:
                    spec.kernel(s[g, :, u], v[g, :, :, u], m[t], a, b, o, data[i], None)


def _run_lockstep(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    bounds: np.ndarray,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    lanes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_tasks: int,
    n_examples: int,
    classification: bool,
    n_train: int,
    n_valid: int,
    max_abs_error: float,
    fitness: np.ndarray,
    errors: np.ndarray,
    record: bool,
    reload: bool,
    ints: np.ndarray,
    floats: np.ndarray,
    bs: np.ndarray,
    bv: np.ndarray,
) -> None:
    """:func:`_run_task` on every task at once, for a program that draws no random numbers.

    All tasks have as many examples and epochs, so they take the same steps: each component
    runs on all tasks, instruction by instruction, and the dispatch of an instruction is paid
    once for all tasks. Tasks are lanes, :data:`LANES` to a group (:func:`bank_arrays`):
    ``s (G, n_s, W)``, ``v (G, n_v, F, W)``, ``m (G * W, n_m, F, F)``; ``lanes`` are the
    examples in that order (:func:`lane_arrays`), ``(train_x (E*N, G, F, W), train_y (E*N, G,
    W), valid_x (Nv, G, F, W), valid_y (Nv, G, W))``, training examples in each task's order.
    Scalar and vector ops run on every lane (lanes past ``n_tasks`` hold copies of the last
    task), whether its task still runs or not, so that they run as SIMD instructions; the
    other ops only on the lanes in ``mask``. A task leaves ``mask`` (and ``alive``) when its
    training stops (its fitness is then final), and ``mask`` alone for the rest of an epoch's
    validation when a validation error fails (that epoch's fitness is 0): its scalars and
    vectors are then saved (``bs``, ``bv``) and put back after the validation, as if its
    Predict had not run on the remaining examples (its matrices are not touched). Writes
    ``fitness`` and, when ``record``, the probe rows ``errors``.

    The features are loaded again before Learn only if ``reload`` (Predict may write ``v0``).
    ``ints`` (uint64, ``(3, G * W)``: ``alive``, ``mask`` and the groups' links), ``floats``
    (``(2, G * W)``), ``bs`` and ``bv`` are workspace: compiled without numba's runtime, so
    that no array view counts references, this function cannot allocate. Compiled with its
    array arguments ``noalias`` (:class:`NoAliasCompiler`): they must not overlap. Tasks and
    examples are indexed with unsigned integers: numba then drops the handling of negative
    indices.
    """
    train_x, train_y, valid_x, valid_y = lanes
    n_groups = np.uint64(s.shape[0])
    dim = v.shape[2]
    _zero(s)
    _zero(v)
    _zero(m)
    total = np.uint64(min(n_train, int(train_x.shape[0])))
    per_epoch = np.uint64(min(n_examples, int(total)))
    nv = np.uint64(min(n_valid, valid_x.shape[0]))
    first_valid = np.uint64(n_train)  # the probe's first validation column
    alive, mask, after = ints[0], ints[1], ints[2]
    if n_tasks == 0:
        return
    for g in range(n_groups):
        after[g] = g + 1
    best, loss = floats[0], floats[1]
    for t in range(n_tasks):
        alive[t] = 1
        mask[t] = 1
        best[t] = 0.0
    for t in range(n_tasks, alive.shape[0]):
        alive[t] = 0
        mask[t] = 0
    n_alive = n_tasks
    step = np.uint64(0)  # training steps taken, over all epochs
    stop = np.uint64(0)  # where the current epoch's training ends
    first_epoch = True
    k = np.uint64(0)  # the current validation example
    stage = _SETUP
    lo, hi = bounds[0], bounds[1]
    while True:
        _exec_tasks(ops, args, data, lo, hi, s, v, m, mask, dim)
        if stage == _PREDICT:
            slow = classification or (record and first_epoch)
            if not slow:
                slow = _any_fails(s, train_y, step, alive, max_abs_error)
            for t in range(n_tasks if slow else 0):
                if alive[t] == 0:
                    continue
                tg, tu = np.uint64(t) // np.uint64(LANES), np.uint64(t) % np.uint64(LANES)
                if classification:
                    s[tg, PREDICTION, tu] = _sigmoid(s[tg, PREDICTION, tu])
                err = abs(train_y[step, tg, tu] - s[tg, PREDICTION, tu])
                if np.isnan(err) or err > max_abs_error:
                    fitness[t] = best[t]  # training stops; 0.0 in the first epoch
                    alive[t] = 0
                    mask[t] = 0
                    n_alive -= 1
                    continue
                if record and first_epoch:
                    errors[t, step] = err
            if n_alive == 0:
                return  # every task's training stopped
            if reload:
                _load_lanes(v, train_x, step, dim)
            _set_labels(s, train_y, step)
            stage, lo, hi = _LEARN, bounds[2], bounds[3]
            continue
        if stage == _LEARN:
            step += np.uint64(1)
            if step < stop:
                _load_lanes(v, train_x, step, dim)
                _clear_labels(s)
                stage, lo, hi = _PREDICT, bounds[1], bounds[2]
                continue
            for t in range(n_tasks):
                loss[t] = 0.0
            k = np.uint64(0)
            n_valid_run = n_alive
            if nv > np.uint64(0):
                _load_lanes(v, valid_x, k, dim)
                _clear_labels(s)
                stage, lo, hi = _VALIDATE, bounds[1], bounds[2]
                continue
        elif stage == _VALIDATE:
            slow = classification or (record and first_epoch)
            if not slow:
                slow = _any_fails(s, valid_y, k, mask, max_abs_error)
                if not slow:
                    _add_losses(s, valid_y, k, mask, loss)
            for t in range(n_tasks if slow else 0):
                if mask[t] == 0:
                    continue
                tg, tu = np.uint64(t) // np.uint64(LANES), np.uint64(t) % np.uint64(LANES)
                y = valid_y[k, tg, tu]
                if classification:
                    p = _sigmoid(s[tg, PREDICTION, tu])
                    error = 0.0 if ((y > 0.5) == (p > 0.5)) else 1.0
                else:
                    error = y - s[tg, PREDICTION, tu]
                a = abs(error)
                if np.isnan(a) or a > max_abs_error:
                    mask[t] = 0  # this epoch's fitness is 0.0; Predict runs no more on it
                    _save_lane(s, v, t, bs, bv)
                    n_valid_run -= 1
                    continue
                if record and first_epoch:
                    errors[t, first_valid + k] = a
                loss[t] += error if classification else error * error
            k += np.uint64(1)
            if k < nv and n_valid_run > 0:  # the next example
                _load_lanes(v, valid_x, k, dim)
                _clear_labels(s)
                continue
        if stage != _SETUP:  # an epoch's validation is done
            for t in range(n_tasks):
                if alive[t] == 0:
                    continue
                if mask[t] != 0:
                    f = _validation_fitness(loss[t], int(nv), classification)
                    if f > best[t]:
                        best[t] = f
                else:
                    _restore_lane(s, v, t, bs, bv)
                    mask[t] = 1
            first_epoch = False
        if step >= total:
            for t in range(n_tasks):
                if alive[t] != 0:
                    fitness[t] = best[t]
            return
        stop = min(step + per_epoch, total)
        _load_lanes(v, train_x, step, dim)
        _clear_labels(s)
        stage, lo, hi = _PREDICT, bounds[1], bounds[2]


def run_tasks_with(
    known: np.ndarray,
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    bounds: np.ndarray,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    train_x: np.ndarray,
    train_y: np.ndarray,
    order: np.ndarray,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
    lanes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    classification: bool,
    n_train: int,
    n_valid: int,
    max_abs_error: float,
    rngs: np.ndarray,
    fitness: np.ndarray,
    probe: np.ndarray,
) -> int:
    """Evaluate on every task; ``rngs`` holds one generator, or one per task.

    ``s, v, m`` are the memory banks in lanes (:func:`bank_arrays`: ``(G, n_s, W)``,
    ``(G, n_v, F, W)``, ``(G * W, n_m, F, F)``, at least as many groups as the tasks fill;
    contents ignored); ``lanes`` the tasks' examples in lanes (:func:`lane_arrays`). Writes
    ``fitness (T,)`` and, when ``probe`` has rows, the probe errors ``(T, n_train + n_valid)``.
    Returns -1; or the index ``i`` of an instruction whose op is not in ``known``; or ``-2 - i``
    for an instruction with an address outside the memory banks (then nothing runs). Every array
    is the caller's, so they are borrowed without reference counting.

    A program that draws random numbers runs task after task (:func:`_run_task`, on the
    task's lane of the memory), drawing in the reference's order; any other runs on all tasks
    in lockstep (:func:`_run_lockstep`).
    """
    draws = False
    for i in range(ops.shape[0]):
        if ops[i] < 0 or ops[i] >= known.shape[0] or not known[ops[i]]:
            return i
        draws = draws or _DRAWS[ops[i]]
    sizes = (s.shape[1], v.shape[1], m.shape[1])
    for i in range(ops.shape[0]):
        for slot in range(3):
            kind = _ARG_KINDS[ops[i], slot]
            if kind >= 0 and (args[i, slot] < 0 or args[i, slot] >= sizes[kind]):
                return -2 - i
    n_tasks, dim = train_x.shape[0], train_x.shape[2]
    n_groups = (n_tasks + LANES - 1) // LANES
    n_lanes = n_groups * LANES
    lx, ly, lvx, lvy = lanes
    if (
        s.shape[2] != LANES
        or v.shape[3] != LANES
        or v.shape[2] != dim
        or s.shape[0] < n_groups
        or v.shape[0] < n_groups
        or m.shape[0] < n_lanes
        or lx.shape[1:] != (n_groups, dim, LANES)
        or lvx.shape[1:] != (n_groups, dim, LANES)
        or ly.shape[1:] != (n_groups, LANES)
        or lvy.shape[1:] != (n_groups, LANES)
        or lx.shape[0] != order.shape[1]
        or lvx.shape[0] != valid_x.shape[1]
    ):
        raise ValueError("memory or lanes do not match the tasks")
    ops, args, data, bounds = borrow(ops), borrow(args), borrow(data), borrow(bounds)
    s, v, m = borrow(s[:n_groups]), borrow(v[:n_groups]), borrow(m[:n_lanes])
    train_x, train_y, order = borrow(train_x), borrow(train_y), borrow(order)
    valid_x, valid_y = borrow(valid_x), borrow(valid_y)
    lanes = (borrow(lx), borrow(ly), borrow(lvx), borrow(lvy))
    rngs, fitness, probe = borrow(rngs), borrow(fitness), borrow(probe)
    record = probe.shape[0] > 0
    if not draws:
        reload = _writes_features(ops, args, bounds, _ARG_KINDS)
        _run_lockstep(
            ops, args, data, bounds, s, v, m, lanes, n_tasks, train_x.shape[1], classification,
            n_train, n_valid, max_abs_error, fitness, probe, record, reload,
            np.empty((3, n_lanes), dtype=np.uint64), np.empty((2, n_lanes)),
            np.empty((n_lanes, s.shape[1])), np.empty((n_lanes, v.shape[1], dim)),
        )  # fmt: skip
        return -1
    for t in range(n_tasks):
        rng = generator_from(rngs[t if rngs.shape[0] > 1 else 0])
        g, u = t // LANES, t % LANES
        fitness[t] = _run_task(
            ops, args, data, bounds, lane(s, g, u, dim), lane(v, g, u, dim), m[t], rng,
            train_x[t], train_y[t], order[t], valid_x[t], valid_y[t], classification, n_train,
            n_valid, max_abs_error, probe[t if record else 0], record,
        )  # fmt: skip
    return -1


# --- the generated module and its disk cache ----------------------------------------------------

_HEADER = '''"""Compiled protocol and op dispatch for primeval, generated from the op registry.

Written by primeval.algorithms.interpret.compiled (see its docstring); do not edit. The
protocol is copied from there, its ``_exec(...)`` and ``_exec_tasks(...)`` lines expanded
into jump tables over the registered kernels. The file name hashes everything the machine
code depends on, so that numba's on-disk cache next to it can be trusted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from primeval.algorithms.interpret import compiled as _c
from primeval.algorithms.interpret.compiled import (
    _LEARN,
    _PREDICT,
    _SETUP,
    _VALIDATE,
    FEATURES,
    LABEL,
    PREDICTION,
    LANES,
    _add_losses,
    _any_fails,
    _clear_labels,
    _load,
    _load_lanes,
    _restore_lane,
    _save_lane,
    _set_labels,
    _sigmoid,
    _validation_fitness,
    _writes_features,
    _zero,
    borrow,
    generator_from,
    lane,
)
'''

_ENTRY = """

@njit(cache=True, error_model="numpy")
def run_tasks(
    ops, args, data, bounds, s, v, m, train_x, train_y, order, valid_x, valid_y, lanes,
    classification, n_train, n_valid, max_abs_error, rngs, fitness, probe,
):
    return run_tasks_with(
        _KNOWN, ops, args, data, bounds, s, v, m, train_x, train_y, order, valid_x, valid_y,
        lanes, classification, n_train, n_valid, max_abs_error, rngs, fitness, probe,
    )
"""

_EXEC_CALL = "_exec(ops, args, data, lo, hi, s, v, m, rng)"
_EXEC_TASKS_CALL = "_exec_tasks(ops, args, data, lo, hi, s, v, m, mask, dim)"


def _kernel_arguments(spec: OpSpec, banks: tuple[str, str, str] = ("s", "v", "m")) -> str:
    """A kernel call's arguments. A bank the op's signature does not name, and the generator
    of a deterministic op, are passed as ``None``: smaller compiled kernels, no reference
    counting, and a kernel touching anything else fails to compile, loudly."""
    kinds = {kind.value for kind in (*spec.inputs, *((spec.output,) if spec.output else ()))}
    named = [bank if name in kinds else "None" for name, bank in zip("svm", banks, strict=True)]
    return ", ".join([*named, "_a", "_b", "_o", "_d", "rng" if spec.stochastic else "None"])


def _inlined(spec: OpSpec) -> bool:
    """Whether the jump tables inline the op's kernel (see the module docstring)."""
    return not spec.stochastic and spec.cost in (Cost.SCALAR, Cost.VECTOR)


def _kinds(spec: OpSpec) -> set[Kind]:
    return {*spec.inputs, *((spec.output,) if spec.output else ())}


def _every_lane(spec: OpSpec) -> bool:
    """Whether lockstep runs the op on every lane of a group, tasks running or not: the
    inlined ops (see :func:`_inlined`) that touch no matrix (matrices are not saved when a
    task's validation stops)."""
    return _inlined(spec) and Kind.MATRIX not in _kinds(spec)


def _lockstep_branch(spec: OpSpec) -> list[str]:
    """A lockstep jump table's branch for a deterministic op: the kernel on every lane of
    every group, inlined into a loop of :data:`LANES` iterations (see
    :func:`_every_lane`; ops on vectors once per size in :data:`FAST_DIMS`, with the views'
    shapes constant, and once for any other size), or on the lanes in ``mask`` (the others)."""
    uses_vectors = Kind.VECTOR in _kinds(spec)

    def loop(dim: str) -> list[str]:
        banks = (f"lane(s, _g, _u, {dim})", f"lane(v, _g, _u, {dim})", "m[_t]")
        # A loop over the groups linked by ``after`` (``after[g] = g + 1``): LLVM cannot count
        # its iterations, so neither unrolls it nor vectorizes it (code it would multiply by
        # 8, for the few groups there are); it writes out the loop over the lanes.
        call = f"_k{spec.code}({_kernel_arguments(spec, banks)})"
        lines = ["_g = np.uint64(0)", "while True:", f"    for _u in range({LANES}):"]
        if _every_lane(spec):
            lines.append(f"        {call}")
        else:
            lines += [f"        _t = _g * {LANES} + _u", "        if mask[_t] != 0:",
                      f"            {call}"]  # fmt: skip
        return [*lines, "    _g = after[_g]", "    if _g >= n_groups:", "        break"]

    if not (_every_lane(spec) and uses_vectors and FAST_DIMS):
        return loop("dim")
    lines: list[str] = []
    for k, dim in enumerate(FAST_DIMS):
        lines.append(f"{'if' if k == 0 else 'elif'} dim == {dim}:")
        lines += ["    " + line for line in loop(str(dim))]
    lines.append("else:")
    lines += ["    " + line for line in loop("dim")]
    return lines


def _jump_table(specs: list[OpSpec], indent: str, lockstep: bool = False) -> list[str]:
    """Compiled :func:`_exec` (or, ``lockstep``, :func:`_exec_tasks`): one branch per op, each
    calling the op's kernel (on each lane, see :func:`_lockstep_branch`). Lockstep has no
    branch for ops that draw random numbers: :func:`run_tasks_with` runs programs with them
    task by task."""
    lines = [
        "for _i in range(np.uint64(lo), np.uint64(hi)):",
        "    _op = ops[_i]",
        "    _a = np.uint64(args[_i, 0])  # unsigned: no negative-index handling in kernels",
        "    _b = np.uint64(args[_i, 1])",
        "    _o = np.uint64(args[_i, 2])",
        "    _d = (data[_i, 0], data[_i, 1], data[_i, 2])  # a tuple: no array view to count",
    ]
    for k, spec in enumerate([s for s in specs if not (lockstep and s.stochastic)]):
        lines.append(f"    {'if' if k == 0 else 'elif'} _op == {spec.code}:  # {spec.name}")
        if lockstep:
            lines += ["        " + line for line in _lockstep_branch(spec)]
        else:
            lines.append(f"        _k{spec.code}({_kernel_arguments(spec)})")
    return [indent + line for line in lines]


def _protocol_source(specs: list[OpSpec]) -> list[str]:
    """:func:`_run_task`, :func:`_run_lockstep` and :func:`run_tasks_with` with the
    ``_exec`` and ``_exec_tasks`` calls expanded.

    Expanded in the source rather than inlined as a function, which would count references
    to its arguments around every component run.
    """
    lines: list[str] = []
    for fn, call in ((_run_task, _EXEC_CALL), (_run_lockstep, _EXEC_TASKS_CALL)):
        if sum(line.strip() == call for line in inspect.getsource(fn).splitlines()) != 1:
            raise RuntimeError(f"{fn.__name__} must call {call} exactly once")
    internal = ", no_cpython_wrapper=True, no_cfunc_wrapper=True"  # called from compiled code
    protocol: list[tuple[Callable[..., Any], str]] = [
        (_run_task, internal),
        (_run_lockstep, internal + ", _nrt=False, pipeline_class=_c.NoAliasCompiler"),
        (run_tasks_with, ", cache=True"),
    ]
    for fn, options in protocol:
        lines += ["", "", f'@njit(error_model="numpy"{options})']
        for line in inspect.getsource(fn).splitlines():
            indent = line[: len(line) - len(line.lstrip())]
            if line.strip() == _EXEC_CALL:
                lines += _jump_table(specs, indent)
            elif line.strip() == _EXEC_TASKS_CALL:
                lines += _jump_table(specs, indent, lockstep=True)
            else:
                lines.append(line)
    return lines


EXTENSIONS = ("primeval.algorithms.compiled_search",)
"""Modules compiled into the generated module after the interpreter, so that their loops call
its jump table directly. Each lists the functions to copy in ``GENERATED`` (they call
``run_tasks_with``) and the ones to expose, cached on disk, in ``ENTRIES`` (name: function);
the rest of its namespace (jitable helpers, constants) is visible to them."""


def _extension_source() -> list[str]:
    lines: list[str] = []
    for k, name in enumerate(EXTENSIONS):
        module = importlib.import_module(name)
        lines += ["", f"import {name} as _x{k}  # noqa: E402"]
        lines.append(
            f"globals().update({{n: o for n, o in vars(_x{k}).items() if n not in globals()}})"
        )
        for fn in module.GENERATED:
            lines += ["", "", '@njit(error_model="numpy")', *inspect.getsource(fn).splitlines()]
        for entry, fn in module.ENTRIES.items():
            params = ", ".join(inspect.signature(fn).parameters)
            lines += ["", "", '@njit(cache=True, error_model="numpy")']
            lines += [f"def {entry}({params}):", f"    return {fn.__name__}({params})"]
    return lines


def generate_source(specs: list[OpSpec] | None = None) -> str:
    """The generated module: kernels, the protocol with its jump table, ``run_tasks``."""
    specs = list(REGISTRY) if specs is None else specs
    modules = sorted({spec.kernel.__module__ for spec in specs})
    alias = {name: f"_m{k}" for k, name in enumerate(modules)}
    lines = [_HEADER]
    lines += [f"import {name} as {alias[name]}  # noqa: E402" for name in modules]
    lines.append("")
    for spec in specs:
        target = f"{alias[spec.kernel.__module__]}.{spec.kernel.__qualname__}"
        options = "" if spec.stochastic else ", nrt=False"
        options += ", inline=True" if _inlined(spec) else ""
        lines.append(f"_k{spec.code} = _c.jit_kernel({target}{options})  # {spec.name}")
    known = ", ".join(str(spec.code) for spec in specs)
    lines.append(f"_KNOWN = np.zeros({max(s.code for s in specs) + 1}, dtype=np.bool_)")
    lines.append(f"_KNOWN[np.array([{known}])] = True")
    lines.append(f"_DRAWS = np.array({_draws_table(specs).tolist()}, dtype=np.bool_)")
    lines.append(f"_ARG_KINDS = np.array({_arg_kinds_table(specs).tolist()}, dtype=np.int8)")
    lines += _protocol_source(specs)
    lines += _extension_source()
    return "\n".join(lines) + "\n" + _ENTRY


def cache_dir() -> Path:
    """Where generated modules (and numba's machine code, in ``__pycache__``) are kept."""
    env = os.environ.get("PRIMEVAL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "primeval" / "numba"


def _fingerprint(source: str, specs: list[OpSpec]) -> str:
    """A hash of everything compiled into the generated module."""
    h = hashlib.sha256(source.encode())
    modules = {spec.kernel.__module__ for spec in specs}
    modules |= {__name__, reference.__name__, "primeval.algorithms.memory", *EXTENSIONS}
    for name in sorted(modules):
        h.update(inspect.getsource(sys.modules[name]).encode())
    versions = (np.__version__, numba.__version__, llvmlite.__version__, sys.version)
    h.update(repr(versions).encode())
    return h.hexdigest()[:20]


_lock = threading.Lock()
_module: pytypes.ModuleType | None = None


def load_dispatch() -> pytypes.ModuleType:
    """Write the generated module to the cache directory (if new) and import it, once."""
    global _module
    with _lock:
        if _module is not None:
            return _module
        specs = list(REGISTRY)
        source = generate_source(specs)
        name = f"primeval_dispatch_{_fingerprint(source, specs)}"
        folder = cache_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            folder = Path(tempfile.gettempdir()) / f"primeval-numba-{os.getuid()}"
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        if not path.exists() or path.read_text() != source:
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_text(source)
            os.replace(tmp, path)  # atomic: concurrent processes never see half a file
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _module = module
        return module


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """An exclusive lock on the disk cache (a file lock: across processes)."""
    module = load_dispatch()
    path = Path(module.__file__ or ".").parent / ".compile.lock"
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_cached(entry: str) -> bool:
    """Whether numba's disk cache holds machine code of the generated module's ``entry``
    (e.g. ``"evolve"``): a process calling it then loads it rather than compiling."""
    module = load_dispatch()
    folder = Path(module.__file__ or ".").parent / "__pycache__"
    return any(folder.glob(f"{module.__name__}.{entry}-*.nbi"))


# --- the interpreter ----------------------------------------------------------------------------


class vectorizing:
    """Compile with LLVM's SLP vectorizer on (numba leaves it off by default): the lockstep
    jump table's loops over the lanes of a group are written out by LLVM and become SIMD
    instructions only through it. Calls that may compile the generated module (its functions
    compile at their first call) are made inside. SLP vectorization only packs isomorphic
    operations: no reassociation, no contraction, the same results."""

    def __enter__(self) -> None:
        self._before = getattr(numba.config, "SLP_VECTORIZE", 0)
        setattr(numba.config, "SLP_VECTORIZE", 1)  # noqa: B010 (untyped module)

    def __exit__(self, *exc: object) -> None:
        setattr(numba.config, "SLP_VECTORIZE", self._before)  # noqa: B010


_NO_PROBE = np.empty((0, 0))
_IDLE_RNG = np.random.default_rng(0)  # for programs that draw nothing: never advanced

# Scratch memory banks by (tasks, banks, F), and generators' address rows: a few microseconds of
# Python per evaluation otherwise. Compiled code holds the GIL, so a bank is in one call at a time.
_MEMORY: dict[tuple[int, int, int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
_ROWS: dict[int, tuple[np.random.Generator, np.ndarray]] = {}


def bank_arrays(
    n_tasks: int, scalars: int, vectors: int, matrices: int, dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Memory banks for ``n_tasks`` tasks in lanes, as :func:`run_tasks_with` takes them:
    ``s (G, n_s, W)``, ``v (G, n_v, F, W)``, ``m (G * W, max(n_m, 1), F, F)`` with
    ``W = LANES`` and ``G`` groups enough for the tasks (uninitialized)."""
    groups = -(-n_tasks // LANES)
    return (
        np.empty((groups, scalars, LANES)),
        np.empty((groups, vectors, dim, LANES)),
        np.empty((groups * LANES, max(matrices, 1), dim, dim)),
    )


def lane_arrays(
    train_x: np.ndarray,
    train_y: np.ndarray,
    order: np.ndarray,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stacked tasks' examples (``TaskSet.stacked``) as lockstep reads them, tasks innermost
    in groups of :data:`LANES`: ``train_x (E*N, G, F, W)`` and ``train_y (E*N, G, W)`` in each
    task's training order (``order``), ``valid_x (Nv, G, F, W)``, ``valid_y (Nv, G, W)``. Lanes
    past the last task hold copies of it. Read-only."""
    n, _, dim = train_x.shape
    groups = -(-n // LANES)
    src = np.minimum(np.arange(groups * LANES), max(n - 1, 0))
    rows = order[src]
    steps, nv = order.shape[1], valid_x.shape[1]
    tx = train_x[src[:, None], rows]
    ty = train_y[src[:, None], rows]
    out = (
        tx.reshape(groups, LANES, steps, dim).transpose(2, 0, 3, 1),
        ty.reshape(groups, LANES, steps).transpose(2, 0, 1),
        valid_x[src].reshape(groups, LANES, nv, dim).transpose(2, 0, 3, 1),
        valid_y[src].reshape(groups, LANES, nv).transpose(2, 0, 1),
    )
    lanes = tuple(np.ascontiguousarray(a, dtype=np.float64) for a in out)
    for a in lanes:
        a.setflags(write=False)
    return lanes  # type: ignore[return-value]


_LANE_ARRAYS: dict[int, tuple[TaskSet, tuple[np.ndarray, ...]]] = {}


def _lanes_of(task_set: TaskSet) -> tuple[np.ndarray, ...]:
    """:func:`lane_arrays` of a task set, cached."""
    hit = _LANE_ARRAYS.get(id(task_set))
    if hit is not None and hit[0] is task_set:
        return hit[1]
    st = task_set.stacked()
    lanes = lane_arrays(st["train_x"], st["train_y"], st["order"], st["valid_x"], st["valid_y"])
    if len(_LANE_ARRAYS) >= 16:
        del _LANE_ARRAYS[next(iter(_LANE_ARRAYS))]
    _LANE_ARRAYS[id(task_set)] = (task_set, lanes)  # holding the set keeps its id unique
    return lanes


def _memory(banks: Banks, n: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = (n, banks.scalars, banks.vectors, banks.matrices, dim)
    hit = _MEMORY.get(key)
    if hit is None:
        if len(_MEMORY) >= 16:
            del _MEMORY[next(iter(_MEMORY))]
        hit = _MEMORY[key] = bank_arrays(n, banks.scalars, banks.vectors, banks.matrices, dim)
    return hit


def _generator_rows(rng: np.random.Generator) -> np.ndarray:
    """``generator_addresses(rng)[None]``, cached."""
    hit = _ROWS.get(id(rng))
    if hit is not None and hit[0] is rng:
        return hit[1]
    rows = generator_addresses(rng)[None]
    if len(_ROWS) >= 64:
        del _ROWS[next(iter(_ROWS))]
    _ROWS[id(rng)] = (rng, rows)  # holding the generator keeps the addresses valid
    return rows


class CompiledInterpreter:
    """Evaluates programs as :class:`~.reference.ReferenceInterpreter` does, to the bit, in
    one compiled call per program. The first use compiles (or loads cached machine code)."""

    name = "compiled"

    def __init__(self, max_abs_error: float = MAX_ABS_ERROR) -> None:
        self.max_abs_error = float(max_abs_error)

    def warm_up(self) -> None:
        """Compile (or load from the disk cache) now rather than at the first evaluation."""
        x = np.zeros((2, 2))
        task = Task(x, np.zeros(2), x, np.zeros(2))
        self.fitnesses(Program.empty(sizes=(1, 1, 1)), TaskSet.of([task]), _IDLE_RNG)

    def fitnesses(
        self,
        program: Program,
        tasks: TaskSet | list[Task],
        rng: np.random.Generator,
        n_train: int | None = None,
        n_valid: int | None = None,
    ) -> np.ndarray:
        """Best validation fitness on each task, drawing from ``rng`` task after task."""
        fitness = np.empty(len(tasks))
        self._run(program, tasks, _generator_rows(rng), n_train, n_valid, fitness, _NO_PROBE)
        return fitness

    def probe(
        self, program: Program, tasks: TaskSet | list[Task], n_train: int, n_valid: int, seed: int
    ) -> np.ndarray:
        """``(tasks, n_train + n_valid)`` errors of a short run, NaN where not reached.

        As in the reference, each task's run draws from a generator freshly seeded with
        ``seed``; a program without stochastic ops draws nothing and needs no generator.
        """
        out = np.full((len(tasks), n_train + n_valid), np.nan)
        if np.take(_DRAWS, program.encode()[0], mode="clip").any():
            gens = [np.random.default_rng(seed) for _ in range(len(tasks))]
            rngs = np.stack([generator_addresses(g, cache=False) for g in gens])
            rngs.setflags(write=False)  # the same array type in every call: one compilation
        else:
            gens = [_IDLE_RNG]
            rngs = _generator_rows(_IDLE_RNG)
        self._run(program, tasks, rngs, n_train, n_valid, np.empty(len(tasks)), out)
        del gens  # the generators lived until the compiled call returned
        return out

    def _run(
        self,
        program: Program,
        tasks: TaskSet | list[Task],
        rngs: np.ndarray,
        n_train: int | None,
        n_valid: int | None,
        fitness: np.ndarray,
        probe: np.ndarray,
    ) -> None:
        if (n_train is not None and n_train < 0) or (n_valid is not None and n_valid < 0):
            raise ValueError("n_train and n_valid must be >= 0")
        dispatch = _module if _module is not None else load_dispatch()
        task_set = tasks if isinstance(tasks, TaskSet) else TaskSet.of(tasks)
        st = task_set.stacked()
        ops, args, data, bounds = program.encode()
        memory = _memory(program.banks, len(task_set), task_set.dim)
        with vectorizing():
            bad = dispatch.run_tasks_with(
                dispatch._KNOWN, ops, args, data, bounds, *memory,
                st["train_x"], st["train_y"], st["order"], st["valid_x"], st["valid_y"],
                _lanes_of(task_set), task_set.classification,
                st["order"].shape[1] if n_train is None else int(n_train),
                st["valid_x"].shape[1] if n_valid is None else int(n_valid),
                self.max_abs_error, rngs, fitness, probe,
            )  # fmt: skip
        if bad >= 0:
            REGISTRY[int(ops[bad])]  # raises the registry's KeyError, as the reference does
        if bad < -1:
            i = -2 - bad
            component = int(np.searchsorted(bounds[1:], i, side="right"))
            spec = REGISTRY[int(ops[i])]
            raise IndexError(
                f"{('setup', 'predict', 'learn')[component]}[{i - bounds[component]}] "
                f"({spec.name}): addresses {tuple(int(a) for a in args[i])} are out of range "
                f"for memory {program.banks}"
            )
