"""Printed algorithms: the reference-style listing and the runnable numpy module."""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
import pytest

from primeval.algorithms.baselines import (
    function,
    instr,
    linear_regression_sgd,
    logistic_regression,
    two_layer_relu_net,
)
from primeval.algorithms.interpret.reference import run_task
from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY, Kind
from primeval.algorithms.printing import python_line, to_python, to_text
from primeval.algorithms.program import Function, Instruction, Program
from primeval.algorithms.tasks.base import Task
from primeval.algorithms.tasks.synthetic import linear_regression_tasks, nonlinear_teacher_tasks

F = 4
# The registry's templates for these ops use numpy's own reductions (np.std, a BLAS dot for
# the Frobenius norm) where the kernels sum differently, so they agree to rounding only.
ROUNDING_ONLY = {"MATRIX_NORM", "VECTOR_ST_DEV", "MATRIX_ST_DEV", "MATRIX_ROW_ST_DEV"}


def load(code: str, name: str = "Algorithm") -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(code, "<generated>", "exec"), namespace)
    return namespace[name]


def replay(program: Program, task: Task, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """|y - s1| per training step and per validation example, from the generated module."""
    alg = load(to_python(program))(task.dim, np.random.default_rng(seed))
    alg.setup()
    train = []
    for x, y in zip(task.train_x, task.train_y, strict=True):
        p = alg.predict(x)
        if task.classification:
            alg.s[1] = p = 1.0 / (1.0 + np.exp(-p))
        train.append(abs(y - p))
        alg.learn(x, y)
    valid = []
    for x, y in zip(task.valid_x, task.valid_y, strict=True):
        p = alg.predict(x)
        if task.classification:
            valid.append(float((y > 0.5) != (1.0 / (1.0 + np.exp(-p)) > 0.5)))
        else:
            valid.append(abs(y - p))
    return np.array(train), np.array(valid)


def test_sgd_baseline_listing_reads_like_the_reference() -> None:
    assert to_text(linear_regression_sgd(lr=0.001)) == (
        "def Setup():\n"
        "  s2 = 0.001\n"
        "def Predict():\n"
        "  s1 = np.sum(v0 * v1)\n"
        "def Learn():\n"
        "  s3 = s0 - s1\n"
        "  s3 = s3 * s2\n"
        "  v2 = s3 * v0\n"
        "  v1 = v1 + v2\n"
    )


def test_generated_sgd_module_reproduces_the_interpreter_exactly() -> None:
    task = linear_regression_tasks(1, F, n_train=200, n_valid=50, seed=2)[0]
    program = linear_regression_sgd()
    ref = run_task(program, task, np.random.default_rng(0), record_errors=True)
    train, valid = replay(program, task, seed=0)
    np.testing.assert_array_equal(train, ref.train_errors)
    np.testing.assert_array_equal(valid, ref.valid_errors)


def test_generated_fit_then_predict_matches_the_interpreter() -> None:
    task = linear_regression_tasks(1, F, n_train=100, n_valid=20, seed=3)[0]
    program = linear_regression_sgd()
    ref = run_task(program, task, np.random.default_rng(0), record_errors=True)
    alg = load(to_python(program))(F).fit(task.train_x, task.train_y)
    got = [abs(y - alg.predict(x)) for x, y in zip(task.valid_x, task.valid_y, strict=True)]
    np.testing.assert_array_equal(got, ref.valid_errors)


def test_generated_two_layer_net_draws_the_same_weights() -> None:
    task = nonlinear_teacher_tasks(1, F, n_train=200, n_valid=50, seed=4)[0]
    program = two_layer_relu_net()
    ref = run_task(program, task, np.random.default_rng(7), record_errors=True)
    train, valid = replay(program, task, seed=7)
    np.testing.assert_array_equal(train, ref.train_errors)
    np.testing.assert_array_equal(valid, ref.valid_errors)


def test_generated_logistic_regression_classifies_like_the_interpreter() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, F))
    y = (x @ rng.standard_normal(F) > 0).astype(np.float64)
    task = Task(x[:200], y[:200], x[200:], y[200:], classification=True)
    program = logistic_regression()
    ref = run_task(program, task, np.random.default_rng(0), record_errors=True)
    train, valid = replay(program, task, seed=0)
    np.testing.assert_array_equal(train, ref.train_errors)
    np.testing.assert_array_equal(valid, ref.valid_errors)
    alg = load(to_python(program))(F).fit(task.train_x, task.train_y, classification=True)
    np.testing.assert_array_equal(alg.v[1], _weights_after_training(program, task))


def _weights_after_training(program: Program, task: Task) -> np.ndarray:
    """v1 after one pass of the reference interpreter's training loop."""
    alg = load(to_python(program))(F)
    alg.setup()
    for x, y in zip(task.train_x, task.train_y, strict=True):
        alg.s[1] = 1.0 / (1.0 + np.exp(-alg.predict(x)))
        alg.learn(x, y)
    return np.asarray(alg.v[1])


def rows(fn: Function) -> list[tuple[int, int, int, int, list[float]]]:
    return [
        (int(o), int(a[0]), int(a[1]), int(a[2]), list(d))
        for o, a, d in zip(fn.ops, fn.args, fn.data, strict=True)
    ]


def padded_sgd() -> Program:
    """The SGD baseline with two dead instructions, one of them a const-set."""
    base = linear_regression_sgd()
    return Program(
        function(
            *rows(base.setup),
            instr("VECTOR_CONST_SET", out=2, data=(0.5, 3.0)),  # dead: v2 rewritten in Learn
        ),
        base.predict,
        function(instr("SCALAR_COS", out=3, in1=0), *rows(base.learn)),  # dead: s3 rewritten
        base.banks,
    )


def test_to_python_prunes_dead_code_unless_told_not_to() -> None:
    program = padded_sgd()
    pruned, full = to_python(program), to_python(program, prune=False)
    assert "np.cos" not in pruned and "idx(" not in pruned and "def idx" not in pruned
    assert "2 of 8 instructions could not affect the prediction" in pruned
    assert "s[3] = np.cos(s[0])" in full and "v[2][idx(0.5)] = 3.0" in full
    assert "def idx(self, f):" in full
    # The unpruned module runs too, with the same results.
    task = linear_regression_tasks(1, F, n_train=50, n_valid=20, seed=6)[0]
    ref = run_task(program, task, np.random.default_rng(0), record_errors=True)
    for code in (pruned, full):
        alg = load(code)(F).fit(task.train_x, task.train_y)
        got = [abs(y - alg.predict(x)) for x, y in zip(task.valid_x, task.valid_y, strict=True)]
        np.testing.assert_array_equal(got, ref.valid_errors)


def test_to_python_header_and_structure() -> None:
    code = to_python(two_layer_relu_net(), class_name="TwoLayerNet")
    tree = ast.parse(code)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    assert [c.name for c in classes] == ["TwoLayerNet"]
    methods = [n.name for n in classes[0].body if isinstance(n, ast.FunctionDef)]
    assert methods == ["__init__", "setup", "predict", "learn", "fit"]
    assert "# Memory: 4 scalars s[0..3], 6 vectors v[0..5] of length F, 2 matrices" in code
    alg = load(code, "TwoLayerNet")(5)
    assert alg.s.shape == (4,) and alg.v.shape == (6, 5) and alg.m.shape == (2, 5, 5)


def test_to_text_can_prune() -> None:
    text = to_text(padded_sgd(), prune=True)
    assert text == to_text(linear_regression_sgd())
    assert "cos" in to_text(padded_sgd())


def test_empty_program_prints_and_runs() -> None:
    program = Program.empty(Banks(2, 1, 0))
    assert to_text(program) == "def Setup():\ndef Predict():\ndef Learn():\n"
    alg = load(to_python(program))(3)
    alg.setup()
    assert alg.predict(np.ones(3)) == 0.0
    alg.learn(np.ones(3), 1.0)


def test_to_python_refuses_a_malformed_program() -> None:
    bad = Program(function(), function(instr("SCALAR_CONST_SET", out=0, data=(1.0,))), function())
    with pytest.raises(ValueError, match="writable"):
        to_python(bad)


# --- every op's printed line does what its kernel does ---------------------------------


Memory = tuple[np.ndarray, np.ndarray, np.ndarray]


def _memory(rng: np.random.Generator, special: bool) -> Memory:
    s, v, m = rng.standard_normal(5), rng.standard_normal((4, F)), rng.standard_normal((3, F, F))
    if special:
        for x in (s, v, m):
            x[rng.random(x.shape) < 0.3] = rng.choice([0.0, np.nan, np.inf, -np.inf, 1e300])
    return s, v, m


def _copy(mem: Memory) -> Memory:
    return (mem[0].copy(), mem[1].copy(), mem[2].copy())


def _idx(f: float) -> int:
    if not f > 0.0:
        return 0
    return min(int(f * F), F - 1) if f < 1.0 else F - 1


def _exec_line(ins: Instruction, mem: Memory, seed: int) -> None:
    s, v, m = mem
    namespace = {
        "np": np,
        "s": s,
        "v": v,
        "m": m,
        "F": F,
        "rng": np.random.default_rng(seed),
        "idx": _idx,
        "nan": np.nan,
        "inf": np.inf,
    }
    with np.errstate(all="ignore"):
        exec(python_line(ins), namespace)


def _kernel(ins: Instruction, mem: Memory, seed: int) -> None:
    s, v, m = mem
    with np.errstate(all="ignore"):
        ins.op.kernel(
            s, v, m, ins.in1, ins.in2, ins.out, np.array(ins.data), np.random.default_rng(seed)
        )


@pytest.mark.parametrize("name", REGISTRY.names())
def test_printed_line_matches_the_kernel(name: str) -> None:
    spec = REGISTRY[name]
    rng = np.random.default_rng(spec.code)
    for trial in range(30):
        special = trial % 2 == 1 and name not in ROUNDING_ONLY
        mem = _memory(rng, special)
        a, b = (int(x) for x in rng.integers(0, 3, 2))
        out = int(rng.integers(1, 3))
        data = (float(rng.random()), float(rng.standard_normal()), float(rng.standard_normal()))
        ins = Instruction(spec, a, b, out, data)
        printed = _copy(mem)
        kernel = _copy(mem)
        _exec_line(ins, printed, seed=trial)
        _kernel(ins, kernel, seed=trial)
        for p, k in zip(printed, kernel, strict=True):
            if name in ROUNDING_ONLY:
                np.testing.assert_allclose(p, k, rtol=1e-12, atol=1e-12, err_msg=python_line(ins))
            else:
                np.testing.assert_array_equal(p, k, err_msg=python_line(ins))


DATA_EDGES = [
    (0.0, -1.0),
    (0.0, -0.0),
    (1.0, float("nan")),
    (float("nan"), 1.0),
    (2.0, -3.0),
    (-1e308, 1e308),
    (0.0, float("inf")),
    (-float("inf"), 0.0),
    (0.5, 0.5),
]


@pytest.mark.parametrize("name", sorted(s.name for s in REGISTRY if s.stochastic))
@pytest.mark.parametrize("data", DATA_EDGES)
def test_printed_random_draw_never_raises_and_draws_what_the_kernel_draws(
    name: str, data: tuple[float, float]
) -> None:
    spec = REGISTRY[name]
    assert spec.output is not None
    ins = Instruction(spec, 0, 0, 1, (data[0], data[1], 0.0))
    mem = _memory(np.random.default_rng(0), special=False)
    printed = _copy(mem)
    kernel = _copy(mem)
    _exec_line(ins, printed, seed=3)
    _kernel(ins, kernel, seed=3)
    bank = {Kind.SCALAR: 0, Kind.VECTOR: 1, Kind.MATRIX: 2}[spec.output]
    np.testing.assert_array_equal(printed[bank], kernel[bank], err_msg=python_line(ins))


def test_registry_templates_are_kept_where_numpy_accepts_the_data() -> None:
    ins = Instruction(REGISTRY["VECTOR_GAUSSIAN_SET"], 0, 0, 1, (0.0, 0.5, 0.0))
    assert python_line(ins) == "v[1] = rng.normal(0.0, 0.5, F)"
    neg = Instruction(REGISTRY["VECTOR_GAUSSIAN_SET"], 0, 0, 1, (0.0, -0.5, 0.0))
    assert python_line(neg) == "v[1] = 0.0 + -0.5 * rng.standard_normal(F)"
    rev = Instruction(REGISTRY["SCALAR_UNIFORM_SET"], 0, 0, 2, (1.0, -1.0, 0.0))
    assert python_line(rev) == "s[2] = 1.0 + (-1.0 - 1.0) * rng.random()"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -0.0, 1e-300, 0.1])
def test_data_values_round_trip_through_the_printed_code(value: float) -> None:
    ins = Instruction(REGISTRY["SCALAR_CONST_SET"], 0, 0, 2, (value, 0.0, 0.0))
    s = np.zeros(5)
    _exec_line(ins, (s, np.zeros((4, F)), np.zeros((3, F, F))), seed=0)
    assert np.array_equal(s[2:3], [value], equal_nan=True)
    assert np.signbit(s[2]) == np.signbit(value)
