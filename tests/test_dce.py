"""Dead-code elimination: hand-made data flows and a bit-identical-fitness property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings, target
from hypothesis import strategies as st

from primeval.algorithms.baselines import (
    function,
    instr,
    linear_regression_sgd,
    logistic_regression,
    two_layer_relu_net,
)
from primeval.algorithms.dce import count_live, live_mask, prune
from primeval.algorithms.interpret.reference import ReferenceInterpreter, RunResult, run_task
from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY, OpSpec
from primeval.algorithms.program import Component, Function, Program
from primeval.algorithms.tasks.base import Task, TaskSet, shuffled_order

BANKS = Banks(5, 4, 2)


def program(setup: Function, predict: Function, learn: Function, banks: Banks = BANKS) -> Program:
    p = Program(setup, predict, learn, banks)
    p.validate()
    return p


def masks(p: Program, keep_stochastic: bool = True) -> list[list[bool]]:
    return [m.tolist() for m in live_mask(p, keep_stochastic)]


def tiny_tasks(seed: int, classification: bool = False, epochs: int = 2) -> TaskSet:
    """Two small linear tasks (20 train / 10 valid, F=3): ``y = w . x`` or ``[w . x > 0]``."""
    tasks = []
    for i in range(2):
        rng = np.random.default_rng([seed, i])
        w = rng.standard_normal(3)
        x = rng.standard_normal((30, 3))
        y = x @ w
        if classification:
            y = (y > 0).astype(np.float64)
        tasks.append(
            Task(
                x[:20],
                y[:20],
                x[20:],
                y[20:],
                classification=classification,
                epochs=epochs,
                order=shuffled_order(20, epochs, rng),
            )
        )
    return TaskSet.of(tasks)


TASKS = {False: tiny_tasks(0), True: tiny_tasks(1, classification=True)}


def assert_same_run(a: RunResult, b: RunResult) -> None:
    assert a.fitness == b.fitness
    assert a.train_steps == b.train_steps
    np.testing.assert_array_equal(a.train_errors, b.train_errors)
    np.testing.assert_array_equal(a.valid_errors, b.valid_errors)


# --- hand-made cases ---------------------------------------------------------------------


def test_write_overwritten_before_any_read_is_dead() -> None:
    p = program(
        function(instr("SCALAR_CONST_SET", out=2, data=(1.0,))),
        function(
            instr("SCALAR_CONST_SET", out=3, data=(5.0,)),  # dead: s3 rewritten below
            instr("SCALAR_CONST_SET", out=3, data=(2.0,)),
            instr("SCALAR_PRODUCT", out=1, in1=3, in2=2),
        ),
        function(),
    )
    assert masks(p) == [[True], [False, True, True], []]


def test_unread_scalar_is_dead() -> None:
    p = program(
        function(instr("SCALAR_CONST_SET", out=2, data=(1.0,))),  # s2 is never read
        function(instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=0)),
        function(instr("SCALAR_DIFF", out=3, in1=0, in2=1)),  # s3 is never read
    )
    assert masks(p) == [[False], [True], [False]]
    assert count_live(p) == 1


def test_value_carried_from_learn_into_next_predict_is_live() -> None:
    p = program(
        function(),
        function(instr("SCALAR_SUM", out=1, in1=2, in2=0)),  # s1 = s2 (s0 is 0 in Predict)
        function(instr("SCALAR_SUM", out=2, in1=0, in2=0)),  # s2 = 2 y, read by the next Predict
    )
    assert masks(p) == [[], [True], [True]]


def test_setup_constant_used_only_by_learn_to_update_predict_weights_is_live() -> None:
    p = linear_regression_sgd()
    assert masks(p) == [[True], [True], [True, True, True, True]]
    # And without the weight update, nothing in Learn or Setup matters.
    frozen = program(p.setup, p.predict, function(*_rows(p.learn)[:3]), p.banks)
    assert masks(frozen) == [[False], [True], [False, False, False]]


def _rows(fn: Function) -> list[tuple[int, int, int, int, list[float]]]:
    return [
        (int(o), int(a[0]), int(a[1]), int(a[2]), list(d))
        for o, a, d in zip(fn.ops, fn.args, fn.data, strict=True)
    ]


def test_predict_value_read_by_learn_of_the_same_example_is_live() -> None:
    p = program(
        function(),
        function(
            instr("VECTOR_ABS", out=2, in1=0),  # v2 = |x|, read only by Learn
            instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=1),
        ),
        function(instr("VECTOR_SUM", out=1, in1=1, in2=2)),  # v1 += |x|
    )
    assert masks(p) == [[], [True, True], [True]]


def test_prediction_written_in_learn_is_dead_when_predict_overwrites_it() -> None:
    p = program(
        function(),
        function(instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=0)),
        function(instr("SCALAR_CONST_SET", out=1, data=(3.0,))),  # killed by Predict
    )
    assert masks(p) == [[], [True], [False]]


def test_prediction_left_over_from_learn_is_live_when_predict_does_not_write_it() -> None:
    p = program(
        function(),
        function(instr("SCALAR_COS", out=2, in1=0)),  # dead: s2 never read
        function(instr("SCALAR_CONST_SET", out=1, data=(3.0,))),  # s1 reaches the next Predict
    )
    assert masks(p) == [[], [False], [True]]


def test_predict_writes_read_by_a_later_predict_are_live() -> None:
    # s2 counts Predict calls; the prediction reads the count from the previous call.
    p = program(
        function(instr("SCALAR_CONST_SET", out=3, data=(1.0,))),
        function(
            instr("SCALAR_SUM", out=1, in1=2, in2=2),
            instr("SCALAR_SUM", out=2, in1=2, in2=3),
        ),
        function(),
    )
    assert masks(p) == [[True], [True, True], []]


def test_predict_write_read_only_by_the_next_validation_predict_is_live() -> None:
    """Learn overwrites s2, so only the Predict -> Predict edge (validation) carries it."""
    p = program(
        function(instr("SCALAR_CONST_SET", out=3, data=(1.0,))),
        function(
            instr("SCALAR_SUM", out=1, in1=2, in2=2),  # s1 = 2 s2
            instr("SCALAR_SUM", out=2, in1=3, in2=0),  # s2 = 1, seen by the next Predict
        ),
        function(instr("SCALAR_DIFF", out=2, in1=0, in2=0)),  # s2 = 0
    )
    assert masks(p) == [[True], [True, True], [True]]
    task = TASKS[False][0]
    without = p.replace(Component.PREDICT, function(instr("SCALAR_SUM", out=1, in1=2, in2=2)))
    a = run_task(p, task, np.random.default_rng(0), record_errors=True)
    b = run_task(without, task, np.random.default_rng(0), record_errors=True)
    assert not np.array_equal(a.valid_errors, b.valid_errors)


def test_writes_to_inputs_are_impossible_so_input_reads_need_no_writer() -> None:
    p = program(
        function(instr("VECTOR_GAUSSIAN_SET", out=1, data=(0.0, 1.0))),  # dead: v1 unused
        function(instr("VECTOR_NORM", out=1, in1=0)),
        function(),
    )
    assert masks(p) == [[False], [True], []]


def test_partial_write_does_not_kill_the_rest_of_the_vector() -> None:
    p = program(
        function(
            instr("VECTOR_UNIFORM_SET", out=1, data=(-1.0, 1.0)),  # live: 3 elements survive
            instr("VECTOR_CONST_SET", out=1, data=(0.0, 9.0)),
            instr("MATRIX_GAUSSIAN_SET", out=0, data=(0.0, 1.0)),  # live as well
            instr("MATRIX_CONST_SET", out=0, data=(0.5, 0.5, 2.0)),
        ),
        function(
            instr("MATRIX_VECTOR_PRODUCT", out=2, in1=0, in2=1),
            instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=2),
        ),
        function(),
    )
    assert masks(p) == [[True] * 4, [True, True], []]


def test_full_write_after_a_partial_write_kills_both() -> None:
    p = program(
        function(
            instr("VECTOR_CONST_SET", out=1, data=(0.0, 9.0)),
            instr("SCALAR_BROADCAST", out=1, in1=2),  # v1 = s2 everywhere
        ),
        function(instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=1)),
        function(),
    )
    assert masks(p) == [[False, True], [True], []]


def test_no_op_is_never_live() -> None:
    p = program(function(instr("NO_OP")), function(instr("NO_OP")), function(instr("NO_OP")))
    assert masks(p) == [[False], [False], [False]]
    assert prune(p).sizes() == (0, 0, 0)


def stochastic_program() -> Program:
    """A live draw in Setup and a dead draw in Learn."""
    return program(
        function(instr("VECTOR_GAUSSIAN_SET", out=1, data=(0.0, 1.0))),
        function(instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=1)),
        function(instr("SCALAR_GAUSSIAN_SET", out=2, data=(0.0, 1.0))),  # s2 never read
    )


def test_dead_draw_is_kept_while_a_live_draw_exists() -> None:
    p = stochastic_program()
    assert masks(p, keep_stochastic=True) == [[True], [True], [True]]
    assert masks(p, keep_stochastic=False) == [[True], [True], [False]]
    # With no live draw at all, dead draws go either way.
    q = program(p.setup, function(instr("VECTOR_NORM", out=1, in1=0)), p.learn)
    assert masks(q, keep_stochastic=True) == [[False], [True], [False]]


def test_dropping_a_dead_draw_changes_later_draws_of_the_same_generator() -> None:
    """Why keep_stochastic exists: the second task of a set sees shifted draws."""
    p = stochastic_program()
    interp = ReferenceInterpreter()
    full = interp.fitnesses(p, TASKS[False], np.random.default_rng(0))
    kept = interp.fitnesses(prune(p, True), TASKS[False], np.random.default_rng(0))
    dropped = interp.fitnesses(prune(p, False), TASKS[False], np.random.default_rng(0))
    np.testing.assert_array_equal(full, kept)
    assert full[0] == dropped[0] and full[1] != dropped[1]


def test_baselines_are_all_live_and_prune_to_themselves() -> None:
    for p in (linear_regression_sgd(), logistic_regression(), two_layer_relu_net()):
        assert all(m.all() for m in live_mask(p))
        assert prune(p) == p


def test_pruning_padded_baseline_restores_it() -> None:
    """Dead instructions inserted into the SGD baseline are exactly the ones removed."""
    base = linear_regression_sgd()
    noise = [
        instr("SCALAR_COS", out=3, in1=0),  # s3 is rewritten first thing in Learn
        instr("MATRIX_GAUSSIAN_SET", out=0, data=(0.0, 1.0)),  # no live draw anywhere
        instr("VECTOR_ABS", out=2, in1=1),  # v2 is rewritten before it is read
        instr("NO_OP"),
    ]
    padded = Program(
        function(*noise[:2], *_rows(base.setup)),
        function(noise[2], *_rows(base.predict), noise[3]),
        function(*_rows(base.learn), noise[0]),
        base.banks,
    )
    assert prune(padded) == base
    task = TASKS[False][0]
    assert_same_run(
        run_task(padded, task, np.random.default_rng(0), record_errors=True),
        run_task(base, task, np.random.default_rng(0), record_errors=True),
    )


def test_prune_keeps_banks_and_is_idempotent() -> None:
    p = stochastic_program()
    q = prune(p, keep_stochastic=False)
    assert q.banks == p.banks
    assert prune(q, keep_stochastic=False) == q
    assert all(m.all() for m in live_mask(q, keep_stochastic=False))


# --- property: pruning never changes what the reference interpreter computes --------------

# Ops that keep values finite and flowing, so that many random programs learn something.
TAME = [
    REGISTRY[n]
    for n in (
        "SCALAR_SUM",
        "SCALAR_DIFF",
        "SCALAR_PRODUCT",
        "SCALAR_CONST_SET",
        "VECTOR_INNER_PRODUCT",
        "SCALAR_VECTOR_PRODUCT",
        "VECTOR_SUM",
        "VECTOR_CONST_SET",
        "MATRIX_VECTOR_PRODUCT",
        "VECTOR_OUTER_PRODUCT",
        "MATRIX_SUM",
        "VECTOR_GAUSSIAN_SET",
        "SCALAR_UNIFORM_SET",
    )
]
DATA = st.one_of(
    st.floats(-2.0, 2.0, allow_nan=False),
    st.floats(0.0, 1.0, exclude_max=True),
    st.sampled_from([0.0, -0.0, 1.0, float("nan"), float("inf"), -1.0, 0.01]),
)


def usable(spec: OpSpec, banks: Banks) -> bool:
    """Whether ``banks`` has an address for every input and a writable one for the output."""
    if spec.output is not None and len(banks.out_range(spec.output)) == 0:
        return False
    return all(banks.size(k) > 0 for k in spec.inputs)


@st.composite
def instructions(draw: st.DrawFn, banks: Banks) -> tuple[int, int, int, int, list[float]]:
    usable_ops = [s for s in REGISTRY if usable(s, banks)]
    usable_tame = [s for s in TAME if usable(s, banks)] or usable_ops
    spec: OpSpec = draw(st.one_of(st.sampled_from(usable_ops), st.sampled_from(usable_tame)))
    ins = [draw(st.sampled_from(list(banks.in_range(k)))) for k in spec.inputs] + [0, 0]
    out = draw(st.sampled_from(list(banks.out_range(spec.output)))) if spec.output else 0
    data = [draw(DATA) for _ in range(3)]
    return (spec.code, ins[0], ins[1], out, data)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    banks = Banks(
        draw(st.integers(2, 5)), draw(st.integers(1, 4)), draw(st.sampled_from([0, 1, 2]))
    )
    # Small memories make addresses collide, so values flow between instructions.
    sizes = (draw(st.integers(0, 5)), draw(st.integers(1, 7)), draw(st.integers(0, 7)))
    fns = [
        Function.from_instructions(draw(st.lists(instructions(banks), min_size=n, max_size=n)))
        for n in sizes
    ]
    return Program(fns[0], fns[1], fns[2], banks)


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(p=programs(), classification=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_pruned_program_has_bit_identical_results(
    p: Program, classification: bool, seed: int
) -> None:
    p.validate()
    q = prune(p)
    removed = sum(p.sizes()) - sum(q.sizes())
    tasks = TASKS[classification]
    rng_p, rng_q = np.random.default_rng(seed), np.random.default_rng(seed)
    for task in tasks:  # one generator through both tasks, as ReferenceInterpreter does
        a = run_task(p, task, rng_p, record_errors=True)
        b = run_task(q, task, rng_q, record_errors=True)
        assert_same_run(a, b)
    target(float(removed), label="instructions removed")
    target(float(a.train_steps), label="training steps survived")
    # Pruning is idempotent. (Fingerprints, not ==: Program equality is False for NaN data.)
    assert prune(q).fingerprint() == q.fingerprint()


def test_random_programs_exercise_the_property() -> None:
    """The generator above reaches programs with dead code that still learn something."""
    task = TASKS[False][0]

    def interesting(p: Program) -> bool:
        removed = sum(p.sizes()) - sum(prune(p).sizes())
        result = run_task(p, task, np.random.default_rng(0))
        return removed >= 2 and result.train_steps == 40 and result.fitness > 0.1

    found = find(
        programs(), interesting, settings=settings(max_examples=2000, deadline=None, database=None)
    )
    assert count_live(found) < sum(found.sizes())


def test_live_instructions_matter_in_the_baselines() -> None:
    """Removing any live instruction of a baseline changes its result (the mask is not lax)."""
    task = TASKS[False][0]
    for p in (linear_regression_sgd(), two_layer_relu_net()):
        base = run_task(p, task, np.random.default_rng(0), record_errors=True)
        for c, fn in enumerate(p.functions):
            for k in range(len(fn)):
                keep = np.ones(len(fn), dtype=bool)
                keep[k] = False
                q = p.replace(Component(c), Function(fn.ops[keep], fn.args[keep], fn.data[keep]))
                other = run_task(q, task, np.random.default_rng(0), record_errors=True)
                assert not (
                    other.fitness == base.fitness
                    and np.array_equal(other.valid_errors, base.valid_errors)
                ), (c, k)
