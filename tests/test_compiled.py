"""The compiled interpreter against the reference: equal to the bit, on random programs.

Programs are drawn over every registered op (the strategy is built from the registry, so a
new op is covered without touching this file), with NaN- and inf-producing data, on small
regression and classification tasks, one to five at a time (several tasks run in lockstep,
each stopping on its own). Fitnesses, probes and the generator's state after the run must all
be identical. The numpy-exact layer the kernels compile against is also checked function by
function, and the disk cache by a second process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit
from numba.core.errors import TypingError

from primeval.algorithms.baselines import function, instr
from primeval.algorithms.interpret import codegen, protocol
from primeval.algorithms.interpret import compiled as compiled_module
from primeval.algorithms.interpret.codegen import cache_dir, generate_source, load_dispatch
from primeval.algorithms.interpret.compiled import CompiledInterpreter
from primeval.algorithms.interpret.numpy_exact import NUMPY_EXACT
from primeval.algorithms.interpret.reference import ReferenceInterpreter, run_task
from primeval.algorithms.interpret.ufunc_loops import EXACT_UFUNCS
from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY, Kind
from primeval.algorithms.program import Function, Program
from primeval.algorithms.tasks.base import Task, TaskSet, shuffled_order
from primeval.algorithms.tasks.synthetic import linear_regression_tasks

REFERENCE = ReferenceInterpreter()
BANKS = Banks(4, 3, 1)


def code(name: str) -> int:
    return REGISTRY[name].code


def fn(*rows: tuple[str, int, int, int, list[float]]) -> Function:
    """Instructions as ``(op name, in1, in2, out, data)``."""
    return Function.from_instructions([(code(op), a, b, o, d) for op, a, b, o, d in rows])


def solution(lr: float = 0.01) -> Program:
    """Linear regression by SGD, the solution of the AutoML-Zero demo."""
    return Program(
        fn(("SCALAR_CONST_SET", 0, 0, 2, [lr])),
        fn(("VECTOR_INNER_PRODUCT", 0, 1, 1, [])),
        fn(
            ("SCALAR_DIFF", 0, 1, 3, []),
            ("SCALAR_PRODUCT", 3, 2, 3, []),
            ("SCALAR_VECTOR_PRODUCT", 3, 0, 2, []),
            ("VECTOR_SUM", 1, 2, 1, []),
        ),
        BANKS,
    )


def small_tasks(
    seed: int, dim: int, classification: bool, epochs: int, n_tasks: int = 2
) -> TaskSet:
    """Tasks (two by default) of 12 train / 6 valid examples from random linear teachers."""
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(n_tasks):
        x = rng.standard_normal((18, dim))
        y = x @ rng.standard_normal(dim)
        if classification:
            y = (y > 0).astype(np.float64)
        order = shuffled_order(12, epochs, rng)
        tasks.append(Task(x[:12], y[:12], x[12:], y[12:], classification, epochs, order))
    return TaskSet.of(tasks)


@pytest.fixture(scope="session")
def compiled() -> CompiledInterpreter:
    """The interpreter, compiled (or loaded from the disk cache) once per session."""
    interpreter = CompiledInterpreter()
    interpreter.fitnesses(solution(), small_tasks(0, 4, False, 1), np.random.default_rng(0))
    return interpreter


# --- random programs over every op ------------------------------------------------------------

DATA = st.one_of(
    st.floats(0.0, 1.0, exclude_max=True),  # indices stored as floats
    st.floats(-4.0, 4.0),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e300, -1e300]),
)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """Valid programs of 0-8 instructions per component over every op the memory allows."""
    banks = Banks(draw(st.integers(2, 5)), draw(st.integers(1, 4)), draw(st.integers(0, 3)))
    usable = [
        spec
        for spec in REGISTRY
        if all(banks.in_range(kind) for kind in spec.inputs)
        and (spec.output is None or banks.out_range(spec.output))
    ]
    functions = []
    for _ in range(3):
        rows = []
        for _ in range(draw(st.integers(0, 8))):
            spec = draw(st.sampled_from(usable))
            ins = [draw(st.sampled_from(banks.in_range(kind))) for kind in spec.inputs]
            ins += [0] * (2 - len(ins))
            out = draw(st.sampled_from(banks.out_range(spec.output))) if spec.output else 0
            rows.append(
                (spec.code, ins[0], ins[1], out, draw(st.lists(DATA, min_size=3, max_size=3)))
            )
        functions.append(Function.from_instructions(rows))
    return Program(functions[0], functions[1], functions[2], banks)


@st.composite
def task_sets(draw: st.DrawFn) -> TaskSet:
    return small_tasks(
        draw(st.integers(0, 2**32 - 1)),
        draw(st.sampled_from([2, 4])),
        draw(st.booleans()),
        draw(st.sampled_from([1, 2])),
        draw(st.sampled_from([1, 2, 5])),
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    program=programs(),
    tasks=task_sets(),
    seed=st.integers(0, 2**32 - 1),
    n_train=st.one_of(st.none(), st.integers(0, 30)),
    n_valid=st.one_of(st.none(), st.integers(0, 8)),
    probe_sizes=st.tuples(st.integers(0, 14), st.integers(0, 8)),
)
def test_equals_reference_on_random_programs(
    compiled: CompiledInterpreter,
    program: Program,
    tasks: TaskSet,
    seed: int,
    n_train: int | None,
    n_valid: int | None,
    probe_sizes: tuple[int, int],
) -> None:
    want_rng, got_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    want = REFERENCE.fitnesses(program, tasks, want_rng, n_train, n_valid)
    got = compiled.fitnesses(program, tasks, got_rng, n_train, n_valid)
    np.testing.assert_array_equal(got, want)
    assert got_rng.bit_generator.state == want_rng.bit_generator.state  # the same draws
    assert np.all((got >= 0.0) & (got <= 1.0))

    want_probe = REFERENCE.probe(program, tasks, *probe_sizes, seed=seed)
    got_probe = compiled.probe(program, tasks, *probe_sizes, seed=seed)
    np.testing.assert_array_equal(got_probe, want_probe)  # NaNs in the same places


# --- every op, one at a time, on every lane ----------------------------------------------------


def _one_op_program(code: int) -> Program:
    """A program whose prediction depends on one instruction of op ``code``: its inputs come
    from the features and from weights that Learn changes, its output is reduced into the
    prediction ``s1``."""
    spec = REGISTRY[code]
    sources = {Kind.SCALAR: (2, 3), Kind.VECTOR: (0, 2), Kind.MATRIX: (0, 1)}
    outputs = {Kind.SCALAR: 4, Kind.VECTOR: 3, Kind.MATRIX: 2}
    ins = [sources[kind][k] for k, kind in enumerate(spec.inputs)] + [0, 0]
    out = outputs[spec.output] if spec.output is not None else 0
    reduce = {
        Kind.SCALAR: instr("SCALAR_SUM", out=1, in1=4, in2=2),
        Kind.VECTOR: instr("VECTOR_MEAN", out=1, in1=3),
        Kind.MATRIX: instr("MATRIX_MEAN", out=1, in1=2),
        None: instr("VECTOR_MEAN", out=1, in1=2),
    }[spec.output]
    setup = function(
        instr("SCALAR_CONST_SET", out=5, data=(0.05,)),
        instr("VECTOR_CONST_SET", out=1, data=(0.3, 0.5)),
    )
    predict = function(
        instr("VECTOR_MEAN", out=2, in1=0),
        instr("VECTOR_INNER_PRODUCT", out=3, in1=0, in2=1),
        instr("VECTOR_OUTER_PRODUCT", out=0, in1=0, in2=1),
        instr("VECTOR_OUTER_PRODUCT", out=1, in1=1, in2=0),
        instr("VECTOR_SUM", out=2, in1=0, in2=1),
        (code, ins[0], ins[1], out, (0.3, 0.7, 0.4)),
        reduce,
    )
    learn = function(
        instr("SCALAR_DIFF", out=2, in1=0, in2=1),
        instr("SCALAR_PRODUCT", out=2, in1=2, in2=5),
        instr("SCALAR_VECTOR_PRODUCT", out=3, in1=2, in2=0),
        instr("VECTOR_SUM", out=1, in1=1, in2=3),
    )
    return Program(setup, predict, learn, Banks(6, 4, 3))


@pytest.mark.parametrize("code", [spec.code for spec in REGISTRY], ids=lambda c: REGISTRY[c].name)
def test_each_op_equals_reference_on_every_lane(compiled: CompiledInterpreter, code: int) -> None:
    """Five tasks fill two groups of lanes (the second partly): a change to one op's compiled
    semantics, on any lane, shows in the errors of some example."""
    program = _one_op_program(code)
    for classification in (False, True):
        tasks = small_tasks(code, 4, classification, 2, n_tasks=5)
        want = REFERENCE.fitnesses(program, tasks, np.random.default_rng(code))
        got = compiled.fitnesses(program, tasks, np.random.default_rng(code))
        np.testing.assert_array_equal(got, want)
        want_probe = REFERENCE.probe(program, tasks, 12, 6, seed=code)
        got_probe = compiled.probe(program, tasks, 12, 6, seed=code)
        np.testing.assert_array_equal(got_probe, want_probe)
        if code != 0:  # the test can fail: without the op, the errors differ
            blank = _one_op_program(0)
            assert not np.array_equal(REFERENCE.probe(blank, tasks, 12, 6, seed=code), want_probe)


# --- known programs -----------------------------------------------------------------------------


def test_solution_solves_linear_regression(compiled: CompiledInterpreter) -> None:
    tasks = linear_regression_tasks(n_tasks=10, dim=4, n_train=1000, n_valid=100, seed=1)
    got = compiled.fitnesses(solution(), tasks, np.random.default_rng(0))
    assert got.mean() > 0.9999  # the demo's success criterion
    want = REFERENCE.fitnesses(solution(), tasks, np.random.default_rng(0))
    np.testing.assert_array_equal(got, want)


NON_FINITE = {
    "nan prediction": Program(
        fn(),
        fn(("SCALAR_DIVISION", 0, 0, 1, [])),  # 0 / 0: s0 is 0 while predicting
        fn(),
        BANKS,
    ),
    "overflow in learn": Program(
        fn(("SCALAR_CONST_SET", 0, 0, 2, [1e300])),
        fn(("VECTOR_INNER_PRODUCT", 0, 1, 1, [])),
        fn(
            ("SCALAR_PRODUCT", 2, 2, 2, []),
            ("SCALAR_VECTOR_PRODUCT", 2, 0, 2, []),
            ("VECTOR_SUM", 1, 2, 1, []),
        ),
        BANKS,
    ),
    "log of negative": Program(
        fn(("SCALAR_CONST_SET", 0, 0, 2, [-3.0])),
        fn(("SCALAR_LOG", 2, 0, 1, [])),
        fn(),
        BANKS,
    ),
    "inf then nan": Program(
        fn(("SCALAR_RECIPROCAL", 0, 0, 2, [])),  # 1 / 0 = inf
        fn(("SCALAR_PRODUCT", 2, 0, 1, [])),  # inf * 0 = nan
        fn(("SCALAR_RECIPROCAL", 0, 0, 3, [])),
        BANKS,
    ),
    "arcsin out of range": Program(
        fn(("SCALAR_CONST_SET", 0, 0, 2, [2.0])),
        fn(("SCALAR_ARCSIN", 2, 0, 1, [])),
        fn(),
        BANKS,
    ),
    "exp overflow": Program(
        fn(("SCALAR_CONST_SET", 0, 0, 2, [1e3])),
        fn(("SCALAR_EXP", 2, 0, 3, []), ("SCALAR_DIFF", 3, 3, 1, [])),  # inf - inf
        fn(("MATRIX_RECIPROCAL", 0, 0, 0, []), ("MATRIX_ST_DEV", 0, 0, 3, [])),
        BANKS,
    ),
    "huge but finite": Program(
        fn(("SCALAR_CONST_SET", 0, 0, 2, [1e300])),
        fn(("SCALAR_PRODUCT", 2, 0, 1, [])),  # 0 while predicting
        fn(("VECTOR_NORM", 0, 0, 3, []), ("SCALAR_PRODUCT", 3, 2, 3, [])),
        BANKS,
    ),
}


@pytest.mark.parametrize("classification", [False, True])
@pytest.mark.parametrize("name", sorted(NON_FINITE))
def test_non_finite_values_give_a_fitness_in_range(
    compiled: CompiledInterpreter, name: str, classification: bool
) -> None:
    program = NON_FINITE[name]
    tasks = small_tasks(3, 4, classification, 2)
    got = compiled.fitnesses(program, tasks, np.random.default_rng(0))
    assert np.all(np.isfinite(got) & (got >= 0.0) & (got <= 1.0))
    np.testing.assert_array_equal(
        got, REFERENCE.fitnesses(program, tasks, np.random.default_rng(0))
    )


def test_unknown_op_raises_like_the_reference(compiled: CompiledInterpreter) -> None:
    unknown = next(c for c in range(128) if c not in REGISTRY)
    program = Program(Function.from_instructions([(unknown, 0, 0, 1, [])]), fn(), fn(), BANKS)
    tasks = small_tasks(0, 2, False, 1)
    with pytest.raises(KeyError):
        REFERENCE.fitnesses(program, tasks, np.random.default_rng(0))
    with pytest.raises(KeyError):
        compiled.fitnesses(program, tasks, np.random.default_rng(0))


def test_addresses_out_of_range_raise_like_the_reference(compiled: CompiledInterpreter) -> None:
    """The reference raises IndexError reading or writing past a bank; the compiled
    interpreter refuses such a program before running it."""
    tasks = small_tasks(0, 2, False, 1)
    for setup, predict, learn in (
        (fn(("SCALAR_SUM", 0, 4, 2, [])), fn(), fn()),  # s4 of 4 scalars
        (fn(), fn(("VECTOR_SUM", 0, 1, 3, [])), fn()),  # writes v3 of 3 vectors
        (fn(), fn(), fn(("MATRIX_TRANSPOSE", 1, 0, 0, []))),  # m1 of 1 matrix
    ):
        program = Program(setup, predict, learn, BANKS)
        with pytest.raises(IndexError):
            REFERENCE.fitnesses(program, tasks, np.random.default_rng(0))
        with pytest.raises(IndexError, match="out of range"):
            compiled.fitnesses(program, tasks, np.random.default_rng(0))
        with pytest.raises(IndexError, match="out of range"):
            compiled.probe(program, tasks, 3, 2, seed=0)


def test_predict_writing_the_features(compiled: CompiledInterpreter) -> None:
    """Learn sees the features again, not what Predict wrote over them (valid programs never
    write v0; the compiled interpreter then skips loading them twice)."""
    program = Program(
        fn(("VECTOR_CONST_SET", 0, 0, 1, [0.3, 0.2])),
        fn(("VECTOR_SUM", 0, 1, 0, []), ("VECTOR_INNER_PRODUCT", 0, 1, 1, [])),
        fn(("SCALAR_VECTOR_PRODUCT", 0, 0, 2, []), ("VECTOR_SUM", 1, 2, 1, [])),
        BANKS,
    )
    for classification in (False, True):
        tasks = small_tasks(8, 4, classification, 2, n_tasks=5)
        want = REFERENCE.fitnesses(program, tasks, np.random.default_rng(0))
        np.testing.assert_array_equal(
            compiled.fitnesses(program, tasks, np.random.default_rng(0)), want
        )
        np.testing.assert_array_equal(
            compiled.probe(program, tasks, 9, 4, seed=0), REFERENCE.probe(program, tasks, 9, 4, 0)
        )


def test_python_lockstep_equals_reference() -> None:
    """The lockstep protocol's source, run as plain Python, is the reference's protocol."""
    writes_v0 = Program(
        fn(),
        fn(("VECTOR_SUM", 0, 1, 0, []), ("VECTOR_INNER_PRODUCT", 0, 0, 1, [])),
        fn(("SCALAR_VECTOR_PRODUCT", 0, 0, 1, [])),
        BANKS,
    )
    for program, tasks, reload in (
        (solution(), small_tasks(5, 4, False, 2, n_tasks=4), False),
        (solution(0.5), small_tasks(6, 2, True, 2, n_tasks=3), False),
        (solution(5.0), small_tasks(7, 4, False, 2, n_tasks=4), False),  # diverges
        (writes_v0, small_tasks(9, 4, False, 2, n_tasks=3), True),
    ):
        n = len(tasks)
        stacked = tasks.stacked()
        lanes = compiled_module.lane_arrays(
            stacked["train_x"], stacked["train_y"], stacked["order"], stacked["valid_x"],
            stacked["valid_y"],
        )  # fmt: skip
        ops, args, data, bounds = program.encode()
        b = program.banks
        s, v, m = compiled_module.bank_arrays(n, b.scalars, b.vectors, b.matrices, tasks.dim)
        w = s.shape[0] * s.shape[2]  # lanes
        got, errors = np.empty(n), np.full((n, 20), np.nan)
        with np.errstate(all="ignore"):
            protocol.run_lockstep(
                ops, args, data, bounds, s, v, m, lanes, n, stacked["train_x"].shape[1],
                tasks.classification, 14, 6, 100.0, got, errors, True, reload,
                np.empty((3, w), dtype=np.uint64), np.empty((2, w)), np.empty((w, b.scalars)),
                np.empty((w, b.vectors, tasks.dim)),
            )  # fmt: skip
        want = REFERENCE.fitnesses(program, tasks, np.random.default_rng(0), 14, 6)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(errors, REFERENCE.probe(program, tasks, 14, 6, 0))


def test_python_protocol_equals_reference() -> None:
    """The protocol's source, run as plain Python, is the reference's protocol."""
    for program, tasks in (
        (solution(), small_tasks(5, 4, False, 2)),
        (solution(0.5), small_tasks(6, 2, True, 2)),
    ):
        stacked = tasks.stacked()
        for t, task in enumerate(tasks):
            want = run_task(program, task, np.random.default_rng(0)).fitness
            ops, args, data, bounds = program.encode()
            s, v, m = program.banks.zeros(tasks.dim)
            got = protocol.run_task(
                ops, args, data, bounds, s, v, m, np.random.default_rng(0),
                stacked["train_x"][t], stacked["train_y"][t], stacked["order"][t],
                stacked["valid_x"][t], stacked["valid_y"][t], tasks.classification, 10**9, 10**9,
                100.0, np.empty(0), False,
            )  # fmt: skip
            assert got == want


# --- the numpy-exact layer ----------------------------------------------------------------------


def _with_specials(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e308, 1.0, -1.0])
    x = x.copy()
    mask = rng.random(x.shape) < 0.2
    x[mask] = rng.choice(specials, int(mask.sum()))
    return x


def _same(got: Any, want: Any) -> bool:
    """Equal bit patterns, any NaN matching any NaN (payloads never reach a fitness)."""
    got, want = np.atleast_1d(np.asarray(got, float)), np.atleast_1d(np.asarray(want, float))
    nan = np.isnan(want)
    return bool(np.array_equal(np.isnan(got), nan) and got[~nan].tobytes() == want[~nan].tobytes())


@pytest.mark.parametrize("name", EXACT_UFUNCS)
def test_exact_ufuncs_are_numpys(name: str) -> None:
    ufunc = getattr(NUMPY_EXACT, name)

    @njit(error_model="numpy")
    def elementwise(x: np.ndarray) -> Any:
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = ufunc(x[i])
        return out

    rng = np.random.default_rng(1)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 710.0, -750.0, 1.0, -1.0]
    x = np.concatenate([rng.standard_normal(20000) * 3, rng.uniform(-1, 1, 20000), specials])
    with np.errstate(all="ignore"):
        assert _same(elementwise(x), getattr(np, name)(x))


@njit(error_model="numpy")
def _scalar_results(a: np.ndarray, b: np.ndarray) -> Any:
    x, y = a[0], b[0]
    return (
        NUMPY_EXACT.sum(a),
        NUMPY_EXACT.mean(a),
        NUMPY_EXACT.sum(x),
        NUMPY_EXACT.mean(x),
        NUMPY_EXACT.sum(NUMPY_EXACT.multiply(x, y)),
        NUMPY_EXACT.sum(NUMPY_EXACT.multiply(a, b)),
        NUMPY_EXACT.maximum(a[0, 0], b[0, 0]),
        NUMPY_EXACT.minimum(a[0, 0], b[0, 0]),
        NUMPY_EXACT.abs(a[0, 0]),
        NUMPY_EXACT.sqrt(a[0, 0]),
        NUMPY_EXACT.divide(a[0, 0], b[0, 0]),
    )


@njit(error_model="numpy")
def _array_results(a: np.ndarray, b: np.ndarray) -> Any:
    n = a.shape[0]
    x, y = a[0], b[0]
    into = [np.empty_like(a) for _ in range(9)]
    NUMPY_EXACT.maximum(a, b, out=into[0])
    NUMPY_EXACT.add(a, b, into[1])
    NUMPY_EXACT.subtract(a, b[-1, -1], into[2])
    NUMPY_EXACT.divide(1.0, a, into[3])
    NUMPY_EXACT.sqrt(a, into[4])
    NUMPY_EXACT.sum(NUMPY_EXACT.multiply(a[:, None, :], b.T, order="C"), axis=2, out=into[5])
    NUMPY_EXACT.outer(x, y, into[6])
    NUMPY_EXACT.copyto(into[7], y[:, None])
    NUMPY_EXACT.copyto(into[8], b.T)
    rows = [np.empty(n) for _ in range(6)]
    NUMPY_EXACT.multiply(x, a[-1, -1], rows[0])
    NUMPY_EXACT.abs(y, rows[1])
    NUMPY_EXACT.sum(NUMPY_EXACT.multiply(a, y), axis=1, out=rows[2])
    NUMPY_EXACT.sum(NUMPY_EXACT.multiply(a, a), axis=0, out=rows[3])
    NUMPY_EXACT.sum(a, axis=1, out=rows[4])
    NUMPY_EXACT.sum(a, axis=-2, out=rows[5])
    return (
        into, rows, NUMPY_EXACT.minimum(a, b), NUMPY_EXACT.sum(a, axis=0),
        NUMPY_EXACT.sum(a, axis=1), NUMPY_EXACT.outer(x, y),
    )  # fmt: skip


def _numpy_array_results(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    x, y = a[0], b[0]
    return (
        np.maximum(a, b), a + b, a - b[-1, -1], 1.0 / a, np.sqrt(a),
        np.sum(np.multiply(a[:, None, :], b.T, order="C"), axis=2), np.outer(x, y),
        np.repeat(y[:, None], len(y), axis=1), b.T, x * a[-1, -1], np.abs(y),
        np.sum(a * y, axis=1), np.sum(a * a, axis=0), np.sum(a, axis=1), np.sum(a, axis=0),
        np.minimum(a, b), np.sum(a, axis=0), np.sum(a, axis=1), np.outer(x, y),
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("dim", [1, 2, 3, 4, 7, 8, 9, 16, 33])
def test_exact_reductions_and_products_are_numpys(dim: int) -> None:
    """The stand-ins compute what numpy computes, sums of products included (numpy's sum of
    its product array: pairwise over the last axis, in order down the others)."""
    rng = np.random.default_rng(dim)
    for trial in range(200):
        a = rng.standard_normal((dim, dim)) * np.exp(rng.standard_normal((dim, dim)) * 3)
        b = rng.standard_normal((dim, dim))
        if trial % 2:
            a, b = _with_specials(a, rng), _with_specials(b, rng)
        if trial % 7 == 3:  # signed zeros only: the sign of a zero sum tells the order
            a, b = rng.choice([0.0, -0.0], a.shape), rng.choice([0.0, -0.0, 1.0], b.shape)
        with np.errstate(all="ignore"):
            x, y = a[0], b[0]
            scalars = (
                np.sum(a), np.mean(a), np.sum(x), np.mean(x), np.sum(x * y), np.sum(a * b),
                np.maximum(a[0, 0], b[0, 0]), np.minimum(a[0, 0], b[0, 0]), np.abs(a[0, 0]),
                np.sqrt(a[0, 0]), a[0, 0] / b[0, 0],
            )  # fmt: skip
            for got, want in zip(_scalar_results(a, b), scalars, strict=True):
                assert _same(got, want), (trial, got, want)
            into, rows, *rest = _array_results(a, b)
            for k, (got, want) in enumerate(
                zip([*into, *rows, *rest], _numpy_array_results(a, b), strict=True)
            ):
                assert _same(got, want), (trial, k, got, want)


@njit(error_model="numpy")
def _in_place(m: np.ndarray, v: np.ndarray) -> None:
    NUMPY_EXACT.copyto(m[0], m[0].T)
    NUMPY_EXACT.sum(NUMPY_EXACT.multiply(m[1], v[0]), axis=1, out=v[0])
    NUMPY_EXACT.sum(NUMPY_EXACT.multiply(m[2][:, None, :], m[2].T, order="C"), axis=2, out=m[2])
    NUMPY_EXACT.minimum(v[1], v[2], out=v[1])
    NUMPY_EXACT.copyto(m[3], v[1])
    NUMPY_EXACT.multiply(m[3], m[3], m[3])


@pytest.mark.slow
@pytest.mark.parametrize("dim", [1, 2, 4, 5, 16, 17])
def test_exact_stand_ins_with_the_output_an_input(dim: int) -> None:
    """An output that is an input: numpy copies (or computes a product array) first."""
    rng = np.random.default_rng(dim)
    m, v = rng.standard_normal((4, dim, dim)), rng.standard_normal((3, dim))
    want_m, want_v = m.copy(), v.copy()
    want_m[0] = want_m[0].T.copy()
    want_v[0] = np.sum(want_m[1] * want_v[0], axis=1)
    want_m[2] = np.sum(np.multiply(want_m[2][:, None, :], want_m[2].T, order="C"), axis=2)
    want_v[1] = np.minimum(want_v[1], want_v[2])
    want_m[3] = want_v[1]
    want_m[3] = want_m[3] * want_m[3]
    _in_place(m, v)
    assert _same(m, want_m) and _same(v, want_v)


def test_partial_overlap_is_refused_when_compiled() -> None:
    @njit(error_model="numpy")
    def shifted(x: np.ndarray) -> None:
        NUMPY_EXACT.add(x[1:], x[1:], x[:-1])

    with pytest.raises(ValueError, match="overlaps"):
        shifted(np.ones(5))


def test_dot_is_refused_when_compiled() -> None:
    """numpy's dot is its BLAS's, whose summation order depends on the CPU."""

    @njit(error_model="numpy")
    def dot(x: np.ndarray) -> Any:
        return NUMPY_EXACT.dot(x, x)

    with pytest.raises(TypingError, match="BLAS"):
        dot(np.ones(3))


@njit(error_model="numpy")
def _total(a: np.ndarray) -> Any:
    return NUMPY_EXACT.sum(a)


@pytest.mark.slow
def test_pairwise_sum_above_one_block() -> None:
    """numpy splits sums of more than 128 numbers in halves; so does the compiled one."""
    rng = np.random.default_rng(7)
    for n in (127, 128, 129, 200, 256, 1000, 4097):
        a = rng.standard_normal(n) * np.exp(rng.standard_normal(n) * 8)
        assert _same(_total(a), np.sum(a)), n


# --- generation and the disk cache --------------------------------------------------------------


def test_cache_name_covers_every_module_compiled_in() -> None:
    """Every module of the interpret package but the interpreter class's is compiled into the
    generated module, and so is every function they import from primeval: each one's source
    must change the disk cache's name."""
    import inspect
    import pkgutil

    from primeval.algorithms import interpret

    covered = {m.__name__ for m in codegen.COMPILED_IN} | {codegen.__name__}
    package = {f"{interpret.__name__}.{m.name}" for m in pkgutil.iter_modules(interpret.__path__)}
    assert package - covered == {compiled_module.__name__}
    for module in codegen.COMPILED_IN:
        if not module.__name__.startswith(interpret.__name__):
            continue  # a module of constants and Python helpers (memory, mutate)
        for value in vars(module).values():
            source = getattr(value, "__module__", None)
            if inspect.isfunction(value) and str(source).startswith("primeval."):
                assert source in covered or source.startswith("primeval.algorithms.ops"), (
                    f"{module.__name__} uses {source}"
                )


def test_generated_source_has_a_branch_per_op() -> None:
    source = generate_source()
    for spec in REGISTRY:
        assert f"_op == {spec.code}:  # {spec.name}" in source
        assert f"_k{spec.code} = _numpy_exact.jit_kernel(" in source
    assert codegen.EXEC_CALL not in source  # expanded, not called


def test_second_process_loads_cached_code(compiled: CompiledInterpreter) -> None:
    module = load_dispatch()
    path = Path(module.__file__ or "")
    assert path.parent == cache_dir() or "primeval-numba" in str(path.parent)
    # numba's own account of the second process: what it ran came from the disk cache (hits)
    # and nothing was compiled there (no misses).
    script = (
        "import numpy as np\n"
        "from numba.core.dispatcher import Dispatcher\n"
        "from primeval.algorithms.interpret.compiled import CompiledInterpreter, load_dispatch\n"
        "from primeval.algorithms.tasks.synthetic import linear_regression_tasks\n"
        "from primeval.algorithms.program import Program\n"
        "tasks = linear_regression_tasks(n_tasks=2, dim=4, n_train=10, n_valid=10, seed=0)\n"
        "CompiledInterpreter().fitnesses(Program.empty(), tasks, np.random.default_rng(0))\n"
        "ds = [d for d in vars(load_dispatch()).values() if isinstance(d, Dispatcher)]\n"
        "print(sum(sum(d.stats.cache_hits.values()) for d in ds),\n"
        "      sum(sum(d.stats.cache_misses.values()) for d in ds))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(compiled_module.__file__).parents[3]), env.get("PYTHONPATH", "")]
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    hits, misses = map(int, result.stdout.split())
    assert hits >= 1 and misses == 0, result.stderr
