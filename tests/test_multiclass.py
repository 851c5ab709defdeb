"""Multi-class tasks (Real et al. 2020, Sec. 4.3: ten classes, the label a one-hot vector, the
prediction a vector): the task builder, the protocol's memory layout in the reference
interpreter (``v1`` the one-hot label during Learn, ``v2`` the prediction), and the compiled
interpreter and search bit for bit against it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pydantic
import pytest

from primeval.algorithms.baselines import function, instr, two_layer_softmax_net
from primeval.algorithms.config import Config, load_config
from primeval.algorithms.dce import prune
from primeval.algorithms.evaluate import AlgorithmEvaluator, FECSettings
from primeval.algorithms.evolve import CompiledSearch
from primeval.algorithms.genome import AlgorithmSpace
from primeval.algorithms.interpret.compiled import CompiledInterpreter
from primeval.algorithms.interpret.reference import ReferenceInterpreter, run_task
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import MutationType, Mutator, ProgramSpace
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Program
from primeval.algorithms.tasks import Task, TaskSet, load_digits, multiclass_tasks, shuffled_order
from primeval.engine.search import Search
from primeval.engine.strategies import RegularizedEvolution

REFERENCE = ReferenceInterpreter()


def digits_tasks(n_tasks: int = 2, epochs: int = 2) -> TaskSet:
    x, y = load_digits()
    return multiclass_tasks(x, y, range(n_tasks), 16, 1000, 300, 200, epochs, "digits")


def softmax_regression(reads_label: bool = True, dead: bool = False) -> Program:
    """Predict ``v2 = m0 v0``; Learn ``m0 += 0.1 (v1 - v2) v0^T``: with ``v2`` the softmax
    after Predict, the gradient step of the cross-entropy. Without the label, ``v4`` (zero)
    stands for ``v1``. ``dead``: Learn ends with an instruction whose result is never read."""
    setup = function(instr("SCALAR_CONST_SET", out=2, data=(0.1,)))
    predict = function(instr("MATRIX_VECTOR_PRODUCT", out=2, in1=0, in2=0))
    learn = function(
        instr("VECTOR_DIFF", out=3, in1=1 if reads_label else 4, in2=2),
        instr("SCALAR_VECTOR_PRODUCT", out=3, in1=2, in2=3),
        instr("VECTOR_OUTER_PRODUCT", out=1, in1=3, in2=0),
        instr("MATRIX_SUM", out=0, in1=0, in2=1),
        *([instr("SCALAR_CONST_SET", out=3, data=(2.0,))] if dead else []),
    )
    return Program(setup, predict, learn, Banks(4, 5, 2))


def test_multiclass_tasks_hold_every_class_and_follow_their_seed() -> None:
    tasks = digits_tasks()
    assert tasks.classes == 10 and tasks.dim == 16
    for t in tasks:
        assert t.n_train == 1000 and t.n_valid == 300 and t.test_y is not None
        assert set(np.unique(t.train_y)) == set(range(10))
        assert np.allclose(t.train_x.mean(axis=0), 0.0)
    again = digits_tasks()
    assert all(np.array_equal(a.train_x, b.train_x) for a, b in zip(tasks, again, strict=True))
    assert not np.array_equal(tasks[0].train_x, tasks[1].train_x)


def test_multiclass_tasks_refuse_too_few_features() -> None:
    x, y = load_digits()
    with pytest.raises(ValueError, match="10 classes"):
        multiclass_tasks(x, y, [0], dim=8, n_train=100, n_valid=10, n_test=0)
    with pytest.raises(ValueError, match="classes need features"):
        Task(np.zeros((4, 3)), np.arange(4.0), np.zeros((2, 3)), np.zeros(2), True, n_classes=4)


def test_softmax_regression_learns_from_the_one_hot_label() -> None:
    tasks = digits_tasks()
    learned = REFERENCE.fitnesses(softmax_regression(), tasks, np.random.default_rng(0))
    blind = REFERENCE.fitnesses(softmax_regression(False), tasks, np.random.default_rng(0))
    assert np.all(learned > 0.8)  # ten classes: chance is 0.1
    assert np.all(blind < 0.3)


def test_the_two_layer_net_with_a_vector_output_learns_ten_classes() -> None:
    net = two_layer_softmax_net()
    fitness = REFERENCE.fitnesses(net, digits_tasks(2, 1), np.random.default_rng(0))
    assert np.all(fitness > 0.7)


def test_predict_never_sees_the_label() -> None:
    """A program whose prediction copies ``v1`` scores at chance: ``v1`` is zero in Predict."""
    copy = function(instr("VECTOR_SUM", out=2, in1=1, in2=3))
    program = Program(function(), copy, function(), Banks(4, 5, 1))
    fitness = REFERENCE.fitnesses(program, digits_tasks(1), np.random.default_rng(0))
    assert fitness[0] < 0.2


def test_dead_code_analysis_follows_the_prediction_vector() -> None:
    net, padded = softmax_regression(), softmax_regression(dead=True)
    assert prune(padded, multiclass=True) == net
    assert sum(prune(padded).sizes()) == 0  # as a scalar program nothing reaches s1
    tasks = digits_tasks(1, 1)
    assert np.array_equal(
        REFERENCE.fitnesses(padded, tasks, np.random.default_rng(0)),
        REFERENCE.fitnesses(net, tasks, np.random.default_rng(0)),
    )


def small_multiclass(seed: int, classes: int = 3, dim: int = 4, epochs: int = 2) -> TaskSet:
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(3):
        x = rng.standard_normal((18, dim))
        y = np.argmax(x[:, :classes] + 0.3 * rng.standard_normal((18, classes)), axis=1)
        order = shuffled_order(12, epochs, rng)
        tasks.append(
            Task(x[:12], y[:12] * 1.0, x[12:], y[12:] * 1.0, True, epochs, order, n_classes=classes)
        )
    return TaskSet.of(tasks)


@pytest.fixture(scope="module")
def compiled() -> CompiledInterpreter:
    return CompiledInterpreter()


def test_compiled_equals_reference_on_random_programs(
    all_ops_mutator: Mutator, compiled: CompiledInterpreter
) -> None:
    """Every op, random draws included, NaN and inf as they come: fitness, the generator's
    state after the draws and the FEC probe are bit for bit the reference's."""
    rng = np.random.default_rng(3)
    checked = 0
    for k in range(150):
        program = all_ops_mutator.random_program(rng)
        tasks = small_multiclass(k, classes=3 + k % 2)
        want_rng, got_rng = np.random.default_rng(k), np.random.default_rng(k)
        want = REFERENCE.fitnesses(program, tasks, want_rng)
        pruned = prune(program, multiclass=True)  # dead code: the same fitness, bit for bit
        np.testing.assert_array_equal(
            REFERENCE.fitnesses(pruned, tasks, np.random.default_rng(k)), want
        )
        got = compiled.fitnesses(program, tasks, got_rng)
        np.testing.assert_array_equal(got, want)
        assert got_rng.bit_generator.state == want_rng.bit_generator.state
        want_probe = REFERENCE.probe(program, tasks, 10, 5, seed=k)
        np.testing.assert_array_equal(compiled.probe(program, tasks, 10, 5, seed=k), want_probe)
        checked += bool(np.any(want > 0))
    softmax = softmax_regression()
    tasks = digits_tasks(2, 1)
    np.testing.assert_array_equal(
        compiled.fitnesses(softmax, tasks, np.random.default_rng(0)),
        REFERENCE.fitnesses(softmax, tasks, np.random.default_rng(0)),
    )
    assert checked > 10  # not only failing programs


def test_with_one_class_out_of_reach_the_protocol_is_the_binary_one() -> None:
    """The softmax of ``(0, s1, -1e300)`` is ``(1 - sigmoid(s1), sigmoid(s1), 0)``: the
    training errors ``|1 - p_label|`` of a three-class task whose labels are 0 and 1 are the
    binary protocol's ``|y - sigmoid(s1)|`` (up to rounding), and its validation accuracy the
    same."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 4))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float64)
    binary = Task(x[:15], y[:15], x[15:], y[15:], True)
    three = Task(x[:15], y[:15], x[15:], y[15:], True, n_classes=3)
    weights = (instr("VECTOR_CONST_SET", out=3, data=(0.0, 0.7)),)  # v3[0] = 0.7
    pb = Program(
        function(*weights),
        function(instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=3)),
        function(),
        Banks(4, 5, 1),
    )
    pm = Program(
        function(
            *weights,
            instr("VECTOR_CONST_SET", out=4, data=(0.25, 1.0)),  # v4 = (0, 1, 0, 0)
        ),
        function(
            instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=3),
            instr("SCALAR_VECTOR_PRODUCT", out=2, in1=1, in2=4),
            instr("VECTOR_CONST_SET", out=2, data=(0.5, -1e300)),  # v2 = (0, s1, -1e300, 0)
        ),
        function(),
        Banks(4, 5, 1),
    )
    rb = run_task(pb, binary, np.random.default_rng(0), record_errors=True)
    rm = run_task(pm, three, np.random.default_rng(0), record_errors=True)
    np.testing.assert_allclose(rm.train_errors, rb.train_errors, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(rm.valid_errors, rb.valid_errors)
    assert rm.fitness == rb.fitness
    assert 0.0 < rb.fitness < 1.0 or rb.fitness == 1.0


def _search(tasks: TaskSet, compiled_loop: bool) -> Any:
    ops = [
        "SCALAR_CONST_SET", "VECTOR_DIFF", "SCALAR_VECTOR_PRODUCT", "VECTOR_OUTER_PRODUCT",
        "MATRIX_SUM", "MATRIX_VECTOR_PRODUCT", "VECTOR_GAUSSIAN_SET", "VECTOR_SUM",
    ]  # fmt: skip
    space = ProgramSpace.uniform(Banks(4, 5, 2), ops, (2, 1, 4), (0, 0, 0), (4, 3, 6))
    types = list(MutationType)
    rng = np.random.default_rng(11)
    if compiled_loop:
        fast = CompiledSearch(space, types, tasks, rng, population=30, tournament=5)
        fast.run(max_evals=400)
        return fast
    evaluator = AlgorithmEvaluator(tasks, CompiledInterpreter(), rng, "mean", FECSettings())
    strat = RegularizedEvolution(AlgorithmSpace(Mutator(space, types), "random"), 30, 5, 0.9)
    return Search(strat, evaluator, rng, max_evals=400).run(), strat


def test_compiled_search_equals_the_python_engine_on_multiclass_tasks() -> None:
    tasks = small_multiclass(1, classes=4, dim=4)
    fast = _search(tasks, True)
    want, strat = _search(tasks, False)
    assert fast.evaluations == want.evaluations == 400
    for a, b in zip(strat.members(), fast.members(), strict=True):
        assert a.genome == b.genome
        assert a.fitness == b.fitness or (np.isnan(a.fitness) and np.isnan(b.fitness))
    assert fast.best.fitness == want.best.fitness
    assert REGISTRY["VECTOR_GAUSSIAN_SET"].stochastic


def test_mnist1d_is_generated_offline_once_and_makes_multiclass_tasks() -> None:
    from primeval.datasets import data_cache_dir, load_mnist1d

    x, y = load_mnist1d(600)
    assert x.shape == (600, 40) and set(np.unique(y)) == set(range(10))
    assert (data_cache_dir() / "mnist1d-600.npz").is_file()
    again = load_mnist1d(600)  # read back from the cache
    assert np.array_equal(again[0], x) and np.array_equal(again[1], y)
    tasks = multiclass_tasks(x, y, [0, 1], 16, 300, 100, 100, 1, "mnist1d")
    assert tasks.classes == 10 and tasks[0].name == "mnist1d[10 classes]#0"


def test_the_precheck_is_refused_on_multiclass_tasks() -> None:
    """The pre-check follows the scalar label s0 and prediction s1; a multi-class config that
    asks for it is an error, not a search that rejects every program."""
    raw = load_config("adapt_multiclass").model_dump()
    raw["search"]["precheck"] = True
    with pytest.raises(pydantic.ValidationError, match="precheck"):
        Config.model_validate(raw)
