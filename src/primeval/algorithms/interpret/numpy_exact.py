"""``NUMPY_EXACT``, what ``np`` means in compiled kernels, and :func:`jit_kernel`, which
compiles an op's kernel against it.

The namespace is numpy's, with the functions numba computes differently replaced by the
stand-ins of :mod:`.ufunc_loops`, :mod:`.exact_sums` and :mod:`.exact_elementwise`; so the
one kernel per op serves both interpreters, bit for bit.
"""

from __future__ import annotations

import types as pytypes
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from primeval.algorithms.interpret.exact_elementwise import (
    SCALAR_BINARY,
    SCALAR_UNARY,
    elementwise_binary,
    elementwise_unary,
    exact_copyto,
    exact_outer,
)
from primeval.algorithms.interpret.exact_sums import exact_dot, exact_mean, exact_sum
from primeval.algorithms.interpret.jitting import NO_WRAPPERS
from primeval.algorithms.interpret.ufunc_loops import EXACT_UFUNCS, exact_unary

_EXACT: dict[str, Callable[..., Any]] = {name: exact_unary(name) for name in EXACT_UFUNCS}
_EXACT.update({name: elementwise_binary(name, fn) for name, fn in SCALAR_BINARY.items()})
_EXACT.update({name: elementwise_unary(name, fn) for name, fn in SCALAR_UNARY.items()})
_EXACT.update(absolute=_EXACT["abs"], true_divide=_EXACT["divide"], copyto=exact_copyto)
_EXACT.update(outer=exact_outer, sum=exact_sum, mean=exact_mean, dot=exact_dot)
exact_exp = _EXACT["exp"]
exact_arctan = _EXACT["arctan"]


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
    ``inline``, marked for LLVM to inline (numba's ``forceinline``, see :func:`jitable`);
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
    options: Any = {"forceinline": inline, "_nrt": nrt, "error_model": "numpy", **NO_WRAPPERS}
    return njit(**options)(clone)
