"""Generators and arrays passed to compiled code without numba's boxing, lanes of lockstep
memory, and compiler settings.

numba's unboxing of a ``Generator`` costs about 7 us per call and its reference counting an
atomic operation per array view; the intrinsics here rebuild a generator from its addresses
and borrow arrays the caller keeps alive (:mod:`.compiled`, "Speed").
"""

from __future__ import annotations

import ctypes
from typing import Any

import numba
import numba.core.compiler
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

_cg: Any = cgutils  # llvmlite / numba code generation helpers are untyped
_borrowed: Any = impl_ret_borrowed

LANES = 4
"""Tasks per lane group: lockstep memory keeps the tasks innermost, ``s[group, address, lane]``,
so that a kernel inlined into a loop over the lanes of a group becomes SIMD instructions
across tasks (4 doubles: one AVX2 register)."""


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

IDLE_RNG = np.random.default_rng(0)
"""The generator passed for programs that draw nothing: never advanced."""

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
