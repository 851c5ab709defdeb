"""The compiled interpreter: the reference protocol in one numba call per program.

Same answers as :mod:`~primeval.algorithms.interpret.reference`, bit for bit, about a hundred
times faster. It follows the AutoML-Zero evaluation protocol (Real et al., "AutoML-Zero:
Evolving Machine Learning Algorithms From Scratch", ICML 2020, Sec. 4 and the reference
``Executor``); the reference module's docstring lists the steps.

Design:

- **Dispatch generated from the registry.** Each op is defined once, as a kernel in
  :mod:`~primeval.algorithms.ops`. :func:`generate_source` writes a module whose ``_exec``
  is an ``if/elif`` chain over op codes, each branch calling its registered kernel compiled
  with ``inline="always"``; LLVM turns the chain into a jump table. The protocol itself
  (Setup, training with early stops, validation after every epoch, fitness) is
  :func:`run_tasks_with`, plain Python here, compiled into the generated ``run_tasks``, so
  a whole evaluation (every task, epoch and example) is a single compiled call.
- **Disk cache.** The generated source is written to ``$PRIMEVAL_CACHE_DIR`` (default
  ``~/.cache/primeval/numba``) under a name hashing the source, every kernel module, this
  module and the numpy / numba / Python versions, and imported from there so that numba's
  ``cache=True`` applies (numba cannot cache code from ``exec``). A second process loads the
  machine code instead of compiling it. Nothing compiles at import; the first evaluation does.
- **Bit-identical to the reference.** numba reimplements numpy, and not always the way numpy
  computes: numpy evaluates ``exp``, ``log``, ``tan``, ``arcsin``, ``arccos`` and ``arctan``
  with its own SIMD code (AVX-512 / SVML), which differs from the C library's in the last
  bit for a few percent of inputs; it sums with pairwise summation; and its ``maximum`` /
  ``minimum`` return the second argument when both are zeros of either sign. The kernels are
  therefore compiled against :data:`NUMPY_EXACT`, a copy of the ``numpy`` namespace in which
  those functions are replaced: transcendental functions call numpy's own float64 ufunc
  loop (its address is read from the ufunc and linked under a fixed symbol name, so the
  cached code stays valid in a new process), and ``sum`` / ``mean`` / ``maximum`` /
  ``minimum`` follow numpy's algorithms. ``np.dot`` goes to BLAS on both sides. The
  generator is passed as the addresses of its bit generator (numba's own unboxing of a
  ``Generator`` costs about 7 us per call) and draws exactly what numpy draws.

``tests/test_compiled.py`` checks the equality on random programs over all ops.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import inspect
import os
import sys
import threading
import types as pytypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llvmlite
import llvmlite.binding as llvm_binding
import numba
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic, overload, register_jitable

from primeval.algorithms.interpret import reference
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR
from primeval.algorithms.memory import FEATURES, LABEL, PREDICTION
from primeval.algorithms.ops import REGISTRY, OpSpec
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import TaskSet

JIT_OPTIONS: dict[str, Any] = {"error_model": "numpy"}
_TWO_OVER_PI = 2.0 / np.pi  # the reference's constant, computed the same way

# --- numpy's own float64 ufunc loops, called from compiled code -----------------------------

# Numpy computes these with its own (CPU-dispatched) code, so the compiled interpreter calls
# the very same loop. sqrt is correctly rounded everywhere and needs no such care.
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
    """Address of the ``d->d`` inner loop of a unary ufunc, and its ``data`` pointer."""
    head = _UFuncHead.from_address(id(ufunc))
    if (head.nin, head.nout, head.name) != (1, 1, ufunc.__name__.encode()):
        raise RuntimeError(f"unexpected PyUFuncObject layout for np.{ufunc.__name__}")
    double = np.dtype(np.float64).num
    for i in range(head.ntypes):
        if [head.types[2 * i][0], head.types[2 * i + 1][0]] == [double, double]:
            return int(head.functions[i]), int(head.data[i] or 0)
    raise RuntimeError(f"np.{ufunc.__name__} has no float64 loop")


def _loop_symbols(name: str) -> tuple[str, str]:
    return f"primeval_numpy_{name}_float64", f"primeval_numpy_{name}_float64_data"


_LOOPS = {name: _float64_loop(getattr(np, name)) for name in EXACT_UFUNCS}
_symbols_added = False


def _add_loop_symbols() -> None:
    """Make numpy's loops linkable by name (before compiling or loading cached code)."""
    global _symbols_added
    if not _symbols_added:
        for name, (loop, data) in _LOOPS.items():
            fn_symbol, data_symbol = _loop_symbols(name)
            llvm_binding.add_symbol(fn_symbol, loop)
            if data:
                llvm_binding.add_symbol(data_symbol, data)
        _symbols_added = True


def _loop_caller(name: str) -> Any:
    """An intrinsic ``f(x: float) -> float`` running numpy's loop on one element."""
    fn_symbol, data_symbol = _loop_symbols(name)
    has_data = bool(_LOOPS[name][1])

    def typer(typingctx: Any, x: Any) -> Any:
        if not isinstance(x, types.Float | types.Integer):
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            value = context.cast(builder, args[0], sig.args[0], types.float64)
            byte_ptr = ir.IntType(8).as_pointer()
            intp = context.get_value_type(types.intp)
            fnty = ir.FunctionType(
                ir.VoidType(), [byte_ptr.as_pointer(), intp.as_pointer(), intp.as_pointer(), byte_ptr]
            )
            loop = cgutils.get_or_insert_function(builder.module, fnty, fn_symbol)
            src = cgutils.alloca_once_value(builder, value)
            dst = cgutils.alloca_once(builder, ir.DoubleType())
            argv = cgutils.alloca_once(builder, byte_ptr, size=2)
            builder.store(builder.bitcast(src, byte_ptr), argv)
            builder.store(builder.bitcast(dst, byte_ptr), builder.gep(argv, [intp(1)]))
            dims = cgutils.alloca_once_value(builder, intp(1))
            steps = cgutils.alloca_once(builder, intp, size=2)
            builder.store(intp(8), steps)
            builder.store(intp(8), builder.gep(steps, [intp(1)]))
            if has_data:
                gv = builder.module.globals.get(data_symbol)
                if gv is None:
                    gv = ir.GlobalVariable(builder.module, ir.IntType(8), data_symbol)
                    gv.linkage = "external"
                data = builder.bitcast(gv, byte_ptr)
            else:
                data = ir.Constant(byte_ptr, None)
            builder.call(loop, [argv, dims, steps, data])
            return builder.load(dst)

        return types.float64(x), codegen

    return intrinsic(typer)


# --- numpy's summation and extrema ----------------------------------------------------------


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
    return res


def _pairwise_sum(x: np.ndarray, start: int, n: int) -> float:
    """numpy's ``pairwise_sum`` over ``x[start:start + n]``.

    Above 128 elements numpy splits in two halves (the first a multiple of 8) and adds their
    sums; the recursion is unrolled into an explicit stack here, because numba's cache cannot
    hold code that calls a recursive function.
    """
    if n <= 128:
        return _pairwise_block(x, start, n)
    starts = np.empty(256, dtype=np.int64)
    sizes = np.empty(256, dtype=np.int64)  # a negative size marks "add the two sums above"
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
    return sums[0]


for _fn in (_pairwise_block, _pairwise_sum):
    register_jitable(**JIT_OPTIONS)(_fn)


def _sum_all(a: np.ndarray) -> float:
    flat = a.ravel()
    return 0.0 + _pairwise_sum(flat, 0, flat.size)  # numpy starts a sum from +0.0


def _sum_rows(a: np.ndarray) -> np.ndarray:
    flat = a.ravel()
    cols = a.shape[1]
    out = np.empty(a.shape[0])
    for i in range(a.shape[0]):
        out[i] = 0.0 + _pairwise_sum(flat, i * cols, cols)
    return out


def _sum_columns(a: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[1])
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j] += a[i, j]
    return out


for _fn in (_sum_all, _sum_rows, _sum_columns):
    register_jitable(**JIT_OPTIONS)(_fn)


def _exact_sum(a: Any, axis: Any = None) -> Any:
    return np.sum(a, axis=axis)


def _exact_mean(a: Any) -> Any:
    return np.mean(a)


def _exact_maximum(a: Any, b: Any, out: Any = None) -> Any:
    return np.maximum(a, b, out=out)


def _exact_minimum(a: Any, b: Any, out: Any = None) -> Any:
    return np.minimum(a, b, out=out)


def _is_none(t: Any) -> bool:
    return t is None or isinstance(t, types.NoneType | types.Omitted)


def _sum_typer(a: Any, axis: Any = None) -> Any:
    """numpy's sum of a C-ordered 1-D or 2-D float array, with ``axis`` None, 0 or 1."""
    if not isinstance(a, types.Array) or a.ndim not in (1, 2):
        return None
    if a.ndim == 1 or _is_none(axis):

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

    def mean(a: Any) -> Any:
        return _sum_all(a) / a.size

    return mean


def _extremum_typer(pick_first: Callable[[float, float], bool]) -> Any:
    """numpy's maximum / minimum: NaN propagates, and a tie (``0.0`` vs ``-0.0``) gives ``b``."""
    first = register_jitable(**JIT_OPTIONS)(pick_first)

    def typer(a: Any, b: Any, out: Any = None) -> Any:
        if isinstance(a, types.Number) and isinstance(b, types.Number) and _is_none(out):

            def scalar(a: Any, b: Any, out: Any = None) -> Any:
                return a if first(a, b) else b

            return scalar
        if isinstance(a, types.Array) and isinstance(b, types.Array):
            if _is_none(out):

                def fresh(a: Any, b: Any, out: Any = None) -> Any:
                    res = np.empty(a.shape)
                    fa, fb, fr = a.ravel(), b.ravel(), res.ravel()
                    for i in range(fr.size):
                        fr[i] = fa[i] if first(fa[i], fb[i]) else fb[i]
                    return res

                return fresh
            if isinstance(out, types.Array) and out.layout == "C":

                def into(a: Any, b: Any, out: Any = None) -> Any:
                    fa, fb, fr = a.ravel(), b.ravel(), out.ravel()
                    for i in range(fr.size):
                        fr[i] = fa[i] if first(fa[i], fb[i]) else fb[i]
                    return out

                return into
        return None

    return typer


def _greater_or_nan(a: float, b: float) -> bool:
    return a > b or a != a


def _less_or_nan(a: float, b: float) -> bool:
    return a < b or a != a


overload(_exact_sum, jit_options=JIT_OPTIONS)(_sum_typer)
overload(_exact_mean, jit_options=JIT_OPTIONS)(_mean_typer)
overload(_exact_maximum, jit_options=JIT_OPTIONS)(_extremum_typer(_greater_or_nan))
overload(_exact_minimum, jit_options=JIT_OPTIONS)(_extremum_typer(_less_or_nan))


def _exact_unary(name: str) -> Callable[[Any], Any]:
    """A stand-in for ``np.<name>`` that compiles to a call of numpy's own float64 loop."""
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

    overload(stub, jit_options=JIT_OPTIONS)(typer)
    return stub


_EXACT = {name: _exact_unary(name) for name in EXACT_UFUNCS}
_EXACT.update(sum=_exact_sum, mean=_exact_mean, maximum=_exact_maximum, minimum=_exact_minimum)
_exact_exp = _EXACT["exp"]
_exact_arctan = _EXACT["arctan"]


def _numpy_exact() -> pytypes.ModuleType:
    mod = pytypes.ModuleType("primeval_numpy_exact", "numpy, with numpy's own arithmetic in numba")
    mod.__dict__.update({k: v for k, v in vars(np).items() if not k.startswith("__")})
    mod.__dict__["__getattr__"] = lambda name: getattr(np, name)
    mod.__dict__.update(_EXACT)
    return mod


NUMPY_EXACT = _numpy_exact()
"""What ``np`` means inside compiled kernels: numpy, computing exactly as numpy does."""


def jit_kernel(kernel: Callable[..., None]) -> Any:
    """``kernel`` compiled for inlining, with its module's ``np`` bound to :data:`NUMPY_EXACT`."""
    env = dict(kernel.__globals__)
    if env.get("np") is np:
        env["np"] = NUMPY_EXACT
    clone = pytypes.FunctionType(
        kernel.__code__, env, kernel.__name__, kernel.__defaults__, kernel.__closure__
    )
    clone.__qualname__ = kernel.__qualname__
    clone.__module__ = kernel.__module__
    return njit(inline="always", **JIT_OPTIONS)(clone)


# --- the generator, passed as raw addresses -------------------------------------------------

_RNG_FIELDS = 6  # state_address, state, next_uint64, next_uint32, next_double, bit_generator


def _generator_typer(typingctx: Any, addresses: Any) -> Any:
    """Rebuild numba's ``Generator`` value from its bit generator's addresses.

    Fills the same fields as numba's own unboxing (``numba/core/boxing.py``) without the
    Python round trips; the Python object is kept alive by the caller. The value is never
    boxed, so its ``parent`` and ``meminfo`` stay null.
    """
    if not (isinstance(addresses, types.Array) and addresses.dtype == types.uint64):
        return None
    gen_type = types.NumPyRandomGeneratorType("NumPyRandomGeneratorType")
    bit_type = types.NumPyRandomBitGeneratorType("bit_generator")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        values = [
            builder.load(builder.gep(arr.data, [ir.IntType(64)(k)])) for k in range(_RNG_FIELDS)
        ]
        null = cgutils.get_null_value(context.get_value_type(types.pyobject))
        bits = cgutils.create_struct_proxy(bit_type)(context, builder)
        bits.parent = null
        bits.state_address = values[0]
        bits.state = values[1]
        bits.fnptr_next_uint64 = values[2]
        bits.fnptr_next_uint32 = values[3]
        bits.fnptr_next_double = values[4]
        bits.bit_generator = values[5]
        gen = cgutils.create_struct_proxy(gen_type)(context, builder)
        gen.bit_generator = bits._getvalue()
        gen.meminfo = cgutils.get_null_value(gen.meminfo.type)
        gen.parent = null
        return gen._getvalue()

    return gen_type(addresses), codegen


generator_from = intrinsic(_generator_typer)

_ADDRESS_CACHE: dict[int, tuple[np.random.Generator, np.ndarray]] = {}


def generator_addresses(rng: np.random.Generator) -> np.ndarray:
    """The ``(6,)`` uint64 addresses :func:`generator_from` needs (cached per generator)."""
    hit = _ADDRESS_CACHE.get(id(rng))
    if hit is not None and hit[0] is rng:
        return hit[1]
    ct = rng.bit_generator.ctypes
    cast = ctypes.cast
    void = ctypes.c_void_p
    values = [
        ct.state_address,
        ct.state.value,
        cast(ct.next_uint64, void).value,
        cast(ct.next_uint32, void).value,
        cast(ct.next_double, void).value,
        ct.bit_generator.value,
    ]
    out = np.array(values, dtype=np.uint64)
    out.setflags(write=False)
    if len(_ADDRESS_CACHE) >= 64:
        del _ADDRESS_CACHE[next(iter(_ADDRESS_CACHE))]
    _ADDRESS_CACHE[id(rng)] = (rng, out)  # the reference keeps the addresses valid
    return out


# --- borrowed arrays ------------------------------------------------------------------------


def _borrow_typer(typingctx: Any, arr: Any) -> Any:
    """A view of ``arr`` that numba does not reference-count (null ``meminfo``).

    Every array view a kernel takes (``v[a]``, the data row) otherwise costs an atomic
    increment and decrement of the owner's count, several per instruction. Only for arrays
    that outlive every use of the view: here, arrays the Python caller holds.
    """
    if not isinstance(arr, types.Array):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        src = context.make_array(sig.args[0])(context, builder, args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(dst, field, getattr(src, field))
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        return dst._getvalue()

    return arr(arr), codegen


borrow = intrinsic(_borrow_typer)


# --- the evaluation protocol (compiled into the generated module) ---------------------------



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
    """Run instructions ``lo:hi`` in plain Python.

    The protocol below calls ``_exec``; :func:`compile_protocol` compiles it with this name
    bound to the generated jump table instead.
    """
    for i in range(lo, hi):
        a, b, o = (int(x) for x in args[i])
        REGISTRY[int(ops[i])].kernel(s, v, m, a, b, o, data[i], rng)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + _exact_exp(-x))


def _validate(
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    lo: int,
    hi: int,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    rng: Any,
    valid_x: np.ndarray,
    valid_y: np.ndarray,
    nv: int,
    classification: bool,
    max_abs_error: float,
    errors: np.ndarray,
    offset: int,
    record: bool,
) -> float:
    """``reference._validate``: Predict on the validation examples, then the fitness."""
    loss = 0.0
    for i in range(nv):
        for f in range(valid_x.shape[1]):
            v[FEATURES, f] = valid_x[i, f]
        s[LABEL] = 0.0
        _exec(ops, args, data, lo, hi, s, v, m, rng)
        y = valid_y[i]
        if classification:
            p = _sigmoid(s[PREDICTION])
            error = 0.0 if ((y > 0.5) == (p > 0.5)) else 1.0
        else:
            error = y - s[PREDICTION]
        a = abs(error)
        if np.isnan(a) or a > max_abs_error:
            return 0.0
        if record:
            errors[offset + i] = a
        if classification:
            loss += error
        else:
            loss += error * error
    if nv == 0:
        return 0.0
    if classification:
        return 1.0 - loss / nv
    rmse = np.sqrt(loss / nv)
    if not np.isfinite(rmse):
        return 0.0
    return 1.0 - _TWO_OVER_PI * _exact_arctan(rmse)


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
    """``reference._run`` on one task; ``errors`` receives the probe row when ``record``."""
    s[:] = 0.0
    v[:, :] = 0.0
    m[:, :, :] = 0.0
    _exec(ops, args, data, bounds[0], bounds[1], s, v, m, rng)
    total = min(n_train, order.shape[0])
    per_epoch = min(train_x.shape[0], total)
    nv = min(n_valid, valid_x.shape[0])
    dim = train_x.shape[1]
    best = 0.0
    step = 0
    first_epoch = True
    while step < total:
        stop = min(step + per_epoch, total)
        ok = True
        while step < stop:
            i = order[step]
            y = train_y[i]
            for f in range(dim):
                v[FEATURES, f] = train_x[i, f]
            s[LABEL] = 0.0
            _exec(ops, args, data, bounds[1], bounds[2], s, v, m, rng)
            if classification:
                s[PREDICTION] = _sigmoid(s[PREDICTION])
            err = abs(y - s[PREDICTION])
            if np.isnan(err) or err > max_abs_error:
                ok = False
                break
            if record and first_epoch:
                errors[step] = err
            for f in range(dim):
                v[FEATURES, f] = train_x[i, f]
            s[LABEL] = y
            _exec(ops, args, data, bounds[2], bounds[3], s, v, m, rng)
            step += 1
        if not ok:
            if first_epoch:
                best = 0.0
            break
        fitness = _validate(
            ops, args, data, bounds[1], bounds[2], s, v, m, rng, valid_x, valid_y, nv,
            classification, max_abs_error, errors, n_train, record and first_epoch,
        )  # fmt: skip
        if fitness > best:
            best = fitness
        first_epoch = False
    return best


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

    ``s, v, m`` are the memory banks (any contents). Writes ``fitness (T,)`` and, when
    ``probe`` has rows, the probe errors ``(T, n_train + n_valid)``. Returns -1, or the index
    of an instruction whose op is not registered. Every array belongs to the caller, so the
    compiled code borrows them without reference counting.
    """
    for i in range(ops.shape[0]):
        if ops[i] < 0 or ops[i] >= known.shape[0] or not known[ops[i]]:
            return i
    ops, args, data, bounds = borrow(ops), borrow(args), borrow(data), borrow(bounds)
    s, v, m = borrow(s), borrow(v), borrow(m)
    train_x, train_y, order = borrow(train_x), borrow(train_y), borrow(order)
    valid_x, valid_y = borrow(valid_x), borrow(valid_y)
    fitness, probe, rngs = borrow(fitness), borrow(probe), borrow(rngs)
    record = probe.shape[0] > 0
    for t in range(train_x.shape[0]):
        rng = generator_from(rngs[t if rngs.shape[0] > 1 else 0])
        fitness[t] = _run_task(
            ops, args, data, bounds, s, v, m, rng, train_x[t], train_y[t], order[t],
            valid_x[t], valid_y[t], classification, n_train, n_valid, max_abs_error,
            probe[t if record else 0], record,
        )  # fmt: skip
    return -1


register_jitable(**JIT_OPTIONS)(_sigmoid)

_PROTOCOL = ("_validate", "_run_task", "run_tasks_with")


def compile_protocol(exec_dispatch: Any) -> Any:
    """:func:`run_tasks_with`, compiled with ``_exec`` bound to ``exec_dispatch``.

    The protocol functions are cloned into one namespace where ``_exec`` and each other are
    compiled functions, so every call is a direct call (a dispatcher passed as an argument
    would be a run-time address, which numba refuses to cache).
    """
    env = dict(globals())
    env["_exec"] = exec_dispatch
    for name in _PROTOCOL:
        fn = env[name]
        clone = pytypes.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__)
        clone.__qualname__ = fn.__qualname__
        env[name] = njit(**JIT_OPTIONS)(clone)
    return env["run_tasks_with"]


# --- source generation and the disk cache ---------------------------------------------------

_HEADER = '''"""Op dispatch for the compiled interpreter, generated from the op registry. Do not edit.

Written by primeval.algorithms.interpret.compiled (see its docstring); its name hashes
everything its machine code depends on, so numba's on-disk cache can be trusted.
"""

import numpy as np
from numba import njit

from primeval.algorithms.interpret import compiled as _c
'''

_DRIVER = '''
_run_tasks_with = _c.compile_protocol(_exec)


@njit(cache=True, error_model="numpy")
def run_tasks(
    ops, args, data, bounds, s, v, m, train_x, train_y, order, valid_x, valid_y,
    classification, n_train, n_valid, max_abs_error, rngs, fitness, probe,
):
    return _run_tasks_with(
        _KNOWN, ops, args, data, bounds, s, v, m, train_x,
        train_y, order, valid_x, valid_y, classification, n_train, n_valid, max_abs_error, rngs,
        fitness, probe,
    )
'''


def generate_source(specs: list[OpSpec] | None = None) -> str:
    """The dispatch module's source: kernel bindings, ``_exec`` and ``run_tasks``."""
    specs = list(REGISTRY) if specs is None else specs
    modules = sorted({spec.kernel.__module__ for spec in specs})
    alias = {name: f"_m{k}" for k, name in enumerate(modules)}
    lines = [_HEADER]
    lines += [f"import {name} as {alias[name]}" for name in modules]
    lines.append("")
    for spec in specs:
        target = f"{alias[spec.kernel.__module__]}.{spec.kernel.__qualname__}"
        lines.append(f"_k{spec.code} = _c.jit_kernel({target})  # {spec.name}")
    known = ", ".join(str(spec.code) for spec in specs)
    lines.append(f"_KNOWN = np.zeros({max(s.code for s in specs) + 1}, dtype=np.bool_)")
    lines.append(f"_KNOWN[np.array([{known}])] = True")
    lines += [
        "",
        "",
        '@njit(cache=True, error_model="numpy")',
        "def _exec(ops, args, data, lo, hi, s, v, m, rng):",
        "    for i in range(lo, hi):",
        "        op = ops[i]",
        "        a = args[i, 0]",
        "        b = args[i, 1]",
        "        o = args[i, 2]",
        "        d = data[i]",
    ]
    for k, spec in enumerate(specs):
        keyword = "if" if k == 0 else "elif"
        lines.append(f"        {keyword} op == {spec.code}:")
        lines.append(f"            _k{spec.code}(s, v, m, a, b, o, d, rng)")
    return "\n".join(lines) + "\n" + _DRIVER


def cache_dir() -> Path:
    """Where generated modules and numba's machine code live."""
    env = os.environ.get("PRIMEVAL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "primeval" / "numba"


def _fingerprint(source: str, specs: list[OpSpec]) -> str:
    h = hashlib.sha256(source.encode())
    deps = {spec.kernel.__module__ for spec in specs} | {__name__, reference.__name__}
    deps.add("primeval.algorithms.memory")
    for name in sorted(deps):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            h.update(inspect.getsource(module).encode())
    versions = (np.__version__, numba.__version__, llvmlite.__version__, sys.version)
    h.update(repr(versions).encode())
    return h.hexdigest()[:20]


_lock = threading.Lock()
_module: pytypes.ModuleType | None = None


def load_dispatch() -> pytypes.ModuleType:
    """Generate (or find) the dispatch module in the cache directory and import it."""
    global _module
    with _lock:
        if _module is not None:
            return _module
        _add_loop_symbols()
        specs = list(REGISTRY)
        source = generate_source(specs)
        name = f"primeval_dispatch_{_fingerprint(source, specs)}"
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        if not path.exists() or path.read_text() != source:
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_text(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _module = module
        return module


# --- the interpreter ------------------------------------------------------------------------

_STOCHASTIC = np.zeros(REGISTRY.max_code() + 1, dtype=bool)
for _spec in REGISTRY:
    _STOCHASTIC[_spec.code] = _spec.stochastic
_NO_PROBE = np.empty((0, 0))
_IDLE_RNG = np.random.default_rng(0)  # passed where no op draws, so it is never advanced


class CompiledInterpreter:
    """Evaluates programs like :class:`~primeval.algorithms.interpret.reference.ReferenceInterpreter`,
    with identical results, in one compiled call per program."""

    name = "compiled"

    def __init__(self, max_abs_error: float = MAX_ABS_ERROR) -> None:
        self.max_abs_error = float(max_abs_error)

    def fitnesses(
        self,
        program: Program,
        tasks: TaskSet,
        rng: np.random.Generator,
        n_train: int | None = None,
        n_valid: int | None = None,
    ) -> np.ndarray:
        """Best validation fitness on each task, drawing from ``rng`` task after task."""
        fitness = np.empty(len(tasks))
        self._run(program, tasks, generator_addresses(rng)[None], n_train, n_valid, fitness,
                  _NO_PROBE)  # fmt: skip
        return fitness

    def probe(
        self, program: Program, tasks: TaskSet, n_train: int, n_valid: int, seed: int
    ) -> np.ndarray:
        """``(tasks, n_train + n_valid)`` errors of a short run, NaN where not reached.

        As in the reference, each task's run draws from a generator freshly seeded with
        ``seed``; a program without stochastic ops draws nothing, so it needs no generators.
        """
        out = np.full((len(tasks), n_train + n_valid), np.nan)
        ops = program.encode()[0]
        if np.take(_STOCHASTIC, ops, mode="clip").any():
            gens = [np.random.default_rng(seed) for _ in range(len(tasks))]
            rngs = np.stack([generator_addresses(g) for g in gens])
            rngs.setflags(write=False)  # one array type for every call: one compilation
        else:
            gens = [_IDLE_RNG]
            rngs = generator_addresses(_IDLE_RNG)[None]
        self._run(program, tasks, rngs, n_train, n_valid, np.empty(len(tasks)), out)
        del gens  # alive until the compiled call has returned
        return out

    def _run(
        self,
        program: Program,
        tasks: TaskSet,
        rngs: np.ndarray,
        n_train: int | None,
        n_valid: int | None,
        fitness: np.ndarray,
        probe: np.ndarray,
    ) -> None:
        dispatch = _module if _module is not None else load_dispatch()
        ops, args, data, bounds = program.encode()
        st = tasks.stacked()
        banks = program.banks
        dim = tasks.dim
        bad = dispatch.run_tasks(
            ops, args, data, bounds, np.empty(banks.scalars), np.empty((banks.vectors, dim)),
            np.empty((max(banks.matrices, 1), dim, dim)), st["train_x"], st["train_y"], st["order"], st["valid_x"], st["valid_y"],
            tasks.classification,
            st["order"].shape[1] if n_train is None else int(n_train),
            st["valid_x"].shape[1] if n_valid is None else int(n_valid),
            self.max_abs_error, rngs, fitness, probe,
        )  # fmt: skip
        if bad >= 0:
            REGISTRY[int(ops[bad])]  # raises the registry's KeyError, as the reference does
