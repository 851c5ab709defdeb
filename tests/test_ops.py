"""Every registered op against an independent numpy expression, plus the registry's contract.

Expectations are written as plain numpy math (``np.linalg.norm``, ``np.std``,
``x @ y``, ``np.outer``), never through the kernels' own code paths. The
expectation tables are keyed by op name and checked against the registry, so a
newly registered op without a test case fails here.
"""

from __future__ import annotations

import ast
import string
import warnings
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any, NamedTuple

import numpy as np
import pytest

from primeval.algorithms.memory import FEATURES, LABEL, PREDICTION, Banks
from primeval.algorithms.ops import (
    REGISTRY,
    Cost,
    Family,
    Kind,
    OpRegistry,
    OpSpec,
    RegistryError,
    register,
)
from primeval.algorithms.program import Instruction

F = 4
BANKS = Banks(scalars=5, vectors=4, matrices=3)
NAN, INF = float("nan"), float("inf")


class Mem(NamedTuple):
    s: np.ndarray
    v: np.ndarray
    m: np.ndarray

    def copy(self) -> Mem:
        return Mem(self.s.copy(), self.v.copy(), self.m.copy())

    def bank(self, kind: Kind) -> np.ndarray:
        return {Kind.SCALAR: self.s, Kind.VECTOR: self.v, Kind.MATRIX: self.m}[kind]


def random_mem(rng: np.random.Generator, banks: Banks = BANKS, dim: int = F) -> Mem:
    return Mem(
        rng.standard_normal(banks.scalars),
        rng.standard_normal((banks.vectors, dim)),
        rng.standard_normal((banks.matrices, dim, dim)),
    )


def run(
    name: str,
    mem: Mem,
    in1: int = 0,
    in2: int = 0,
    out: int = 0,
    d: tuple[float, ...] = (0.0, 0.0, 0.0),
    rng: np.random.Generator | None = None,
) -> Mem:
    """Run op ``name`` on a copy of ``mem`` (numpy warnings silenced, as interpreters do)."""
    after = mem.copy()
    data = np.zeros(3)
    data[: len(d)] = d
    with np.errstate(all="ignore"):
        REGISTRY[name].kernel(
            after.s, after.v, after.m, in1, in2, out, data, rng or np.random.default_rng(0)
        )
    return after


def element(f: float, dim: int = F) -> int:
    """The documented index mapping: int(F * f) for f in [0, 1), clamped, NaN -> 0."""
    if np.isnan(f) or f < 0:
        return 0
    if f >= 1:
        return dim - 1
    return min(int(np.floor(dim * f)), dim - 1)


# --- expectations ----------------------------------------------------------------------
# Each maps (memory before, in1, in2, data) to the value the output address must hold.

Expect = Callable[[Mem, int, int, int, np.ndarray], Any]


def _ss(f: Callable[[Any, Any], Any]) -> Expect:
    return lambda mem, a, b, o, d: f(mem.s[a], mem.s[b])


def _s(f: Callable[[Any], Any]) -> Expect:
    return lambda mem, a, b, o, d: f(mem.s[a])


def _vv(f: Callable[[Any, Any], Any]) -> Expect:
    return lambda mem, a, b, o, d: f(mem.v[a], mem.v[b])


def _v(f: Callable[[Any], Any]) -> Expect:
    return lambda mem, a, b, o, d: f(mem.v[a])


def _mm(f: Callable[[Any, Any], Any]) -> Expect:
    return lambda mem, a, b, o, d: f(mem.m[a], mem.m[b])


def _m(f: Callable[[Any], Any]) -> Expect:
    return lambda mem, a, b, o, d: f(mem.m[a])


def _with(old: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    new = old.copy()
    new[index] = value
    return new


def _where_min(x: Any, y: Any) -> Any:
    return np.where(x <= y, x, y)


def _where_max(x: Any, y: Any) -> Any:
    return np.where(x >= y, x, y)


EXPECT: dict[str, Expect | None] = {
    "NO_OP": None,
    # scalar binary
    "SCALAR_SUM": _ss(lambda x, y: x + y),
    "SCALAR_DIFF": _ss(lambda x, y: x - y),
    "SCALAR_PRODUCT": _ss(lambda x, y: x * y),
    "SCALAR_DIVISION": _ss(lambda x, y: x / y),
    "SCALAR_MIN": _ss(_where_min),
    "SCALAR_MAX": _ss(_where_max),
    # scalar unary
    "SCALAR_ABS": _s(abs),
    "SCALAR_RECIPROCAL": _s(lambda x: 1 / x),
    "SCALAR_SIN": _s(np.sin),
    "SCALAR_COS": _s(np.cos),
    "SCALAR_TAN": _s(np.tan),
    "SCALAR_ARCSIN": _s(np.arcsin),
    "SCALAR_ARCCOS": _s(np.arccos),
    "SCALAR_ARCTAN": _s(np.arctan),
    "SCALAR_EXP": _s(np.exp),
    "SCALAR_LOG": _s(np.log),
    "SCALAR_HEAVYSIDE": _s(lambda x: np.heaviside(x, 1.0)),
    # vector elementwise
    "VECTOR_SUM": _vv(lambda x, y: x + y),
    "VECTOR_DIFF": _vv(lambda x, y: x - y),
    "VECTOR_PRODUCT": _vv(lambda x, y: x * y),
    "VECTOR_DIVISION": _vv(lambda x, y: x / y),
    "VECTOR_MIN": _vv(_where_min),
    "VECTOR_MAX": _vv(_where_max),
    "VECTOR_ABS": _v(np.fabs),
    "VECTOR_RECIPROCAL": _v(np.reciprocal),
    "VECTOR_HEAVYSIDE": _v(lambda x: np.heaviside(x, 0.0)),
    # matrix elementwise
    "MATRIX_SUM": _mm(lambda x, y: x + y),
    "MATRIX_DIFF": _mm(lambda x, y: x - y),
    "MATRIX_PRODUCT": _mm(lambda x, y: x * y),
    "MATRIX_DIVISION": _mm(lambda x, y: x / y),
    "MATRIX_MIN": _mm(_where_min),
    "MATRIX_MAX": _mm(_where_max),
    "MATRIX_ABS": _m(np.fabs),
    "MATRIX_RECIPROCAL": _m(np.reciprocal),
    "MATRIX_HEAVYSIDE": _m(lambda x: np.heaviside(x, 0.0)),
    # linear algebra
    "SCALAR_VECTOR_PRODUCT": lambda mem, a, b, o, d: mem.s[a] * mem.v[b],
    "SCALAR_BROADCAST": lambda mem, a, b, o, d: np.full(F, mem.s[a]),
    "VECTOR_NORM": _v(np.linalg.norm),
    "VECTOR_INNER_PRODUCT": _vv(lambda x, y: float(x @ y)),
    "VECTOR_OUTER_PRODUCT": _vv(np.outer),
    "SCALAR_MATRIX_PRODUCT": lambda mem, a, b, o, d: mem.s[a] * mem.m[b],
    "MATRIX_VECTOR_PRODUCT": lambda mem, a, b, o, d: mem.m[a] @ mem.v[b],
    "VECTOR_COLUMN_BROADCAST": _v(lambda x: np.tile(x[:, None], (1, F))),
    "VECTOR_ROW_BROADCAST": _v(lambda x: np.tile(x[None, :], (F, 1))),
    "MATRIX_NORM": _m(lambda x: np.linalg.norm(x, "fro")),
    "MATRIX_COLUMN_NORM": _m(lambda x: np.linalg.norm(x, axis=0)),
    "MATRIX_ROW_NORM": _m(lambda x: np.linalg.norm(x, axis=1)),
    "MATRIX_TRANSPOSE": _m(np.transpose),
    "MATRIX_MATRIX_PRODUCT": _mm(lambda x, y: x @ y),
    # statistics (population standard deviation)
    "VECTOR_MEAN": _v(lambda x: sum(x) / len(x)),
    "MATRIX_MEAN": _m(np.mean),
    "MATRIX_ROW_MEAN": _m(lambda x: x.mean(axis=1)),
    "MATRIX_ROW_ST_DEV": _m(lambda x: x.std(axis=1)),
    "VECTOR_ST_DEV": _v(np.std),
    "MATRIX_ST_DEV": _m(np.std),
    # constants (the vector and matrix ones write one element)
    "SCALAR_CONST_SET": lambda mem, a, b, o, d: d[0],
    "VECTOR_CONST_SET": lambda mem, a, b, o, d: _with(mem.v[o], (element(d[0]),), d[1]),
    "MATRIX_CONST_SET": lambda mem, a, b, o, d: _with(
        mem.m[o], (element(d[0]), element(d[1])), d[2]
    ),
}

# Stochastic ops: the distribution their every output element follows.
STOCHASTIC: dict[str, str] = {
    "SCALAR_UNIFORM_SET": "uniform",
    "VECTOR_UNIFORM_SET": "uniform",
    "MATRIX_UNIFORM_SET": "uniform",
    "SCALAR_GAUSSIAN_SET": "gaussian",
    "VECTOR_GAUSSIAN_SET": "gaussian",
    "MATRIX_GAUSSIAN_SET": "gaussian",
}

DETERMINISTIC = sorted(EXPECT, key=lambda n: REGISTRY[n].code)


def test_every_registered_op_has_an_expectation() -> None:
    assert set(EXPECT).isdisjoint(STOCHASTIC)
    assert set(EXPECT) | set(STOCHASTIC) == set(REGISTRY.names())
    assert set(STOCHASTIC) == {s.name for s in REGISTRY if s.stochastic}


# --- deterministic ops on regular inputs -------------------------------------------------


def address_patterns(spec: OpSpec, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Random distinct-ish addresses plus every aliasing of out with an input of its bank."""

    def draw(kind: Kind, outs: bool = False) -> int:
        r = BANKS.out_range(kind) if outs else BANKS.in_range(kind)
        return int(rng.choice(list(r)))

    patterns = []
    for _ in range(3):
        ins = [draw(k) for k in spec.inputs] + [0, 0]
        out = draw(spec.output, outs=True) if spec.output else 0
        patterns.append((ins[0], ins[1], out))
    if spec.output is not None:
        outs = list(BANKS.out_range(spec.output))
        same = [i for i, k in enumerate(spec.inputs) if k == spec.output]
        for i in same:  # out == in_i
            o = outs[-1]
            args = [0, 0, o]
            for j, k in enumerate(spec.inputs):
                args[j] = o if j == i else draw(k)
            patterns.append((args[0], args[1], args[2]))
        if len(same) == 2:  # out == in1 == in2
            patterns.append((outs[0], outs[0], outs[0]))
    return patterns


def check_only_out_changed(spec: OpSpec, before: Mem, after: Mem, out: int) -> None:
    for kind in Kind:
        old, new = before.bank(kind), after.bank(kind)
        assert new.shape == old.shape and new.dtype == np.float64
        for addr in range(old.shape[0]):
            if spec.output == kind and addr == out:
                continue
            assert np.asarray(old[addr]).tobytes() == np.asarray(new[addr]).tobytes(), (
                f"{spec.name} changed {kind.prefix}{addr}, which is not its output"
            )


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_op_matches_numpy(name: str) -> None:
    spec = REGISTRY[name]
    rng = np.random.default_rng(spec.code)
    for trial in range(4):
        mem = random_mem(rng)
        d = np.array([rng.random(), rng.random(), rng.standard_normal()])
        for a, b, o in address_patterns(spec, rng):
            after = run(name, mem, a, b, o, tuple(d))
            check_only_out_changed(spec, mem, after, o)
            if spec.output is None:
                continue
            expect = EXPECT[name]
            assert expect is not None
            with np.errstate(all="ignore"):
                got, want = after.bank(spec.output)[o], expect(mem, a, b, o, d)
            np.testing.assert_allclose(
                got,
                want,
                rtol=1e-12,
                atol=1e-12,
                equal_nan=True,
                err_msg=f"{name} {a, b, o} {trial}",
            )


# --- numeric edge cases ------------------------------------------------------------------


def scalars(*values: float) -> Mem:
    s = np.zeros(BANKS.scalars)
    s[: len(values)] = values
    return Mem(s, np.zeros((BANKS.vectors, F)), np.zeros((BANKS.matrices, F, F)))


@pytest.mark.parametrize(
    ("name", "x", "y", "want"),
    [
        ("SCALAR_DIVISION", 1.0, 0.0, INF),
        ("SCALAR_DIVISION", -1.0, 0.0, -INF),
        ("SCALAR_DIVISION", 0.0, 0.0, NAN),
        ("SCALAR_RECIPROCAL", 0.0, 0.0, INF),
        ("SCALAR_RECIPROCAL", -0.0, 0.0, -INF),
        ("SCALAR_LOG", -1.0, 0.0, NAN),
        ("SCALAR_LOG", 0.0, 0.0, -INF),
        ("SCALAR_ARCSIN", 2.0, 0.0, NAN),
        ("SCALAR_ARCCOS", -1.5, 0.0, NAN),
        ("SCALAR_EXP", 1000.0, 0.0, INF),
        ("SCALAR_EXP", -1000.0, 0.0, 0.0),
        ("SCALAR_TAN", INF, 0.0, NAN),
        ("SCALAR_HEAVYSIDE", 0.0, 0.0, 1.0),
        ("SCALAR_HEAVYSIDE", -0.0, 0.0, 1.0),
        ("SCALAR_HEAVYSIDE", -1e-300, 0.0, 0.0),
        ("SCALAR_HEAVYSIDE", NAN, 0.0, 0.0),
        ("SCALAR_MIN", NAN, 1.0, NAN),
        ("SCALAR_MIN", 1.0, NAN, NAN),
        ("SCALAR_MAX", NAN, 1.0, NAN),
        ("SCALAR_MAX", 1.0, NAN, NAN),
        ("SCALAR_MAX", -INF, INF, INF),
        ("SCALAR_PRODUCT", 1e200, 1e200, INF),
        ("SCALAR_PRODUCT", INF, 0.0, NAN),
        ("SCALAR_SUM", INF, -INF, NAN),
    ],
)
def test_scalar_edge_cases(name: str, x: float, y: float, want: float) -> None:
    after = run(name, scalars(x, y), in1=0, in2=1, out=2)
    np.testing.assert_equal(after.s[2], want)


@pytest.mark.parametrize("kind", [Kind.VECTOR, Kind.MATRIX])
def test_elementwise_edge_cases(kind: Kind) -> None:
    """Vectors and matrices (every matrix row is the vector case) share the elementwise rules."""
    x = np.array([1.0, -1.0, 0.0, NAN])
    y = np.array([0.0, 0.0, 0.0, 1.0])
    mem = scalars()
    a, b, out = 1, 2, 0
    mem.bank(kind)[a], mem.bank(kind)[b] = x, y  # a matrix gets x (or y) in every row

    def check(name: str, want: list[float], first: int = a, second: int = b) -> None:
        got = run(f"{kind.name}_{name}", mem, first, second, out).bank(kind)[out]
        np.testing.assert_equal(got, np.broadcast_to(want, got.shape), err_msg=name)

    check("DIVISION", [INF, -INF, NAN, NAN])
    check("RECIPROCAL", [1.0, -1.0, INF, NAN])
    # heaviside is strict on vectors and matrices: 0 -> 0 (and NaN -> 0)
    check("HEAVYSIDE", [1.0, 0.0, 0.0, 0.0])
    # NaN propagates through min and max, whichever side it is on
    check("MIN", [0.0, -1.0, 0.0, NAN])
    check("MAX", [1.0, 0.0, 0.0, NAN])
    check("MIN", [0.0, -1.0, 0.0, NAN], b, a)
    check("MAX", [1.0, 0.0, 0.0, NAN], b, a)
    check("ABS", [1.0, 1.0, 0.0, NAN])


@pytest.mark.parametrize("c", [0.0, 1.0, -3.7, 0.1, 1e8, 123456.789])
def test_standard_deviation_of_a_constant_is_zero_or_nan(c: float) -> None:
    mem = Mem(
        np.zeros(BANKS.scalars), np.full((BANKS.vectors, F), c), np.full((BANKS.matrices, F, F), c)
    )
    results = [
        run("VECTOR_ST_DEV", mem, in1=1, out=2).s[2],
        run("MATRIX_ST_DEV", mem, in1=0, out=2).s[2],
        *run("MATRIX_ROW_ST_DEV", mem, in1=0, out=1).v[1],
    ]
    for r in results:
        assert np.isnan(r) or abs(r) <= 1e-6 * max(1.0, abs(c)), r


def test_matrix_transpose_in_place() -> None:
    mem = random_mem(np.random.default_rng(1))
    after = run("MATRIX_TRANSPOSE", mem, in1=1, out=1)
    np.testing.assert_array_equal(after.m[1], mem.m[1].T)


def test_matrix_vector_product_in_place() -> None:
    mem = random_mem(np.random.default_rng(2))
    after = run("MATRIX_VECTOR_PRODUCT", mem, in1=0, in2=2, out=2)
    np.testing.assert_allclose(after.v[2], mem.m[0] @ mem.v[2], rtol=1e-13)


@pytest.mark.parametrize(("a", "b", "o"), [(1, 2, 1), (1, 2, 2), (1, 1, 1), (2, 1, 1)])
def test_matrix_matrix_product_in_place(a: int, b: int, o: int) -> None:
    mem = random_mem(np.random.default_rng(3))
    after = run("MATRIX_MATRIX_PRODUCT", mem, in1=a, in2=b, out=o)
    np.testing.assert_allclose(after.m[o], mem.m[a] @ mem.m[b], rtol=1e-13)


def test_outer_product_of_a_vector_with_itself() -> None:
    mem = random_mem(np.random.default_rng(4))
    after = run("VECTOR_OUTER_PRODUCT", mem, in1=2, in2=2, out=0)
    np.testing.assert_array_equal(after.m[0], np.outer(mem.v[2], mem.v[2]))


INDEX_CASES = [
    (0.0, 0),
    (0.1, 0),
    (0.2499, 0),
    (0.25, 1),
    (0.5, 2),
    (0.74, 2),
    (0.75, 3),
    (0.999, 3),
    (np.nextafter(1.0, 0.0), 3),
    (-0.3, 0),
    (-INF, 0),
    (1.0, 3),
    (1.5, 3),
    (INF, 3),
    (NAN, 0),
]


@pytest.mark.parametrize(("f", "i"), INDEX_CASES)
def test_vector_const_set_index(f: float, i: int) -> None:
    mem = random_mem(np.random.default_rng(5))
    after = run("VECTOR_CONST_SET", mem, out=2, d=(f, 7.5))
    want = mem.v[2].copy()
    want[i] = 7.5
    np.testing.assert_array_equal(after.v[2], want)
    assert element(f) == i


@pytest.mark.parametrize(("f", "i"), INDEX_CASES)
def test_matrix_const_set_index(f: float, i: int) -> None:
    mem = random_mem(np.random.default_rng(6))
    for g, j in INDEX_CASES[::4]:
        after = run("MATRIX_CONST_SET", mem, out=1, d=(f, g, -2.25))
        want = mem.m[1].copy()
        want[i, j] = -2.25
        np.testing.assert_array_equal(after.m[1], want)


def test_const_set_index_covers_every_element() -> None:
    mem = Mem(
        np.zeros(BANKS.scalars), np.zeros((BANKS.vectors, F)), np.zeros((BANKS.matrices, F, F))
    )
    for k in range(F):
        mem = run("VECTOR_CONST_SET", mem, out=1, d=((k + 0.5) / F, k + 1.0))
    np.testing.assert_array_equal(mem.v[1], np.arange(1.0, F + 1))


# --- stochastic ops ----------------------------------------------------------------------


def draws(name: str, d: tuple[float, float], n: int, seed: int = 0) -> np.ndarray:
    """At least ``n`` output values of stochastic op ``name``, from one seeded generator."""
    spec = REGISTRY[name]
    assert spec.output is not None
    rng = np.random.default_rng(seed)
    mem = random_mem(np.random.default_rng(99))
    data = np.array([d[0], d[1], 0.0])
    values: list[np.ndarray] = []
    with np.errstate(all="ignore"):
        while sum(x.size for x in values) < n:
            spec.kernel(mem.s, mem.v, mem.m, 0, 0, 1, data, rng)
            values.append(np.array(mem.bank(spec.output)[1], copy=True).ravel())
    return np.concatenate(values)


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_stochastic_op_distribution(name: str) -> None:
    n = 4000
    if STOCHASTIC[name] == "uniform":
        lo, hi = -0.5, 2.0
        x = draws(name, (lo, hi), n)
        assert np.all((x >= lo) & (x < hi))
        assert abs(x.mean() - (lo + hi) / 2) < 5 * (hi - lo) / np.sqrt(12 * len(x))
        assert abs(np.mean(x < (lo + hi) / 2) - 0.5) < 5 * 0.5 / np.sqrt(len(x))
    else:
        mu, sigma = 1.5, 0.25
        x = draws(name, (mu, sigma), n)
        assert abs(x.mean() - mu) < 5 * sigma / np.sqrt(len(x))
        assert abs(x.std() / sigma - 1) < 0.06
        assert abs(np.mean(np.abs(x - mu) < sigma) - 0.6827) < 0.04


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_stochastic_op_is_reproducible_from_its_generator(name: str) -> None:
    np.testing.assert_array_equal(
        draws(name, (0.0, 1.0), 50, seed=3), draws(name, (0.0, 1.0), 50, seed=3)
    )
    assert not np.array_equal(
        draws(name, (0.0, 1.0), 50, seed=3), draws(name, (0.0, 1.0), 50, seed=4)
    )


@pytest.mark.parametrize("name", [n for n, k in STOCHASTIC.items() if k == "gaussian"])
def test_negative_std_does_not_raise(name: str) -> None:
    x = draws(name, (0.0, -2.0), 2000)
    assert np.all(np.isfinite(x))
    assert abs(x.std() / 2.0 - 1) < 0.1


@pytest.mark.parametrize("name", [n for n, k in STOCHASTIC.items() if k == "uniform"])
def test_uniform_with_reversed_or_empty_range_does_not_raise(name: str) -> None:
    x = draws(name, (2.0, -1.0), 200)
    assert np.all((x > -1.0) & (x <= 2.0))
    np.testing.assert_array_equal(draws(name, (0.5, 0.5), 20), 0.5)


# --- totality: no op ever raises, whatever memory and data hold ---------------------------

SPECIAL = np.array([NAN, INF, -INF, 0.0, -0.0, 1e300, -1e300, 1e-300, 1.0, -2.5, 0.5, 1e-8])


def wild(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values mixing NaN, inf, zeros, huge, tiny and ordinary numbers."""
    x = rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)
    pick = rng.random(shape) < 0.5
    return np.where(pick, rng.choice(SPECIAL, shape), x)


def test_reserved_addresses_are_not_writable() -> None:
    for banks in (BANKS, Banks(), Banks(2, 1, 0)):
        assert LABEL not in banks.out_range(Kind.SCALAR)
        assert PREDICTION in banks.out_range(Kind.SCALAR)
        assert FEATURES not in banks.out_range(Kind.VECTOR)
        assert set(banks.out_range(Kind.MATRIX)) == set(banks.in_range(Kind.MATRIX))


@pytest.mark.parametrize("name", REGISTRY.names())
def test_op_never_raises_and_writes_only_its_output(name: str) -> None:
    spec = REGISTRY[name]
    rng = np.random.default_rng(1000 + spec.code)
    for _ in range(40):
        mem = Mem(
            wild(rng, (BANKS.scalars,)),
            wild(rng, (BANKS.vectors, F)),
            wild(rng, (BANKS.matrices, F, F)),
        )
        ins = [int(rng.choice(list(BANKS.in_range(k)))) for k in spec.inputs] + [0, 0]
        out = int(rng.choice(list(BANKS.out_range(spec.output)))) if spec.output else 0
        d = tuple(wild(rng, (3,)))
        after = mem.copy()
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.kernel(after.s, after.v, after.m, ins[0], ins[1], out, np.array(d), rng)
        check_only_out_changed(spec, mem, after, out)


@pytest.mark.parametrize("name", REGISTRY.names())
def test_op_warns_about_nothing_but_numeric_trouble(name: str) -> None:
    """Numpy's error state covers numeric trouble; any other warning is a defect.

    For instance ``np.minimum(x, y, out)`` with ``out`` positional is deprecated in
    numpy 2.4 (a future numpy rejects it), while numba accepts ``out`` only positionally.
    """
    spec = REGISTRY[name]
    mem = random_mem(np.random.default_rng(spec.code))
    out = BANKS.out_range(spec.output)[0] if spec.output else 0
    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(name, mem, 0, 1 if spec.arity == 2 else 0, out, (0.5, 0.5, 0.5))
    assert not caught, f"{name} warned: {caught[0].category.__name__}: {caught[0].message}"


# --- the registry ------------------------------------------------------------------------


def test_registry_has_the_65_reference_ops() -> None:
    assert len(REGISTRY) == 65
    codes = [s.code for s in REGISTRY]
    assert sorted(codes) == list(range(65))
    names = REGISTRY.names()
    assert len(set(names)) == 65
    assert REGISTRY.max_code() == 64
    for spec in REGISTRY:
        assert REGISTRY[spec.name] is spec and REGISTRY[spec.code] is spec
        assert spec.name in REGISTRY and spec.code in REGISTRY


def test_registry_refuses_collisions() -> None:
    reg = OpRegistry()
    spec = REGISTRY["SCALAR_SUM"]
    reg.add(spec.name, spec)
    with pytest.raises(RegistryError, match="already registered"):
        reg.add(spec.name, replace(spec, code=100))
    with pytest.raises(RegistryError, match="code"):
        reg.add("SCALAR_SUM_AGAIN", replace(spec, name="SCALAR_SUM_AGAIN"))
    with pytest.raises(RegistryError, match="outside"):
        reg.add("TOO_HIGH", replace(spec, name="TOO_HIGH", code=128))
    assert len(reg) == 1


def test_register_decorator_refuses_a_duplicate_of_a_registered_op() -> None:
    reg = OpRegistry()

    def kernel(s: Any, v: Any, m: Any, a: int, b: int, o: int, d: Any, rng: Any) -> None:
        s[o] = s[a]

    register(1, "COPY", "s>s", "{out} = {in1}", Cost.SCALAR, registry=reg)(kernel)
    assert reg["COPY"].inputs == (Kind.SCALAR,) and reg["COPY"].output is Kind.SCALAR
    with pytest.raises(RegistryError):
        register(2, "COPY", "s>s", "{out} = {in1}", registry=reg)(kernel)
    with pytest.raises(RegistryError):
        register(1, "OTHER", "s>s", "{out} = {in1}", registry=reg)(kernel)
    with pytest.raises(KeyError, match="unknown op"):
        reg["NOT_AN_OP"]


@pytest.mark.parametrize("name", REGISTRY.names())
def test_template_formats_with_exactly_its_fields(name: str) -> None:
    spec = REGISTRY[name]
    fields = {f for _, f, _, _ in string.Formatter().parse(spec.template) if f is not None}
    want = {"in1", "in2"}.intersection(("in1", "in2")[: spec.arity])
    if spec.output is not None:
        want.add("out")
    want |= {f.name for f in spec.data}
    assert fields == want
    line = Instruction(spec, 1, 2, 1, (0.25, 0.5, 0.75)).render()
    ast.parse(line)  # valid Python


# --- what every op declares ----------------------------------------------------------------------

OP_FACTS = {
    "code", "name", "inputs", "output", "data", "template", "kernel", "cost", "stochastic",
    "sorted_data", "partial_write", "family", "commutative", "increasing", "bilinear",
    "kernel_form",
}  # fmt: skip
"""Everything an op states, once, in its registration; every other table is derived."""

ELEMENTWISE_BINARY = (Family.SUM, Family.DIFF, Family.DIVISION, Family.MAX, Family.MIN)


def test_an_op_declares_exactly_the_listed_facts() -> None:
    """A new fact about ops goes on OpSpec and into the checks below, not into a side table."""
    assert {f.name for f in fields(OpSpec)} == OP_FACTS


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_op_declares_consistent_facts(name: str) -> None:
    spec = REGISTRY[name]
    assert isinstance(spec.code, int) and 0 <= spec.code <= 127
    assert spec.name == name and spec.name.isupper()
    assert len(spec.inputs) <= 2 and all(isinstance(k, Kind) for k in spec.inputs)
    assert spec.output is None or isinstance(spec.output, Kind)
    assert isinstance(spec.cost, Cost) and callable(spec.kernel) and spec.template
    assert spec.family is None or isinstance(spec.family, Family)
    if spec.family in ELEMENTWISE_BINARY:
        assert spec.inputs == (spec.output, spec.output)
    if spec.family in (Family.RECIPROCAL, Family.HEAVISIDE):
        assert spec.inputs == (spec.output,)
    if spec.family in (Family.PRODUCT, Family.CONTRACTION):
        assert spec.arity == 2
    if spec.family is Family.SCALE_STAT:
        assert spec.arity == 1 and spec.output in (Kind.SCALAR, Kind.VECTOR)
    if spec.commutative:
        assert spec.arity == 2 and spec.inputs[0] == spec.inputs[1]
    if spec.increasing:
        assert spec.output is Kind.SCALAR and spec.inputs[0] is Kind.SCALAR
    if spec.bilinear:
        assert spec.family in (Family.PRODUCT, Family.CONTRACTION)
        assert Kind.SCALAR not in spec.inputs
    if spec.partial_write:
        assert spec.output in (Kind.VECTOR, Kind.MATRIX) and spec.data and not spec.stochastic
    if spec.stochastic or spec.output is None:
        assert spec.family is None and not (spec.commutative or spec.bilinear or spec.increasing)


def test_derived_op_tables() -> None:
    """The tables other modules derive from the registrations (as they were kept by hand)."""
    from primeval.algorithms import dataflow, dce
    from primeval.export import KERNEL_FORM

    assert {"VECTOR_CONST_SET", "MATRIX_CONST_SET"} == dce.PARTIAL_WRITES
    assert {"MATRIX_NORM", "VECTOR_ST_DEV", "MATRIX_ST_DEV", "MATRIX_ROW_ST_DEV"} == KERNEL_FORM
    assert dataflow.BILINEAR_CORES == {
        "VECTOR_INNER_PRODUCT": 1,
        "VECTOR_OUTER_PRODUCT": 2,
        "MATRIX_VECTOR_PRODUCT": 3,
        "MATRIX_MATRIX_PRODUCT": 4,
    }
    assert {"SCALAR_PRODUCT", "SCALAR_VECTOR_PRODUCT", "SCALAR_MATRIX_PRODUCT"} == dataflow.SCALINGS
    assert {
        "VECTOR_NORM", "MATRIX_NORM", "MATRIX_COLUMN_NORM", "MATRIX_ROW_NORM", "VECTOR_ST_DEV",
        "MATRIX_ST_DEV", "MATRIX_ROW_ST_DEV",
    } == dataflow.SCALE_STATS  # fmt: skip
    assert {
        "SCALAR_SUM", "VECTOR_SUM", "MATRIX_SUM", "SCALAR_MAX", "VECTOR_MAX", "MATRIX_MAX",
        "SCALAR_MIN", "VECTOR_MIN", "MATRIX_MIN", "SCALAR_PRODUCT", "VECTOR_PRODUCT",
        "MATRIX_PRODUCT", "VECTOR_INNER_PRODUCT",
    } == dataflow.COMMUTATIVE  # fmt: skip
    families = [
        dataflow.SUMS, dataflow.DIFFS, dataflow.PRODUCTS, dataflow.CONTRACTIONS,
        dataflow.DIVISIONS, dataflow.RECIPROCALS, dataflow.HEAVISIDES, dataflow.MAXES,
        dataflow.MINS, dataflow.LINEAR_UNARY, dataflow.SCALE_STATS,
    ]  # fmt: skip
    assert [len(f) for f in families] == [3, 3, 6, 3, 3, 3, 3, 3, 3, 7, 7]
