"""The compiled interpreter: the reference protocol in one numba call per program.

It gives the answers of :mod:`~primeval.algorithms.interpret.reference`, bit for bit, about
100 times faster. The protocol is AutoML-Zero's (Real et al., "AutoML-Zero: Evolving Machine
Learning Algorithms From Scratch", ICML 2020, Sec. 4 and the reference ``Executor``); the
reference module's docstring lists its steps.

Design:

- **Dispatch generated from the registry.** Each op is defined once, as a kernel in
  :mod:`~primeval.algorithms.ops`. :func:`generate_source` writes a module that compiles
  every registered kernel and the protocol (:func:`_run_task`, :func:`run_tasks_with`, plain
  Python here), with the protocol's single ``_exec(...)`` line expanded into an ``if/elif``
  chain over op codes calling the kernels (LLVM makes the chain a jump table). One call of
  the generated ``run_tasks`` evaluates a program on every task, epoch and example.
- **Disk cache.** The generated source goes to ``$PRIMEVAL_CACHE_DIR`` (default
  ``~/.cache/primeval/numba``) under a name hashing it, every kernel module, this module and
  the numpy / numba / Python versions, and is imported from there so that numba's
  ``cache=True`` works (numba cannot cache code built with ``exec``): a second process loads
  machine code instead of compiling. Nothing compiles at import; the first evaluation does.
- **Bit-identical to the reference.** numba reimplements numpy, not always the way numpy
  computes. numpy evaluates ``exp``, ``log``, ``tan``, ``arcsin``, ``arccos`` and ``arctan``
  with its own SIMD code (AVX-512, SVML), which differs from the C library's in the last bit
  for a few percent of inputs; it sums with pairwise summation; its ``maximum``/``minimum``
  return the second argument when both are zeros of either sign; its ``dot`` of vectors is
  ``0.0 + cblas_ddot`` from the BLAS it ships. The kernels are therefore compiled against
  :data:`NUMPY_EXACT`, the ``numpy`` namespace with those functions replaced: the
  transcendental functions call numpy's own float64 ufunc loop and ``dot`` numpy's own
  ``cblas_ddot`` (their addresses are linked under fixed symbol names, so cached code stays
  valid in a new process), and ``sum``/``mean``/``maximum``/``minimum`` follow numpy's
  algorithms. Random draws go through the caller's generator, as in numpy.
- **Speed.** The generator is passed as its bit generator's addresses (numba's unboxing of a
  ``Generator`` costs about 7 us per call); arrays are borrowed without reference counting;
  the jump table is expanded once, so Setup, Predict and Learn all run at the same place.

``tests/test_compiled.py`` checks equality with the reference on random programs over all ops.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import tempfile
import threading
import types as pytypes
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import llvmlite
import llvmlite.binding as llvm_binding
import numba
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload, register_jitable

from primeval.algorithms.interpret import reference
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR
from primeval.algorithms.memory import FEATURES, LABEL, PREDICTION
from primeval.algorithms.ops import REGISTRY, OpSpec
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import Task, TaskSet

# Kernels are compiled as separate functions, which LLVM may still inline. numba's own
# inlining ("always") compiles a little faster (34 s instead of 37 s, cold) but counts
# references to the kernel's array arguments on every call: 10-20% fewer evaluations/s.
KERNEL_INLINE: Literal["never", "always"] = "never"
_TWO_OVER_PI = 2.0 / np.pi  # the reference's constant, computed the same way

_cg: Any = cgutils  # llvmlite / numba code generation helpers are untyped
_borrowed: Any = impl_ret_borrowed


def _jitable(*fns: Callable[..., Any]) -> None:
    """Make plain functions callable from compiled code (compiled with numpy's error model).

    Helpers stay separate functions (LLVM may inline them): numba-level inlining counts
    references to array arguments and, for these helpers, doubled the first compilation.
    """
    for fn in fns:
        register_jitable(error_model="numpy")(fn)


def _overload(stub: Callable[..., Any], typer: Callable[..., Any]) -> None:
    overload(stub, jit_options={"error_model": "numpy"})(typer)


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


def _numpy_ddot() -> tuple[int, int] | None:
    """Address and integer width of the ``cblas_ddot`` numpy calls, if it can be found."""
    lib = ctypes.CDLL(importlib.import_module("numpy._core._multiarray_umath").__file__)
    for name, bits in (("scipy_cblas_ddot64_", 64), ("scipy_cblas_ddot", 32)):
        fn = getattr(lib, name, None)
        if fn is not None:
            return int(ctypes.cast(fn, ctypes.c_void_p).value or 0), bits
    return None


def _loop_symbol(name: str) -> str:
    return f"primeval_numpy_{name}_float64"


_LOOPS = {name: _float64_loop(getattr(np, name)) for name in EXACT_UFUNCS}
_DDOT = _numpy_ddot()
_DDOT_SYMBOL = "primeval_numpy_cblas_ddot"

# Compiled code (fresh or from the disk cache) calls these by name; the addresses are this
# process's.
for _name, (_loop, _data) in _LOOPS.items():
    llvm_binding.add_symbol(_loop_symbol(_name), _loop)
    if _data:
        llvm_binding.add_symbol(_loop_symbol(_name) + "_data", _data)
if _DDOT is not None:
    llvm_binding.add_symbol(_DDOT_SYMBOL, _DDOT[0])


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

    _overload(stub, typer)
    return stub


def _ddot_typer(typingctx: Any, x: Any, y: Any) -> Any:
    """``cblas_ddot(n, x, 1, y, 1)`` for two contiguous float64 vectors, ``n = len(x)``."""
    assert _DDOT is not None
    bits = _DDOT[1]

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        xs = context.make_array(sig.args[0])(context, builder, args[0])
        ys = context.make_array(sig.args[1])(context, builder, args[1])
        blas_int = ir.IntType(bits)
        double_ptr = ir.DoubleType().as_pointer()
        fnty = ir.FunctionType(
            ir.DoubleType(), [blas_int, double_ptr, blas_int, double_ptr, blas_int]
        )
        ddot = _cg.get_or_insert_function(builder.module, fnty, _DDOT_SYMBOL)
        n = _cg.unpack_tuple(builder, xs.shape)[0]
        if bits != 64:
            n = builder.trunc(n, blas_int)
        x_ptr = builder.bitcast(xs.data, double_ptr)
        y_ptr = builder.bitcast(ys.data, double_ptr)
        return builder.call(ddot, [n, x_ptr, blas_int(1), y_ptr, blas_int(1)])

    return types.float64(x, y), codegen


_cblas_ddot: Any = intrinsic(_ddot_typer)
_vector_dot: Any = _cblas_ddot if _DDOT is not None else np.dot  # numba's: the same routine


def _exact_dot(a: Any, b: Any) -> Any:
    return np.dot(a, b)


def _dot_typer(a: Any, b: Any) -> Any:
    """numpy's ``dot`` (``cblas_matrixproduct``) of float64 vectors and matrices.

    Vectors: numpy's ``DOUBLE_dot``, ``0.0 + cblas_ddot``. A one-element operand is a scalar
    to numpy: the result is a plain product. Otherwise numba's ``dot``, which calls the same
    BLAS routines (gemv, gemm) as numpy.
    """

    def is_float(t: Any) -> bool:
        return isinstance(t, types.Array) and t.dtype == types.float64 and t.ndim in (1, 2)

    if not (is_float(a) and is_float(b)):

        def passthrough(a: Any, b: Any) -> Any:
            return np.dot(a, b)

        return passthrough
    if a.ndim == b.ndim == 1 and a.layout == b.layout == "C":

        def vectors(a: Any, b: Any) -> Any:
            if a.size != b.size:
                raise ValueError("shapes not aligned")
            if a.size <= 1:
                return a[0] * b[0] if a.size == 1 else 0.0
            return 0.0 + _vector_dot(a, b)

        return vectors

    def general(a: Any, b: Any) -> Any:
        res = np.dot(a, b)
        if a.size == 1 and b.size == 1:
            res.ravel()[0] = a.ravel()[0] * b.ravel()[0]
        return res

    return general


_overload(_exact_dot, _dot_typer)


# --- flat views ---------------------------------------------------------------------------------


def _flat_typer(typingctx: Any, arr: Any) -> Any:
    """A C-ordered array as a 1-D view, without numba's (slower, out-of-line) ``reshape``."""
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


# --- numpy's summation and extrema --------------------------------------------------------------


def _pairwise_block(x: np.ndarray, start: int, n: int) -> float:
    """numpy's ``pairwise_sum`` for ``n <= 128``: 8 accumulators, then the rest in order."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += x[start + i]
        return res
    r0 = x[start]
    r1 = x[start + 1]
    r2 = x[start + 2]
    r3 = x[start + 3]
    r4 = x[start + 4]
    r5 = x[start + 5]
    r6 = x[start + 6]
    r7 = x[start + 7]
    i = 8
    while i < n - n % 8:
        j = start + i
        r0 += x[j]
        r1 += x[j + 1]
        r2 += x[j + 2]
        r3 += x[j + 3]
        r4 += x[j + 4]
        r5 += x[j + 5]
        r6 += x[j + 6]
        r7 += x[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[start + i]
        i += 1
    return float(res)


def _pairwise_sum(x: np.ndarray, start: int, n: int) -> float:
    """numpy's ``pairwise_sum`` of ``x[start:start + n]``."""
    if n <= 128:
        return _pairwise_block(x, start, n)
    return _pairwise_tree(x, start, n)


def _pairwise_tree(x: np.ndarray, start: int, n: int) -> float:
    """Above 128 elements numpy adds the sums of two halves (the first a multiple of 8 long).

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
            sums[depth] = _pairwise_block(x, at, size)
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


def _sum_all(a: np.ndarray) -> float:
    return 0.0 + _pairwise_sum(flat(a), 0, a.size)  # a numpy sum starts from +0.0


def _sum_rows(a: np.ndarray) -> np.ndarray:
    cols = a.shape[1]
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = 0.0 + _pairwise_sum(flat(a), i * cols, cols)
    return out


def _sum_columns(a: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[1])
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j] += a[i, j]
    return out


def _greater_or_nan(a: float, b: float) -> bool:
    return a > b or a != a


def _less_or_nan(a: float, b: float) -> bool:
    return a < b or a != a


_jitable(_pairwise_tree)
_jitable(_pairwise_block, _pairwise_sum, _sum_all, _sum_rows, _sum_columns)
_jitable(_greater_or_nan, _less_or_nan)


def _exact_sum(a: Any, axis: Any = None) -> Any:
    return np.sum(a, axis=axis)


def _exact_mean(a: Any) -> Any:
    return np.mean(a)


def _exact_maximum(a: Any, b: Any, out: Any = None) -> Any:
    return np.maximum(a, b, out=out)


def _exact_minimum(a: Any, b: Any, out: Any = None) -> Any:
    return np.minimum(a, b, out=out)


def _sum_typer(a: Any, axis: Any = None) -> Any:
    """numpy's sum of a C-ordered 1-D or 2-D array, ``axis`` None, 0 or 1 (or -1, -2)."""
    if not isinstance(a, types.Array) or a.ndim not in (1, 2):
        return None
    if a.ndim == 1:

        def vector(a: Any, axis: Any = None) -> Any:
            return 0.0 + _pairwise_sum(a, 0, a.size)

        return vector
    if _is_none(axis):

        def whole(a: Any, axis: Any = None) -> Any:
            return _sum_all(a)

        return whole
    if isinstance(axis, types.Integer):

        def along(a: Any, axis: Any = None) -> Any:
            if axis == 0 or axis == -2:
                return _sum_columns(a)
            if axis == 1 or axis == -1:
                return _sum_rows(a)
            raise ValueError("axis out of range for a 2-D array")

        return along
    return None


def _mean_typer(a: Any) -> Any:
    """numpy's mean of a whole array: its pairwise sum divided by the element count."""
    if not isinstance(a, types.Array):
        return None
    if a.ndim == 1:

        def vector(a: Any) -> Any:
            return (0.0 + _pairwise_sum(a, 0, a.size)) / a.size

        return vector

    def mean(a: Any) -> Any:
        return _sum_all(a) / a.size

    return mean


def _extremum_typer(first_wins: Callable[[float, float], bool]) -> Callable[..., Any]:
    """numpy's maximum / minimum: NaN propagates, and a tie (``0.0`` vs ``-0.0``) gives ``b``."""

    def typer(a: Any, b: Any, out: Any = None) -> Any:
        if isinstance(a, types.Number) and isinstance(b, types.Number) and _is_none(out):

            def scalar(a: Any, b: Any, out: Any = None) -> Any:
                return a if first_wins(a, b) else b

            return scalar
        if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
            return None
        if _is_none(out):

            def fresh(a: Any, b: Any, out: Any = None) -> Any:
                res = np.empty(a.shape)
                fa, fb, fr = flat(a), flat(b), flat(res)
                for i in range(fr.size):
                    fr[i] = fa[i] if first_wins(fa[i], fb[i]) else fb[i]
                return res

            return fresh
        if isinstance(out, types.Array) and out.layout == "C":

            def into(a: Any, b: Any, out: Any = None) -> Any:
                fa, fb, fr = flat(a), flat(b), flat(out)
                for i in range(fr.size):
                    fr[i] = fa[i] if first_wins(fa[i], fb[i]) else fb[i]
                return out

            return into
        return None

    return typer


_overload(_exact_sum, _sum_typer)
_overload(_exact_mean, _mean_typer)
_overload(_exact_maximum, _extremum_typer(_greater_or_nan))
_overload(_exact_minimum, _extremum_typer(_less_or_nan))
_EXACT: dict[str, Callable[..., Any]] = {name: _exact_unary(name) for name in EXACT_UFUNCS}
_EXACT.update(
    sum=_exact_sum, mean=_exact_mean, maximum=_exact_maximum, minimum=_exact_minimum, dot=_exact_dot
)
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


def jit_kernel(kernel: Callable[..., None]) -> Any:
    """``kernel`` compiled, with its module's ``np`` bound to :data:`NUMPY_EXACT`."""
    env = dict(kernel.__globals__)
    if env.get("np") is np:
        env["np"] = NUMPY_EXACT
    clone = pytypes.FunctionType(
        kernel.__code__, env, kernel.__name__, kernel.__defaults__, kernel.__closure__
    )
    clone.__qualname__ = kernel.__qualname__
    clone.__module__ = kernel.__module__
    return njit(inline=KERNEL_INLINE, error_model="numpy")(clone)


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


_jitable(_sigmoid, _validation_fitness, _load)

# What the instructions just run were.
_SETUP, _PREDICT, _LEARN, _VALIDATE = 0, 1, 2, 3


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
    classification: bool,
    n_train: int,
    n_valid: int,
    max_abs_error: float,
    rngs: np.ndarray,
    fitness: np.ndarray,
    probe: np.ndarray,
) -> int:
    """Evaluate on every task in order; ``rngs`` holds one generator, or one per task.

    ``s, v, m`` are the memory banks with a leading task axis, ``(T, n_s)``, ``(T, n_v, F)`` and
    ``(T, n_m, F, F)`` (contents ignored). Writes ``fitness (T,)`` and, when
    ``probe`` has rows, the probe errors ``(T, n_train + n_valid)``. Returns -1, or the index
    of an instruction whose op is not in ``known``. Every array is the caller's, so they are
    borrowed without reference counting.
    """
    for i in range(ops.shape[0]):
        if ops[i] < 0 or ops[i] >= known.shape[0] or not known[ops[i]]:
            return i
    ops, args, data, bounds = borrow(ops), borrow(args), borrow(data), borrow(bounds)
    s, v, m = borrow(s), borrow(v), borrow(m)
    train_x, train_y, order = borrow(train_x), borrow(train_y), borrow(order)
    valid_x, valid_y = borrow(valid_x), borrow(valid_y)
    rngs, fitness, probe = borrow(rngs), borrow(fitness), borrow(probe)
    record = probe.shape[0] > 0
    for t in range(train_x.shape[0]):
        rng = generator_from(rngs[t if rngs.shape[0] > 1 else 0])
        fitness[t] = _run_task(
            ops, args, data, bounds, s[t], v[t], m[t], rng, train_x[t], train_y[t], order[t],
            valid_x[t], valid_y[t], classification, n_train, n_valid, max_abs_error,
            probe[t if record else 0], record,
        )  # fmt: skip
    return -1


# --- the generated module and its disk cache ----------------------------------------------------

_HEADER = '''"""Compiled protocol and op dispatch for primeval, generated from the op registry.

Written by primeval.algorithms.interpret.compiled (see its docstring); do not edit. The
protocol is copied from there, its ``_exec(...)`` line expanded into a jump table over the
registered kernels. The file name hashes everything the machine code depends on, so that
numba's on-disk cache next to it can be trusted.
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
    _load,
    _sigmoid,
    _validation_fitness,
    borrow,
    generator_from,
)
'''

_ENTRY = """

@njit(cache=True, error_model="numpy")
def run_tasks(
    ops, args, data, bounds, s, v, m, train_x, train_y, order, valid_x, valid_y,
    classification, n_train, n_valid, max_abs_error, rngs, fitness, probe,
):
    return run_tasks_with(
        _KNOWN, ops, args, data, bounds, s, v, m, train_x, train_y, order, valid_x, valid_y,
        classification, n_train, n_valid, max_abs_error, rngs, fitness, probe,
    )
"""

_EXEC_CALL = "_exec(ops, args, data, lo, hi, s, v, m, rng)"


def _kernel_arguments(spec: OpSpec) -> str:
    """A kernel call's arguments. A bank the op's signature does not name, and the generator
    of a deterministic op, are passed as ``None``: smaller compiled kernels, no reference
    counting, and a kernel touching anything else fails to compile, loudly."""
    kinds = {kind.value for kind in (*spec.inputs, *((spec.output,) if spec.output else ()))}
    banks = [name if name in kinds else "None" for name in ("s", "v", "m")]
    return ", ".join([*banks, "_a", "_b", "_o", "_d", "rng" if spec.stochastic else "None"])


def _jump_table(specs: list[OpSpec], indent: str) -> list[str]:
    """Compiled :func:`_exec`: one branch per op, each calling the op's kernel."""
    lines = [
        "for _i in range(lo, hi):",
        "    _op = ops[_i]",
        "    _a = args[_i, 0]",
        "    _b = args[_i, 1]",
        "    _o = args[_i, 2]",
        "    _d = (data[_i, 0], data[_i, 1], data[_i, 2])  # a tuple: no array view to count",
    ]
    for k, spec in enumerate(specs):
        lines.append(f"    {'if' if k == 0 else 'elif'} _op == {spec.code}:  # {spec.name}")
        lines.append(f"        _k{spec.code}({_kernel_arguments(spec)})")
    return [indent + line for line in lines]


def _protocol_source(specs: list[OpSpec]) -> list[str]:
    """:func:`_run_task` and :func:`run_tasks_with` with the ``_exec`` call expanded.

    Expanded in the source rather than inlined as a function, which would count references
    to its nine arguments around every component run.
    """
    lines: list[str] = []
    for fn in (_run_task, run_tasks_with):
        lines += ["", "", '@njit(error_model="numpy")']
        for line in inspect.getsource(fn).splitlines():
            if line.strip() == _EXEC_CALL:
                lines += _jump_table(specs, line[: len(line) - len(line.lstrip())])
            else:
                lines.append(line)
    if sum(line.strip() == _EXEC_CALL for line in inspect.getsource(_run_task).splitlines()) != 1:
        raise RuntimeError(f"_run_task must call {_EXEC_CALL} exactly once")
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
        lines.append(f"_k{spec.code} = _c.jit_kernel({target})  # {spec.name}")
    known = ", ".join(str(spec.code) for spec in specs)
    lines.append(f"_KNOWN = np.zeros({max(s.code for s in specs) + 1}, dtype=np.bool_)")
    lines.append(f"_KNOWN[np.array([{known}])] = True")
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


# --- the interpreter ----------------------------------------------------------------------------

_STOCHASTIC = np.zeros(REGISTRY.max_code() + 1, dtype=bool)
_STOCHASTIC[[spec.code for spec in REGISTRY if spec.stochastic]] = True
_NO_PROBE = np.empty((0, 0))
_IDLE_RNG = np.random.default_rng(0)  # for programs that draw nothing: never advanced


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
        rngs = generator_addresses(rng)[None]
        self._run(program, tasks, rngs, n_train, n_valid, fitness, _NO_PROBE)
        return fitness

    def probe(
        self, program: Program, tasks: TaskSet | list[Task], n_train: int, n_valid: int, seed: int
    ) -> np.ndarray:
        """``(tasks, n_train + n_valid)`` errors of a short run, NaN where not reached.

        As in the reference, each task's run draws from a generator freshly seeded with
        ``seed``; a program without stochastic ops draws nothing and needs no generator.
        """
        out = np.full((len(tasks), n_train + n_valid), np.nan)
        if np.take(_STOCHASTIC, program.encode()[0], mode="clip").any():
            gens = [np.random.default_rng(seed) for _ in range(len(tasks))]
            rngs = np.stack([generator_addresses(g, cache=False) for g in gens])
            rngs.setflags(write=False)  # the same array type in every call: one compilation
        else:
            gens = [_IDLE_RNG]
            rngs = generator_addresses(_IDLE_RNG)[None]
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
        banks = program.banks
        dim = task_set.dim
        n = len(task_set)
        memory = (
            np.empty((n, banks.scalars)),
            np.empty((n, banks.vectors, dim)),
            np.empty((n, max(banks.matrices, 1), dim, dim)),
        )
        bad = dispatch.run_tasks(
            ops, args, data, bounds, *memory,
            st["train_x"], st["train_y"], st["order"], st["valid_x"], st["valid_y"],
            task_set.classification,
            st["order"].shape[1] if n_train is None else int(n_train),
            st["valid_x"].shape[1] if n_valid is None else int(n_valid),
            self.max_abs_error, rngs, fitness, probe,
        )  # fmt: skip
        if bad >= 0:
            REGISTRY[int(ops[bad])]  # raises the registry's KeyError, as the reference does
