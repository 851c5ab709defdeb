"""Helpers for code compiled with numba: registering plain functions and stand-ins for
numpy's functions, and views of arrays that cost no reference counting.

Used by the numpy-exact layer (:mod:`.ufunc_loops`, :mod:`.exact_sums`,
:mod:`.exact_elementwise`) and the protocol; see :mod:`.compiled` for why each exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llvmlite import ir
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload, register_jitable

_cg: Any = cgutils  # llvmlite / numba code generation helpers are untyped
_borrowed: Any = impl_ret_borrowed


# Compiled helpers are only ever called from compiled code: no Python or C entry points to build.
NO_WRAPPERS = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


def jitable(*fns: Callable[..., Any], inline: bool = False, nrt: bool | None = None) -> None:
    """Make plain functions callable from compiled code (compiled with numpy's error model).

    With ``inline`` the compiled function is marked ``alwaysinline`` for LLVM (numba's
    ``forceinline``). Otherwise LLVM hardly ever inlines a numba function into another: each
    is optimized on its own first, loops unrolled and vectorized, and then costs too much. A
    call with array arguments costs a few nanoseconds, more than the arithmetic on a vector
    of 4, and counts references to the arrays. (numba's own inlining, ``inline="always"``,
    copies untyped code and types it again at every call site: minutes of compilation.)
    """
    options: dict[str, Any] = {"error_model": "numpy", "forceinline": inline, **NO_WRAPPERS}
    if nrt is not None:
        options["_nrt"] = nrt
    for fn in fns:
        register_jitable(**options)(fn)


def overload_stub(
    stub: Callable[..., Any], typer: Callable[..., Any], strict: bool = True, inline: bool = False
) -> None:
    """Compile calls of ``stub`` with what ``typer`` returns for the argument types (inlined
    if ``inline``, see :func:`jitable`). Not ``strict``: the implementations may be lambdas,
    whose arguments have no annotations."""
    options: Any = {"error_model": "numpy", "forceinline": inline, **NO_WRAPPERS}
    overload(stub, jit_options=options, strict=strict)(typer)


def is_none(t: Any) -> bool:
    """Whether an optional argument's numba type says it was not given."""
    return t is None or isinstance(t, types.NoneType | types.Omitted)


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


span: Any = intrinsic(_span_typer)


SCRATCH = 256  # doubles on the stack: the product of two 16 x 16 matrices


def _scratch_typer(typingctx: Any, n: Any) -> Any:
    """A 1-D float64 array of ``n <= SCRATCH`` elements on the stack of the function it is
    used in (uninitialized, never to escape it)."""
    if not isinstance(n, types.Integer):
        return None
    array_type = types.Array(types.float64, 1, "C")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        buf = _cg.alloca_once(builder, ir.DoubleType(), size=SCRATCH)
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


scratch: Any = intrinsic(_scratch_typer)
