"""The compiled interpreter: the reference protocol in one numba call per program.

It gives the answers of :mod:`~primeval.algorithms.interpret.reference`, bit for bit, a few
hundred times faster. The protocol is AutoML-Zero's (Real et al., "AutoML-Zero: Evolving
Machine Learning Algorithms From Scratch", ICML 2020, Sec. 4 and the reference ``Executor``);
the reference module's docstring lists its steps.

Design:

- **Dispatch generated from the registry.** Each op is defined once, as a kernel in
  :mod:`~primeval.algorithms.ops`. :func:`~.codegen.generate_source` writes a module that
  compiles every registered kernel and the protocol (:func:`~.protocol.run_task`,
  :func:`~.protocol.run_lockstep`, :func:`~.protocol.run_tasks_with`, plain Python here), with
  the protocol's single ``_exec(...)`` and ``_exec_tasks(...)`` lines expanded into ``if/elif``
  chains over op codes calling the kernels (LLVM makes a chain a jump table). One call of the
  generated ``run_tasks_with`` evaluates a program on every task, epoch and example.
- **Tasks in lockstep, in SIMD lanes.** All tasks of a set have as many examples and epochs, so
  a program that draws no random numbers runs on all of them at once
  (:func:`~.protocol.run_lockstep`): each instruction is decoded and dispatched once, and its
  branch of the jump table applies the kernel to every task. Memory keeps the tasks innermost,
  in groups of :data:`~.intrinsics.LANES` (``s[group, address, lane]``, ``v[group, address, i,
  lane]``), and so do the examples (:func:`lane_arrays`, built once per task set): a branch runs
  the op's own kernel, inlined, on each lane's view of memory (:func:`~.intrinsics.lane`) in a
  loop of ``LANES`` iterations, which LLVM writes out and packs into SIMD instructions across
  tasks (its SLP vectorizer, which numba leaves off: :class:`~.intrinsics.vectorizing`). That
  needs views whose shapes and strides are constants (for ``F`` in
  :data:`~.exact_sums.FAST_DIMS`; other sizes get a branch with ``F`` a variable, per lane), and
  banks that LLVM knows not to overlap (:class:`~.intrinsics.NoAliasCompiler`). Scalar and
  vector ops run on every lane, tasks stopped or not (a stopped task's lane computes what no one
  reads); matrix ops and the rest are called per lane, for running tasks only. Matrices stay per
  task (``m[task]``). The bookkeeping per example (errors, losses, loading the next example) is
  SIMD too, falling back to a loop over tasks for classification, probes and failing tasks. A
  program that draws runs task after task (:func:`~.protocol.run_task`, on each task's lane), so
  that the draws come in the reference's order.
- **Disk cache.** The generated source goes to ``$PRIMEVAL_CACHE_DIR`` (default
  ``~/.cache/primeval/numba``) under a name hashing it, every kernel module, every module
  compiled in (:data:`~.codegen.COMPILED_IN`) and the numpy / numba / Python versions, and is
  imported from there so that numba's ``cache=True`` works (numba cannot cache code built with
  ``exec``): a second process loads machine code instead of compiling. Nothing compiles at
  import; the first evaluation does (two to three minutes, cold).
- **Bit-identical to the reference.** numba reimplements numpy, not always the way numpy
  computes. numpy evaluates ``exp``, ``log``, ``tan``, ``arcsin``, ``arccos`` and ``arctan``
  with its own SIMD code (AVX-512, SVML), which differs from the C library's in the last bit for
  a few percent of inputs; it sums with pairwise summation; its ``maximum``/``minimum`` return
  the second argument when both are zeros of either sign. The kernels are therefore compiled
  against :data:`~.numpy_exact.NUMPY_EXACT`, the ``numpy`` namespace with those functions
  replaced: the transcendental functions call numpy's own float64 ufunc loop (its address linked
  under a fixed symbol name, so cached code stays valid in a new process), and
  ``sum``/``mean``/``maximum``/``minimum`` follow numpy's algorithms. Products are never numpy's
  ``dot`` (the BLAS it ships sums in an order that depends on the CPU): the ops define them as
  numpy's sum of the elementwise products, and ``NUMPY_EXACT.dot`` refuses to compile. Random
  draws go through the caller's generator, as in numpy.
- **Speed.** Most of an instruction's cost was overhead around a few flops on vectors of 4:
  numba's ufunc machinery (broadcasting, a fresh array per temporary, BLAS for a 4-element dot
  product), a function call per kernel, and reference counting of every array view. Now: the
  ``NUMPY_EXACT`` stand-ins are plain loops that allocate nothing (a product that is only summed
  is never built; loops over 4 elements are written out); the kernels of scalar and vector ops
  are inlined by LLVM (numba's ``forceinline``) into the jump tables' branches, matrix ops are
  called (inlining them all costs compile time for little); kernels and the lockstep protocol
  are compiled without numba's runtime (``_nrt=False``: no reference counting; its few
  allocations are passed in); addresses, tasks and examples are indexed with unsigned integers
  (numba then emits no handling of negative indices); the generator is passed as its bit
  generator's addresses (numba's unboxing of a ``Generator`` costs about 7 us per call); arrays
  are borrowed without reference counting. On the demo (F = 4, 10 tasks of 100 + 100 examples,
  three groups of lanes) a scalar or vector instruction costs about 0.3-0.5 ns per task (mostly
  the latency of its result going through memory to the next instruction), a matrix one 10-40 ns
  (a call per task); the protocol's bookkeeping about 2.5 ns per example and task; a call from
  Python about 3.5 us.

The ideas live in modules of their own: numpy's float64 loops (:mod:`.ufunc_loops`), its
sums and reductions (:mod:`.exact_sums`, over the operands of :mod:`.operands`), its
elementwise functions (:mod:`.exact_elementwise`), the ``np`` of kernels
(:mod:`.numpy_exact`), generators and lanes (:mod:`.intrinsics`), the protocol
(:mod:`.protocol`) and the generated module with its disk cache (:mod:`.codegen`); this
module is the interpreter.

``tests/test_compiled.py`` checks equality with the reference on random programs over all ops.
"""

from __future__ import annotations

import numpy as np

from primeval.algorithms.interpret.codegen import cache_lock as cache_lock
from primeval.algorithms.interpret.codegen import is_cached as is_cached
from primeval.algorithms.interpret.codegen import load_dispatch
from primeval.algorithms.interpret.intrinsics import (
    IDLE_RNG,
    LANES,
    generator_addresses,
    vectorizing,
)
from primeval.algorithms.interpret.protocol import DRAWS
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR
from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import Task, TaskSet

_NO_PROBE = np.empty((0, 0))

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
        self.fitnesses(Program.empty(sizes=(1, 1, 1)), TaskSet.of([task]), IDLE_RNG)

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
        if np.take(DRAWS, program.encode()[0], mode="clip").any():
            gens = [np.random.default_rng(seed) for _ in range(len(tasks))]
            rngs = np.stack([generator_addresses(g, cache=False) for g in gens])
            rngs.setflags(write=False)  # the same array type in every call: one compilation
        else:
            gens = [IDLE_RNG]
            rngs = _generator_rows(IDLE_RNG)
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
        dispatch = load_dispatch()
        task_set = tasks if isinstance(tasks, TaskSet) else TaskSet.of(tasks)
        st = task_set.stacked()
        ops, args, data, bounds = program.encode()
        memory = _memory(program.banks, len(task_set), task_set.dim)
        with vectorizing():
            bad = dispatch.run_tasks_with(
                dispatch._KNOWN, ops, args, data, bounds, *memory,
                st["train_x"], st["train_y"], st["order"], st["valid_x"], st["valid_y"],
                _lanes_of(task_set), task_set.classes,
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
