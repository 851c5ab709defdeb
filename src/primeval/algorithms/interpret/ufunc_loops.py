"""numpy's own float64 ufunc loops, called from compiled code.

numpy evaluates ``exp``, ``log`` and the trigonometric functions with CPU-dispatched code
of its own, which differs from the C library's numba calls in the last bit for a few percent
of inputs. The stand-ins here call numpy's loop itself (its address linked under a fixed
symbol name, so that cached machine code stays valid in a new process), so that compiled
kernels give the reference interpreter's bits (:mod:`.compiled`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import llvmlite.binding as llvm_binding
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from primeval.algorithms.interpret.jitting import overload_stub

_cg: Any = cgutils  # llvmlite / numba code generation helpers are untyped

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


def exact_unary(name: str) -> Callable[[Any], Any]:
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

    overload_stub(stub, typer, inline=True)
    return stub
