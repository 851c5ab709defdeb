"""The generated module and its disk cache.

:func:`generate_source` writes one module holding every registered kernel, the protocol of
:mod:`.protocol` with its ``_exec`` lines expanded into jump tables, and the compiled search
loop (:data:`EXTENSIONS`); :func:`load_dispatch` writes it to the cache directory under a name
hashing everything compiled in (:data:`COMPILED_IN`) and imports it, so that numba's
``cache=True`` keeps its machine code across processes.
"""

from __future__ import annotations

import contextlib
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
import numba
import numba.core.compiler
import numpy as np

from primeval.algorithms import memory, mutate
from primeval.algorithms.interpret import (
    exact_elementwise,
    exact_sums,
    intrinsics,
    jitting,
    numpy_exact,
    operands,
    protocol,
    reference,
    search_fec,
    search_hurdle,
    search_loop,
    search_precheck,
    search_rows,
    search_state,
    search_tables,
    ufunc_loops,
)
from primeval.algorithms.interpret.exact_sums import FAST_DIMS
from primeval.algorithms.interpret.intrinsics import LANES
from primeval.algorithms.interpret.protocol import (
    arg_kinds_table,
    draws_table,
    every_lane,
    inlined,
    op_kinds,
    run_lockstep,
    run_task,
    run_tasks_with,
)
from primeval.algorithms.ops import REGISTRY, Kind, OpSpec

_HEADER = '''"""Compiled protocol and op dispatch for primeval, generated from the op registry.

Written by primeval.algorithms.interpret.codegen (see the docstring of
primeval.algorithms.interpret.compiled); do not edit. The protocol is copied from
primeval.algorithms.interpret.protocol, its ``_exec(...)`` and ``_exec_tasks(...)`` lines
expanded into jump tables over the registered kernels. The file name hashes everything the
machine code depends on, so that numba's on-disk cache next to it can be trusted.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from primeval.algorithms.interpret import intrinsics as _intrinsics
from primeval.algorithms.interpret import numpy_exact as _numpy_exact
from primeval.algorithms.interpret import protocol as _protocol

# The protocol's helpers and constants, for the copies of its functions below.
globals().update({n: o for n, o in vars(_protocol).items() if n not in globals()})
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

EXEC_CALL = "_exec(ops, args, data, lo, hi, s, v, m, rng)"
EXEC_TASKS_CALL = "_exec_tasks(ops, args, data, lo, hi, s, v, m, mask, dim)"


def _kernel_arguments(spec: OpSpec, banks: tuple[str, str, str] = ("s", "v", "m")) -> str:
    """A kernel call's arguments. A bank the op's signature does not name, and the generator
    of a deterministic op, are passed as ``None``: smaller compiled kernels, no reference
    counting, and a kernel touching anything else fails to compile, loudly."""
    kinds = {kind.value for kind in (*spec.inputs, *((spec.output,) if spec.output else ()))}
    named = [bank if name in kinds else "None" for name, bank in zip("svm", banks, strict=True)]
    return ", ".join([*named, "_a", "_b", "_o", "_d", "rng" if spec.stochastic else "None"])


def _lockstep_branch(spec: OpSpec) -> list[str]:
    """A lockstep jump table's branch for a deterministic op: the kernel on every lane of
    every group, inlined into a loop of :data:`LANES` iterations (see
    :func:`every_lane`; ops on vectors once per size in :data:`FAST_DIMS`, with the views'
    shapes constant, and once for any other size), or on the lanes in ``mask`` (the others)."""
    uses_vectors = Kind.VECTOR in op_kinds(spec)

    def loop(dim: str) -> list[str]:
        banks = (f"lane(s, _g, _u, {dim})", f"lane(v, _g, _u, {dim})", "m[_t]")
        # A loop over the groups linked by ``after`` (``after[g] = g + 1``): LLVM cannot count
        # its iterations, so neither unrolls it nor vectorizes it (code it would multiply by
        # 8, for the few groups there are); it writes out the loop over the lanes.
        call = f"_k{spec.code}({_kernel_arguments(spec, banks)})"
        lines = ["_g = np.uint64(0)", "while True:", f"    for _u in range({LANES}):"]
        if every_lane(spec):
            lines.append(f"        {call}")
        else:
            lines += [f"        _t = _g * {LANES} + _u", "        if mask[_t] != 0:",
                      f"            {call}"]  # fmt: skip
        return [*lines, "    _g = after[_g]", "    if _g >= n_groups:", "        break"]

    if not (every_lane(spec) and uses_vectors and FAST_DIMS):
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
    """:func:`run_task`, :func:`run_lockstep` and :func:`run_tasks_with` with the
    ``_exec`` and ``_exec_tasks`` calls expanded.

    Expanded in the source rather than inlined as a function, which would count references
    to its arguments around every component run.
    """
    lines: list[str] = []
    for fn, call in ((run_task, EXEC_CALL), (run_lockstep, EXEC_TASKS_CALL)):
        if sum(line.strip() == call for line in inspect.getsource(fn).splitlines()) != 1:
            raise RuntimeError(f"{fn.__name__} must call {call} exactly once")
    internal = ", no_cpython_wrapper=True, no_cfunc_wrapper=True"  # called from compiled code
    protocol: list[tuple[Callable[..., Any], str]] = [
        (run_task, internal),
        (run_lockstep, internal + ", _nrt=False, pipeline_class=_intrinsics.NoAliasCompiler"),
        (run_tasks_with, ", cache=True"),
    ]
    for fn, options in protocol:
        lines += ["", "", f'@njit(error_model="numpy"{options})']
        for line in inspect.getsource(fn).splitlines():
            indent = line[: len(line) - len(line.lstrip())]
            if line.strip() == EXEC_CALL:
                lines += _jump_table(specs, indent)
            elif line.strip() == EXEC_TASKS_CALL:
                lines += _jump_table(specs, indent, lockstep=True)
            else:
                lines.append(line)
    return lines


EXTENSIONS: tuple[pytypes.ModuleType, ...] = (search_loop,)
"""Modules compiled into the generated module after the interpreter, so that their loops call
its jump table directly. Each lists the functions to copy in ``GENERATED`` (they call
``run_tasks_with``) and the ones to expose, cached on disk, in ``ENTRIES`` (name: function);
the rest of its namespace (jitable helpers, constants) is visible to them."""

COMPILED_IN: tuple[pytypes.ModuleType, ...] = (
    jitting, ufunc_loops, operands, exact_sums, exact_elementwise, numpy_exact, intrinsics,
    protocol, search_tables, search_rows, search_fec, search_hurdle, search_precheck, search_state,
    search_loop, reference, memory, mutate,
)  # fmt: skip
"""Every module whose source (functions or constants) the machine code is compiled from, besides
the op kernels' modules and this one: the disk cache's name hashes their sources."""


def _extension_source() -> list[str]:
    lines: list[str] = []
    for k, module in enumerate(EXTENSIONS):
        lines += ["", f"import {module.__name__} as _x{k}  # noqa: E402"]
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
        options += ", inline=True" if inlined(spec) else ""
        lines.append(f"_k{spec.code} = _numpy_exact.jit_kernel({target}{options})  # {spec.name}")
    known = ", ".join(str(spec.code) for spec in specs)
    lines.append(f"_KNOWN = np.zeros({max(s.code for s in specs) + 1}, dtype=np.bool_)")
    lines.append(f"_KNOWN[np.array([{known}])] = True")
    lines.append(f"DRAWS = np.array({draws_table(specs).tolist()}, dtype=np.bool_)")
    lines.append(f"_ARG_KINDS = np.array({arg_kinds_table(specs).tolist()}, dtype=np.int8)")
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
    modules |= {__name__, *(module.__name__ for module in COMPILED_IN)}
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
    if _module is not None:  # no lock: the interpreter calls this once per evaluation
        return _module
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
