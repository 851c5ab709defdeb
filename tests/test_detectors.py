"""Technique detectors: hand-written programs with and without each technique, and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from primeval.algorithms.baselines import (
    Row,
    damaged_neural_net,
    function,
    instr,
    linear_regression_sgd,
    logistic_regression,
    two_layer_relu_net,
)
from primeval.algorithms.dataflow import NEG, POS, Flow, dataflow
from primeval.algorithms.dce import live_mask
from primeval.algorithms.detectors import (
    DETECTORS,
    Detection,
    Detector,
    detect,
)
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import MutationType, Mutator, ProgramSpace
from primeval.algorithms.ops import REGISTRY, Kind
from primeval.algorithms.program import Component, Function, Program
from primeval.engine.registry import Registry

S, P, L = Component.SETUP, Component.PREDICT, Component.LEARN
BANKS = Banks(6, 6, 3)


def ins(name: str, out: int = 0, a: int = 0, b: int = 0, *data: float) -> Row:
    """``out = NAME(a, b, data)``: a terser :func:`instr`."""
    return instr(name, out=out, in1=a, in2=b, data=data)


def prog(setup: list[Row], predict: list[Row], learn: list[Row]) -> Program:
    p = Program(function(*setup), function(*predict), function(*learn), BANKS)
    p.validate()
    return p


def found(name: str, program: Program) -> list[tuple[Component, int]] | None:
    d = DETECTORS[name](program)
    return None if d is None else list(d.positions)


# --- building blocks ------------------------------------------------------------------------

DOT = ins("VECTOR_INNER_PRODUCT", 1, 0, 1)  # s1 = x . v1
ERROR = ins("SCALAR_DIFF", 3, 0, 1)  # s3 = y - s1
RATE = ins("SCALAR_PRODUCT", 3, 3, 2)  # s3 = s3 * s2
STEP = ins("SCALAR_VECTOR_PRODUCT", 2, 3, 0)  # v2 = s3 * x
UPDATE = ins("VECTOR_SUM", 1, 1, 2)  # v1 = v1 + v2
LR = ins("SCALAR_CONST_SET", 2, 0, 0, 0.05)  # s2 = 0.05


def sgd(lr: float = 0.05, update: Row = UPDATE, error: Row = ERROR) -> Program:
    """Linear regression by SGD: the reference's listing."""
    return prog([ins("SCALAR_CONST_SET", 2, 0, 0, lr)], [DOT], [error, RATE, STEP, update])


def demo_seed7() -> Program:
    """The demo's solution for seed 7 (README, docs/experiments/linear_regression.md)."""
    return Program(
        function(
            ins("VECTOR_SUM", 1, 0, 0),
            ins("SCALAR_CONST_SET", 3, 0, 0, 0.8062165632108127),
        ),
        function(ins("VECTOR_INNER_PRODUCT", 1, 1, 0), ins("SCALAR_PRODUCT", 1, 1, 3)),
        function(
            ins("SCALAR_DIFF", 2, 0, 1),
            ins("SCALAR_VECTOR_PRODUCT", 2, 2, 0),
            ins("VECTOR_SUM", 1, 2, 1),
            ins("SCALAR_CONST_SET", 3, 0, 0, 0.1700363882743219),
        ),
        Banks(4, 3, 1),
    )


def scaled_input(first: float, rate: float) -> Program:
    """The demo's solution for seed 8: ``p = (c x) . w``, ``w += c' (p - y) x``, ``c = rate``.

    Setup's ``c = first`` only holds for the first step: Learn resets it every step.
    """
    return Program(
        function(ins("VECTOR_PRODUCT", 2, 0, 0), ins("SCALAR_CONST_SET", 3, 0, 0, first)),
        function(ins("SCALAR_VECTOR_PRODUCT", 1, 3, 0), ins("VECTOR_INNER_PRODUCT", 1, 1, 2)),
        function(
            ins("SCALAR_DIFF", 2, 1, 0),  # p - y
            ins("SCALAR_VECTOR_PRODUCT", 1, 2, 0),
            ins("VECTOR_SUM", 2, 1, 2),
            ins("SCALAR_CONST_SET", 3, 0, 0, rate),
        ),
        Banks(4, 3, 1),
    )


def expanded_step() -> Program:
    """The demo's solution for seed 6: ``w += r (y - p) (2 x + v)``, ``v`` the last step."""
    return Program(
        function(
            ins("SCALAR_DIFF", 2, 1, 2),
            ins("SCALAR_PRODUCT", 3, 1, 2),
            ins("SCALAR_VECTOR_PRODUCT", 2, 3, 1),
            ins("SCALAR_CONST_SET", 3, 0, 0, 0.110252),
        ),
        function(ins("VECTOR_INNER_PRODUCT", 1, 0, 2), ins("VECTOR_SUM", 1, 0, 1)),
        function(
            ins("VECTOR_SUM", 1, 1, 0),
            ins("VECTOR_INNER_PRODUCT", 2, 0, 2),  # the prediction again
            ins("SCALAR_DIFF", 1, 0, 2),
            ins("SCALAR_PRODUCT", 2, 3, 1),
            ins("SCALAR_VECTOR_PRODUCT", 1, 2, 1),
            ins("VECTOR_SUM", 2, 2, 1),
        ),
        Banks(4, 3, 1),
    )


SEED3_SETUP = [
    ins("VECTOR_SUM", 2, 2, 2),
    ins("SCALAR_PRODUCT", 3, 1, 3),
    ins("VECTOR_SUM", 2, 2, 2),
    ins("VECTOR_SUM", 2, 1, 0),
    ins("SCALAR_VECTOR_PRODUCT", 2, 1, 0),
    ins("VECTOR_SUM", 1, 2, 0),  # v1 = 0 * v0 + v0 = 0: memory starts at zero
    ins("VECTOR_SUM", 2, 0, 1),
    ins("SCALAR_PRODUCT", 2, 1, 1),
    ins("VECTOR_INNER_PRODUCT", 1, 1, 2),
    ins("SCALAR_CONST_SET", 3, 0, 0, -0.3950607970966702),
]
SEED3_PREDICT = [
    ins("SCALAR_VECTOR_PRODUCT", 2, 3, 1),  # v2 = c w
    ins("VECTOR_INNER_PRODUCT", 1, 2, 0),  # p = (c w) . x
]
SEED3_LEARN = [
    ins("SCALAR_VECTOR_PRODUCT", 2, 3, 0),  # v2 = c x (c read before Learn 3 resets it)
    ins("SCALAR_CONST_SET", 2, 0, 0, 0.5466704065138104),
    ins("SCALAR_CONST_SET", 1, 0, 0, 0.11207741166784524),
    ins("SCALAR_DIFF", 3, 1, 2),  # c = 0.112 - 0.547 = -0.435 from the second step on
    ins("VECTOR_INNER_PRODUCT", 1, 2, 1),  # (c x) . w: the prediction again
    ins("SCALAR_DIFF", 1, 0, 1),  # y - p
    ins("SCALAR_VECTOR_PRODUCT", 2, 1, 2),  # (y - p) c x
    ins("VECTOR_SUM", 1, 1, 2),  # w += c (y - p) x: SGD on c w with step c^2
]


def demo_seed3(
    learn: list[Row] | None = None, setup: list[Row] | None = None, vectors: int = 3
) -> Program:
    """The demo's solution for seed 3: ``p = (c w) . x``, Learn recomputes it as ``(c x) . w``."""
    return Program(
        function(*(SEED3_SETUP if setup is None else setup)),
        function(*SEED3_PREDICT),
        function(*(SEED3_LEARN if learn is None else learn)),
        Banks(4, vectors, 1),
    )


def _edit(rows: list[Row], **at: Row) -> list[Row]:
    """``rows`` with row ``k`` replaced by ``at["r<k>"]`` (or inserted before it: ``i<k>``)."""
    out: list[Row] = []
    for k, row in enumerate(rows):
        if f"i{k}" in at:
            out.append(at[f"i{k}"])
        out.append(at.get(f"r{k}", row))
    return out


# --- the demo and the baselines -------------------------------------------------------------


def test_demo_solution_is_a_linear_model_trained_by_sgd_with_a_learning_rate() -> None:
    got = {d.technique: list(d.positions) for d in detect(demo_seed7())}
    assert got == {
        "linear_model": [(P, 0), (L, 2)],
        # the rate scales the prediction: v1 += (y - p) x is SGD on 0.17 v1 with step 0.17
        "learning_rate": [(S, 1), (P, 1), (L, 3)],
        "gradient_update": [(L, 0), (L, 1), (L, 2)],
    }


def test_demo_seed3_scales_the_weights_and_recomputes_the_prediction_in_learn() -> None:
    got = {d.technique: list(d.positions) for d in detect(demo_seed3())}
    assert got == {
        "linear_model": [(P, 1), (L, 7)],
        # c = -0.395 in Setup, reset to 0.112 - 0.547 by Learn; applied in Predict and Learn
        "learning_rate": [(S, 9), (P, 0), (L, 0), (L, 3)],
        # Learn 4 is Predict 1 up to the scalar factor c: y - s1 is the error
        "gradient_update": [(L, 0), (L, 5), (L, 6), (L, 7)],
    }
    f = dataflow(demo_seed3())
    assert f.positions[f.prediction] == [(P, 1), (L, 4)]
    assert f.sign[f.state[(Kind.SCALAR, 3)]] == NEG  # 0.112 - 0.547 folded


def test_reference_sgd_listing() -> None:
    got = {d.technique: list(d.positions) for d in detect(sgd())}
    assert got == {
        "linear_model": [(P, 0), (L, 3)],
        "learning_rate": [(S, 0), (L, 1)],
        "gradient_update": [(L, 0), (L, 1), (L, 2), (L, 3)],
    }
    assert [d.technique for d in detect(linear_regression_sgd())] == list(got)
    assert [d.technique for d in detect(logistic_regression())] == list(got)


def test_two_layer_net() -> None:
    got = {d.technique: list(d.positions) for d in detect(two_layer_relu_net())}
    assert got == {
        "linear_model": [(P, 0), (P, 3), (L, 5), (L, 7)],
        "learning_rate": [(S, 2), (L, 1)],
        # the output layer's step; the hidden layer's is backprop's
        "gradient_update": [(L, 0), (L, 1), (L, 6), (L, 7)],
        "relu": [(P, 1), (P, 2)],
        "backprop": [(P, 0), (L, 0), (L, 1), (L, 2), (L, 3), (L, 4), (L, 5)],
    }


def test_demo_seed0_rate_from_memory_learn_resets_is_sgd() -> None:
    """The demo's seed-0 solution (live code): Predict takes its rate ``s3 = 0 - s1`` from
    the constant Learn leaves in ``s1``; only a validation pass (Predict alone) leaves a
    prediction there, so the training loop's reading finds the step."""
    program = prog(
        [ins("SCALAR_CONST_SET", 1, 0, 0, 0.89), ins("VECTOR_SUM", 1, 2, 0)],
        [ins("SCALAR_DIFF", 3, 0, 1), ins("VECTOR_INNER_PRODUCT", 1, 1, 0)],
        [
            ins("SCALAR_DIFF", 1, 1, 0),  # s1 = p - y
            ins("SCALAR_PRODUCT", 2, 3, 1),  # s2 = -0.23 (p - y)
            ins("SCALAR_VECTOR_PRODUCT", 2, 2, 0),
            ins("SCALAR_CONST_SET", 1, 0, 0, 0.23),
            ins("VECTOR_SUM", 1, 2, 1),
        ],
    )
    got = {d.technique: list(d.positions) for d in detect(program)}
    assert got["gradient_update"] == [(L, 0), (L, 1), (L, 2), (L, 4)]
    assert got["learning_rate"] == [(P, 0), (L, 1)]


def test_demo_seed1_step_stored_and_applied_next_learn_is_delayed_sgd() -> None:
    """The demo's seed-1 solution (live code): Learn adds the step stored in ``v2`` (scaled
    in Predict), recomputes the prediction with the updated weights, and stores the new
    step ``(y - q) x`` for the next Learn."""
    program = prog(
        [ins("SCALAR_CONST_SET", 3, 0, 0, 0.0935)],
        [ins("SCALAR_VECTOR_PRODUCT", 2, 3, 2), ins("VECTOR_INNER_PRODUCT", 1, 0, 1)],
        [
            ins("VECTOR_SUM", 1, 2, 1),
            ins("VECTOR_INNER_PRODUCT", 1, 1, 0),
            ins("SCALAR_DIFF", 2, 0, 1),
            ins("VECTOR_SUM", 1, 2, 1),
            ins("SCALAR_VECTOR_PRODUCT", 2, 2, 0),
        ],
    )
    got = {d.technique: list(d.positions) for d in detect(program)}
    assert got["delayed_gradient_update"] == [(P, 0), (L, 0), (L, 2), (L, 3), (L, 4)]
    assert "gradient_update" not in got


def test_empty_program_has_no_technique() -> None:
    assert detect(Program.empty(BANKS, (3, 3, 3))) == []


# --- each detector: with, and close variants without ------------------------------------------

RANDOM_W = ins("VECTOR_GAUSSIAN_SET", 1, 0, 0, 0.0, 1.0)  # setup: v1 ~ N(0, 1)
W_RANDOM = ins("MATRIX_GAUSSIAN_SET", 0, 0, 0, 0.0, 1.0)  # setup: m0 ~ N(0, 1)

WITH: dict[str, list[tuple[Program, list[tuple[Component, int]]]]] = {
    "linear_model": [
        (sgd(), [(P, 0), (L, 3)]),
        # W x then a fixed readout: the matrix-vector product is the learned linear map
        (
            prog(
                [RANDOM_W, LR],
                [ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0), ins("VECTOR_INNER_PRODUCT", 1, 2, 1)],
                [
                    ERROR,
                    RATE,
                    ins("VECTOR_OUTER_PRODUCT", 1, 1, 0),
                    ins("SCALAR_MATRIX_PRODUCT", 1, 3, 1),
                    ins("MATRIX_SUM", 0, 0, 1),
                ],
            ),
            [(P, 0), (L, 4)],
        ),
    ],
    "learning_rate": [
        (sgd(), [(S, 0), (L, 1)]),
        (demo_seed7(), [(S, 1), (P, 1), (L, 3)]),
        # a constant scaling the input side of the model
        (scaled_input(-0.0635369, -0.0998602), [(S, 1), (P, 0), (L, 3)]),
        # a constant scaling the weight side of the model and the step
        (demo_seed3(), [(S, 9), (P, 0), (L, 0), (L, 3)]),
    ],
    "gradient_update": [
        (sgd(), [(L, 0), (L, 1), (L, 2), (L, 3)]),
        # p - y with a minus sign, and a negative rate with a plus sign, also descend
        (
            sgd(update=ins("VECTOR_DIFF", 1, 1, 2), error=ins("SCALAR_DIFF", 3, 1, 0)),
            [(L, 0), (L, 1), (L, 2), (L, 3)],
        ),
        (sgd(lr=-0.05, error=ins("SCALAR_DIFF", 3, 1, 0)), [(L, 0), (L, 1), (L, 2), (L, 3)]),
        # evolved forms: a negative scale on the input side with p - y ...
        (scaled_input(-0.0635369, -0.0998602), [(L, 0), (L, 1), (L, 2)]),
        # ... whose Setup value, overwritten after the first step, has the other sign
        (scaled_input(0.0635369, -0.0998602), [(L, 0), (L, 1), (L, 2)]),
        # one term of the step descends (the sum factor, Learn 0, is expanded)
        (expanded_step(), [(L, 0), (L, 2), (L, 3), (L, 4), (L, 5)]),
        # p = (c w) . x, the error from (c x) . w recomputed in Learn, w += c (y - p) x
        (demo_seed3(), [(L, 0), (L, 5), (L, 6), (L, 7)]),
        # ... with c > 0 from the second step on (Setup's is negative): the step is c^2 anyway
        (
            demo_seed3(_edit(SEED3_LEARN, r3=ins("SCALAR_DIFF", 3, 2, 1))),
            [(L, 0), (L, 5), (L, 6), (L, 7)],
        ),
        # ... with the prediction recomputed as c (x . w)
        (
            demo_seed3(
                [
                    ins("SCALAR_VECTOR_PRODUCT", 2, 3, 0),  # v2 = c x
                    ins("VECTOR_INNER_PRODUCT", 1, 0, 1),  # x . w
                    ins("SCALAR_PRODUCT", 1, 3, 1),  # c (x . w)
                    ins("SCALAR_CONST_SET", 3, 0, 0, -0.435),
                    ins("SCALAR_DIFF", 1, 0, 1),
                    ins("SCALAR_VECTOR_PRODUCT", 2, 1, 2),
                    ins("VECTOR_SUM", 1, 1, 2),
                ]
            ),
            [(L, 0), (L, 4), (L, 5), (L, 6)],
        ),
    ],
    "relu": [
        (two_layer_relu_net(), [(P, 1), (P, 2)]),
        (
            prog(
                [ins("MATRIX_GAUSSIAN_SET", 0, 0, 0, 0.0, 1.0), RANDOM_W],
                [
                    ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0),
                    ins("VECTOR_MAX", 3, 2, 4),  # v4 is never written: max(W x, 0)
                    ins("VECTOR_INNER_PRODUCT", 1, 1, 3),
                ],
                [],
            ),
            [(P, 1)],
        ),
    ],
    "gradient_normalization": [
        (
            prog(
                [LR],
                [DOT],
                [
                    ERROR,
                    STEP,  # v2 = (y - p) x
                    ins("VECTOR_NORM", 4, 2),
                    ins("SCALAR_RECIPROCAL", 4, 4),
                    ins("SCALAR_VECTOR_PRODUCT", 2, 4, 2),  # v2 = v2 / |v2|
                    ins("SCALAR_VECTOR_PRODUCT", 2, 2, 2),  # v2 = lr * v2
                    UPDATE,
                ],
            ),
            [(L, 2), (L, 3), (L, 4)],
        ),
    ],
    "input_normalization": [
        (
            prog(
                [LR],
                [
                    ins("VECTOR_NORM", 2, 0),
                    ins("SCALAR_BROADCAST", 2, 2),
                    ins("VECTOR_DIVISION", 3, 0, 2),  # v3 = x / |x|
                    ins("VECTOR_INNER_PRODUCT", 1, 3, 1),
                ],
                [ERROR, RATE, ins("SCALAR_VECTOR_PRODUCT", 2, 3, 3), UPDATE],
            ),
            [(P, 0), (P, 1), (P, 2)],
        ),
        # normalized LMS: the step, not the model, divides by |x|
        (
            prog(
                [LR],
                [DOT],
                [
                    ERROR,
                    ins("VECTOR_NORM", 4, 0),
                    ins("SCALAR_DIVISION", 3, 3, 4),
                    RATE,
                    STEP,
                    UPDATE,
                ],
            ),
            [(L, 1), (L, 2)],
        ),
    ],
    "bilinear": [
        (
            prog(
                [LR],
                [ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0), ins("VECTOR_INNER_PRODUCT", 1, 0, 2)],
                [
                    ERROR,
                    RATE,
                    ins("VECTOR_OUTER_PRODUCT", 1, 0, 0),
                    ins("SCALAR_MATRIX_PRODUCT", 1, 3, 1),
                    ins("MATRIX_SUM", 0, 0, 1),
                ],
            ),
            [(P, 0), (P, 1)],
        ),
        # mean(W * outer(x, x)), W learned
        (
            prog(
                [LR],
                [
                    ins("VECTOR_OUTER_PRODUCT", 1, 0, 0),
                    ins("MATRIX_PRODUCT", 2, 1, 0),
                    ins("MATRIX_MEAN", 1, 2),
                ],
                [
                    ERROR,
                    RATE,
                    ins("VECTOR_OUTER_PRODUCT", 1, 0, 0),
                    ins("SCALAR_MATRIX_PRODUCT", 1, 3, 1),
                    ins("MATRIX_SUM", 0, 0, 1),
                ],
            ),
            [(P, 0), (P, 1)],
        ),
    ],
    "input_noise": [
        (
            prog(
                [LR],
                [DOT],
                [
                    ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.0, 0.1),
                    ins("VECTOR_SUM", 4, 0, 3),  # v4 = x + noise
                    ERROR,
                    RATE,
                    ins("SCALAR_VECTOR_PRODUCT", 2, 3, 4),
                    UPDATE,
                ],
            ),
            [(L, 0), (L, 1)],
        ),
        # dropout-like: x times a random 0/1 mask, in Predict
        (
            prog(
                [RANDOM_W],
                [
                    ins("VECTOR_UNIFORM_SET", 2, 0, 0, -1.0, 1.0),
                    ins("VECTOR_HEAVYSIDE", 2, 2),
                    ins("VECTOR_PRODUCT", 3, 0, 2),
                    ins("VECTOR_INNER_PRODUCT", 1, 3, 1),
                ],
                [],
            ),
            [(P, 0), (P, 2)],
        ),
    ],
    "weight_averaging": [
        (
            prog(
                [LR],
                [ins("VECTOR_INNER_PRODUCT", 1, 0, 3)],  # predict with the average v3
                [ERROR, RATE, STEP, UPDATE, ins("VECTOR_SUM", 3, 3, 1)],  # v3 += v1
            ),
            [(P, 0), (L, 4)],
        ),
        # an exponential moving average: v3 = 0.9 v3 + 0.1 v1
        (
            prog(
                [LR, ins("SCALAR_CONST_SET", 4, 0, 0, 0.9), ins("SCALAR_CONST_SET", 5, 0, 0, 0.1)],
                [ins("VECTOR_INNER_PRODUCT", 1, 0, 3)],
                [
                    ERROR,
                    RATE,
                    STEP,
                    UPDATE,
                    ins("SCALAR_VECTOR_PRODUCT", 4, 4, 3),
                    ins("SCALAR_VECTOR_PRODUCT", 5, 5, 1),
                    ins("VECTOR_SUM", 3, 4, 5),
                ],
            ),
            [(P, 0), (L, 4), (L, 5), (L, 6)],
        ),
    ],
    "learning_rate_decay": [
        (
            prog(
                [LR, ins("SCALAR_CONST_SET", 4, 0, 0, 0.99)],
                [DOT],
                [ERROR, RATE, STEP, UPDATE, ins("SCALAR_PRODUCT", 2, 2, 4)],  # s2 *= 0.99
            ),
            [(S, 0), (L, 1), (L, 4)],
        ),
        (
            prog(
                [LR, ins("SCALAR_CONST_SET", 4, 0, 0, 1e-4)],
                [DOT],
                [ERROR, RATE, STEP, UPDATE, ins("SCALAR_DIFF", 2, 2, 4)],  # s2 -= 1e-4
            ),
            [(S, 0), (L, 1), (L, 4)],
        ),
    ],
    "hebbian": [
        # w += y x: the label times the input, no error
        (
            prog([], [DOT], [ins("SCALAR_VECTOR_PRODUCT", 2, 0, 0), UPDATE]),
            [(P, 0), (L, 0), (L, 1)],
        ),
        # with a rate: w += (r y) x
        (
            prog(
                [LR],
                [DOT],
                [ins("SCALAR_PRODUCT", 3, 0, 2), ins("SCALAR_VECTOR_PRODUCT", 2, 3, 0), UPDATE],
            ),
            [(P, 0), (L, 0), (L, 1), (L, 2)],
        ),
    ],
    "delayed_gradient_update": [
        # the step stored in v2 by one Learn is added to the weights by the next (demo seeds)
        (prog([LR], [DOT], [UPDATE, ERROR, RATE, STEP]), [(L, 0), (L, 1), (L, 2), (L, 3)]),
    ],
    "backprop": [
        (two_layer_relu_net(BANKS), [(P, 0), (L, 0), (L, 1), (L, 2), (L, 3), (L, 4), (L, 5)]),
    ],
    "noisy_relu": [
        # relu(W x + noise), the noise drawn in Predict
        (
            prog(
                [W_RANDOM, RANDOM_W],
                [
                    ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0),
                    ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.0, 0.1),
                    ins("VECTOR_SUM", 2, 2, 3),
                    ins("VECTOR_HEAVYSIDE", 4, 2),
                    ins("VECTOR_PRODUCT", 2, 2, 4),
                    ins("VECTOR_INNER_PRODUCT", 1, 1, 2),
                ],
                [],
            ),
            [(P, 1), (P, 3), (P, 4)],
        ),
    ],
    "rate_from_weight_mean": [
        # the step scaled by mean(w)
        (
            prog([RANDOM_W], [DOT], [ins("VECTOR_MEAN", 2, 1), ERROR, RATE, STEP, UPDATE]),
            [(L, 0), (L, 2)],
        ),
    ],
}


def _decaying(factor_row: Row, setup: list[Row] | None = None) -> Program:
    return prog(
        setup if setup is not None else [LR, ins("SCALAR_CONST_SET", 4, 0, 0, 1.01)],
        [DOT],
        [ERROR, RATE, STEP, UPDATE, factor_row],
    )


WITHOUT: dict[str, list[Program]] = {
    "linear_model": [
        # weights drawn in Setup and never learned
        prog([RANDOM_W], [DOT], [ERROR, RATE]),
        # the product is dead: the prediction is a constant
        prog(
            [LR],
            [ins("VECTOR_INNER_PRODUCT", 4, 0, 1), ins("SCALAR_CONST_SET", 1, 0, 0, 1.0)],
            [ERROR, RATE, STEP, UPDATE],
        ),
        # the rate is never set: the weights stay zero
        prog([], [DOT], [ERROR, RATE, STEP, UPDATE]),
        # weights updated without the label (v1 += x)
        prog([], [DOT], [ins("VECTOR_SUM", 1, 1, 0)]),
        # no weights on the other side: x . x times a learned scalar
        prog(
            [LR],
            [ins("VECTOR_INNER_PRODUCT", 4, 0, 0), ins("SCALAR_PRODUCT", 1, 4, 5)],
            [ERROR, RATE, ins("SCALAR_SUM", 5, 5, 3)],
        ),
    ],
    "learning_rate": [
        # the prediction is always zero (x is never read: v4 stays 0)
        prog([LR], [ins("VECTOR_INNER_PRODUCT", 1, 4, 1)], [ERROR, RATE, STEP, UPDATE]),
        # the step is unscaled
        prog([], [DOT], [ERROR, STEP, UPDATE]),
        # the scale is computed from the data
        prog([], [DOT], [ERROR, ins("VECTOR_NORM", 2, 0), RATE, STEP, UPDATE]),
        # the constant is set but multiplies something dead
        prog([LR], [DOT], [ERROR, ins("SCALAR_PRODUCT", 4, 3, 2), STEP, UPDATE]),
        # the rate is never set: always zero
        prog([], [DOT], [ERROR, RATE, STEP, UPDATE]),
    ],
    "gradient_update": [
        # ascent: w -= lr (y - p) x
        sgd(update=ins("VECTOR_DIFF", 1, 1, 2)),
        # ascent: w += lr (p - y) x
        sgd(error=ins("SCALAR_DIFF", 3, 1, 0)),
        # ascent through a negative rate
        sgd(lr=-0.05),
        # ascent through a positive scale of the input with p - y
        scaled_input(0.0635369, 0.0998602),
        # the error times a fixed random vector, not the input
        prog(
            [LR, ins("VECTOR_GAUSSIAN_SET", 4, 0, 0, 0.0, 1.0)],
            [DOT],
            [ERROR, RATE, ins("SCALAR_VECTOR_PRODUCT", 2, 3, 4), UPDATE],
        ),
        # the squared error times the input
        prog([LR], [DOT], [ERROR, ins("SCALAR_PRODUCT", 3, 3, 3), RATE, STEP, UPDATE]),
        # a zero rate never moves
        prog([], [DOT], [ERROR, RATE, STEP, UPDATE]),
        # the demo's seed 3 ascending: w -= c (y - p) x
        demo_seed3(_edit(SEED3_LEARN, r7=ins("VECTOR_DIFF", 1, 1, 2))),
        # ... recomputing with another weight vector: (c x) . v3 is not the prediction
        demo_seed3(
            _edit(SEED3_LEARN, r4=ins("VECTOR_INNER_PRODUCT", 1, 2, 3)),
            setup=[*SEED3_SETUP, ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.0, 1.0)],
            vectors=4,
        ),
        # ... recomputing with another scale: (s2 x) . w is not (c w) . x
        demo_seed3(_edit(SEED3_LEARN, r0=ins("SCALAR_VECTOR_PRODUCT", 2, 2, 0))),
        # ... stepping along s2 x (s2 > 0) while the model's scale c is negative: ascent
        demo_seed3(_edit(SEED3_LEARN, i6=ins("SCALAR_VECTOR_PRODUCT", 2, 2, 0))),
    ],
    "relu": [
        # a mask of one value times another (gating, not ReLU)
        prog(
            [ins("MATRIX_GAUSSIAN_SET", 0, 0, 0, 0.0, 1.0), RANDOM_W],
            [
                ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0),
                ins("VECTOR_HEAVYSIDE", 3, 2),
                ins("VECTOR_PRODUCT", 4, 0, 3),
                ins("VECTOR_INNER_PRODUCT", 1, 1, 4),
            ],
            [],
        ),
        # max with a vector that is not zero
        prog(
            [
                ins("MATRIX_GAUSSIAN_SET", 0, 0, 0, 0.0, 1.0),
                RANDOM_W,
                ins("VECTOR_CONST_SET", 4, 0, 0, 0.5, 0.5),
            ],
            [
                ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0),
                ins("VECTOR_MAX", 3, 2, 4),
                ins("VECTOR_INNER_PRODUCT", 1, 1, 3),
            ],
            [],
        ),
        # the ReLU is dead: the prediction reads the pre-activation
        prog(
            [ins("MATRIX_GAUSSIAN_SET", 0, 0, 0, 0.0, 1.0), RANDOM_W],
            [
                ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0),
                ins("VECTOR_HEAVYSIDE", 3, 2),
                ins("VECTOR_PRODUCT", 4, 2, 3),
                ins("VECTOR_INNER_PRODUCT", 1, 1, 2),
            ],
            [],
        ),
        # the rectified value is a weight, not computed from the input
        prog(
            [RANDOM_W],
            [
                ins("VECTOR_HEAVYSIDE", 3, 1),
                ins("VECTOR_PRODUCT", 4, 1, 3),
                ins("VECTOR_INNER_PRODUCT", 1, 0, 4),
            ],
            [],
        ),
    ],
    "gradient_normalization": [
        # divided by the norm of the weights
        prog(
            [LR],
            [DOT],
            [
                ERROR,
                STEP,
                ins("VECTOR_NORM", 4, 1),
                ins("SCALAR_RECIPROCAL", 4, 4),
                ins("SCALAR_VECTOR_PRODUCT", 2, 4, 2),
                UPDATE,
            ],
        ),
        # multiplied by the gradient's norm
        prog(
            [LR],
            [DOT],
            [ERROR, STEP, ins("VECTOR_NORM", 4, 2), ins("SCALAR_VECTOR_PRODUCT", 2, 4, 2), UPDATE],
        ),
        # the normalized gradient is dead
        prog(
            [LR],
            [DOT],
            [
                ERROR,
                STEP,
                ins("VECTOR_NORM", 4, 2),
                ins("SCALAR_RECIPROCAL", 4, 4),
                ins("SCALAR_VECTOR_PRODUCT", 5, 4, 2),
                UPDATE,
            ],
        ),
    ],
    "input_normalization": [
        # multiplied by the norm
        prog(
            [LR],
            [
                ins("VECTOR_NORM", 2, 0),
                ins("SCALAR_VECTOR_PRODUCT", 3, 2, 0),
                ins("VECTOR_INNER_PRODUCT", 1, 3, 1),
            ],
            [ERROR, RATE, ins("SCALAR_VECTOR_PRODUCT", 2, 3, 3), UPDATE],
        ),
        # divided by the norm of the weights
        prog(
            [LR],
            [ins("VECTOR_NORM", 2, 1), DOT, ins("SCALAR_DIVISION", 1, 1, 2)],
            [ERROR, RATE, STEP, UPDATE],
        ),
        # the normalized input is dead
        prog(
            [LR],
            [
                ins("VECTOR_NORM", 2, 0),
                ins("SCALAR_BROADCAST", 2, 2),
                ins("VECTOR_DIVISION", 3, 0, 2),
                DOT,
            ],
            [ERROR, RATE, STEP, UPDATE],
        ),
    ],
    "bilinear": [
        # W fixed (never learned)
        prog(
            [ins("MATRIX_GAUSSIAN_SET", 0, 0, 0, 0.0, 1.0)],
            [ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0), ins("VECTOR_INNER_PRODUCT", 1, 0, 2)],
            [],
        ),
        # x . (W v1): the input on one side only
        prog(
            [LR, RANDOM_W],
            [ins("MATRIX_VECTOR_PRODUCT", 2, 0, 1), ins("VECTOR_INNER_PRODUCT", 1, 0, 2)],
            [
                ERROR,
                RATE,
                ins("VECTOR_OUTER_PRODUCT", 1, 0, 1),
                ins("SCALAR_MATRIX_PRODUCT", 1, 3, 1),
                ins("MATRIX_SUM", 0, 0, 1),
            ],
        ),
        # x . (x + w): quadratic, but the learned weight enters additively
        prog(
            [LR],
            [ins("VECTOR_SUM", 2, 0, 1), ins("VECTOR_INNER_PRODUCT", 1, 0, 2)],
            [ERROR, RATE, STEP, UPDATE],
        ),
        # ReLU of W x: not a polynomial
        two_layer_relu_net(),
    ],
    "input_noise": [
        # noise drawn once in Setup: a fixed offset
        prog(
            [LR, ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.0, 0.1)],
            [DOT],
            [
                ins("VECTOR_SUM", 4, 0, 3),
                ERROR,
                RATE,
                ins("SCALAR_VECTOR_PRODUCT", 2, 3, 4),
                UPDATE,
            ],
        ),
        # zero spread
        prog(
            [LR],
            [DOT],
            [
                ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.3, 0.0),
                ins("VECTOR_SUM", 4, 0, 3),
                ERROR,
                RATE,
                ins("SCALAR_VECTOR_PRODUCT", 2, 3, 4),
                UPDATE,
            ],
        ),
        # noise on the scalar prediction, not on the input
        prog(
            [LR],
            [DOT, ins("SCALAR_GAUSSIAN_SET", 4, 0, 0, 0.0, 0.1), ins("SCALAR_SUM", 1, 1, 4)],
            [ERROR, RATE, STEP, UPDATE],
        ),
        # the noisy input is dead
        prog(
            [LR],
            [DOT],
            [
                ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.0, 0.1),
                ins("VECTOR_SUM", 4, 0, 3),
                ERROR,
                RATE,
                STEP,
                UPDATE,
            ],
        ),
    ],
    "weight_averaging": [
        # accumulates the input, not the weights
        prog(
            [LR],
            [ins("VECTOR_INNER_PRODUCT", 1, 0, 3)],
            [ERROR, RATE, STEP, UPDATE, ins("VECTOR_SUM", 3, 3, 0)],
        ),
        # a plain copy of the weights (plus a zero vector), no running average
        prog(
            [LR],
            [ins("VECTOR_INNER_PRODUCT", 1, 0, 3)],
            [ERROR, RATE, STEP, UPDATE, ins("VECTOR_SUM", 3, 1, 5)],
        ),
        # the average is never read by Predict
        prog([LR], [DOT], [ERROR, RATE, STEP, UPDATE, ins("VECTOR_SUM", 3, 3, 1)]),
        # a running difference
        prog(
            [LR],
            [ins("VECTOR_INNER_PRODUCT", 1, 0, 3)],
            [ERROR, RATE, STEP, UPDATE, ins("VECTOR_DIFF", 3, 3, 1)],
        ),
    ],
    "learning_rate_decay": [
        # the rate grows
        _decaying(ins("SCALAR_PRODUCT", 2, 2, 4)),
        # the rate starts at zero
        _decaying(ins("SCALAR_PRODUCT", 2, 2, 4), setup=[ins("SCALAR_CONST_SET", 4, 0, 0, 0.9)]),
        # the factor comes from the data
        prog(
            [LR],
            [DOT],
            [ERROR, RATE, STEP, UPDATE, ins("VECTOR_NORM", 4, 0), ins("SCALAR_PRODUCT", 2, 2, 4)],
        ),
        # a shrinking scale of the prediction, not of the step
        prog(
            [LR, ins("SCALAR_CONST_SET", 4, 0, 0, 0.99)],
            [DOT, ins("SCALAR_PRODUCT", 1, 1, 2)],
            [ERROR, STEP, UPDATE, ins("SCALAR_PRODUCT", 2, 2, 4)],
        ),
    ],
    "hebbian": [
        sgd(),  # error-driven
        # w += r x: no label
        prog([LR], [DOT], [ins("SCALAR_VECTOR_PRODUCT", 2, 2, 0), UPDATE]),
        # w += y v3 with a fixed random v3: no input
        prog(
            [RANDOM_W, ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.0, 1.0)],
            [DOT],
            [ins("SCALAR_VECTOR_PRODUCT", 2, 0, 3), UPDATE],
        ),
    ],
    "delayed_gradient_update": [
        sgd(),  # not delayed
        # the stored step is subtracted: ascent
        prog([LR], [DOT], [ins("VECTOR_DIFF", 1, 1, 2), ERROR, RATE, STEP]),
        # the stored value has no error
        prog([LR], [DOT], [UPDATE, ins("SCALAR_VECTOR_PRODUCT", 2, 2, 0)]),
    ],
    "backprop": [
        sgd(),
        damaged_neural_net(),  # its hidden update is always zero
        # feedback alignment: the hidden error goes through a fixed random vector v5
        Program(
            function(
                W_RANDOM,
                RANDOM_W,
                ins("SCALAR_CONST_SET", 2, 0, 0, 0.03),
                ins("VECTOR_GAUSSIAN_SET", 5, 0, 0, 0.0, 1.0),
            ),
            function(
                ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0),
                ins("VECTOR_HEAVYSIDE", 3, 2),
                ins("VECTOR_PRODUCT", 4, 2, 3),
                ins("VECTOR_INNER_PRODUCT", 1, 1, 4),
            ),
            function(
                ERROR,
                RATE,
                ins("SCALAR_VECTOR_PRODUCT", 2, 3, 5),
                ins("VECTOR_PRODUCT", 2, 2, 3),
                ins("VECTOR_OUTER_PRODUCT", 1, 2, 0),
                ins("MATRIX_SUM", 0, 0, 1),
                ins("SCALAR_VECTOR_PRODUCT", 2, 3, 4),
                UPDATE,
            ),
            BANKS,
        ),
    ],
    "noisy_relu": [
        two_layer_relu_net(BANKS),  # a plain ReLU
        # the noise added after the ReLU
        prog(
            [W_RANDOM, RANDOM_W],
            [
                ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0),
                ins("VECTOR_HEAVYSIDE", 4, 2),
                ins("VECTOR_PRODUCT", 2, 2, 4),
                ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.0, 0.1),
                ins("VECTOR_SUM", 2, 2, 3),
                ins("VECTOR_INNER_PRODUCT", 1, 1, 2),
            ],
            [],
        ),
        # a fixed offset drawn in Setup, not noise
        prog(
            [W_RANDOM, RANDOM_W, ins("VECTOR_GAUSSIAN_SET", 3, 0, 0, 0.0, 0.1)],
            [
                ins("MATRIX_VECTOR_PRODUCT", 2, 0, 0),
                ins("VECTOR_SUM", 2, 2, 3),
                ins("VECTOR_HEAVYSIDE", 4, 2),
                ins("VECTOR_PRODUCT", 2, 2, 4),
                ins("VECTOR_INNER_PRODUCT", 1, 1, 2),
            ],
            [],
        ),
    ],
    "rate_from_weight_mean": [
        sgd(),  # a constant rate
        # the mean of the input
        prog([RANDOM_W], [DOT], [ins("VECTOR_MEAN", 2, 0), ERROR, RATE, STEP, UPDATE]),
        # the mean of a fixed random vector, never learned
        prog(
            [RANDOM_W, ins("VECTOR_GAUSSIAN_SET", 4, 0, 0, 0.0, 1.0)],
            [DOT],
            [ins("VECTOR_MEAN", 2, 4), ERROR, RATE, STEP, UPDATE],
        ),
    ],
}


def test_every_detector_has_cases() -> None:
    for name in DETECTORS.names():
        assert len(WITH[name]) >= 1 and len(WITHOUT[name]) >= 2, name


@pytest.mark.parametrize(
    ("name", "k"), [(name, k) for name, cases in WITH.items() for k in range(len(cases))]
)
def test_detects_the_technique_at_the_right_instructions(name: str, k: int) -> None:
    program, positions = WITH[name][k]
    assert found(name, program) == positions


@pytest.mark.parametrize(
    ("name", "k"), [(name, k) for name, cases in WITHOUT.items() for k in range(len(cases))]
)
def test_rejects_close_variants_without_the_technique(name: str, k: int) -> None:
    assert found(name, WITHOUT[name][k]) is None


# --- the registry ------------------------------------------------------------------------------


def test_registry_names_descriptions_and_citations() -> None:
    assert len(DETECTORS) == 15
    for det in DETECTORS:
        assert det.name and det.description
        doc = det.rule.__doc__ or ""
        assert "Real et al. 2020" in doc and "Sec. 4" in doc, det.name


def test_registry_refuses_a_name_twice() -> None:
    reg: Registry[Detector] = Registry("detector")
    det = Detector("x", "y", lambda f: set())
    reg.add(det.name, det)
    with pytest.raises(ValueError, match="already registered"):
        reg.add(det.name, det)


def test_detect_is_in_registry_order() -> None:
    techniques = [d.technique for d in detect(two_layer_relu_net())]
    order = DETECTORS.names()
    assert techniques == sorted(techniques, key=order.index)


# --- properties ---------------------------------------------------------------------------------

MUTATOR = Mutator(
    ProgramSpace.uniform(
        Banks(5, 4, 3),
        REGISTRY.names(),
        init_sizes=(4, 5, 6),
        min_sizes=(0, 0, 0),
        max_sizes=(10, 10, 10),
    ),
    list(MutationType),
)
SEEDS = [linear_regression_sgd(Banks(5, 4, 3)), two_layer_relu_net(Banks(5, 6, 3))]


def _assert_well_formed(program: Program, detections: list[Detection]) -> None:
    masks = live_mask(program, keep_stochastic=False)
    for d in detections:
        assert d.technique in DETECTORS.names()
        assert d.positions and list(d.positions) == sorted(d.positions)
        for comp, i in d.positions:
            assert masks[comp][i], (d, program)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    start=st.sampled_from(["random", "sgd", "two_layer"]),
    mutations=st.integers(0, 10),
    scale=st.sampled_from([1.0, 0.0, -3.0, 1e300, float("nan")]),
)
def test_detectors_are_total_and_name_only_live_instructions(
    seed: int, start: str, mutations: int, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    p = MUTATOR.random_program(rng) if start == "random" else SEEDS[start == "two_layer"]
    for _ in range(mutations):
        p, _ = MUTATOR.mutate(p, rng) if start == "random" else _mutate_within(p, rng)
    if scale != 1.0:  # push data to zero, negatives, overflow and NaN
        setup, predict, learn = (type(f)(f.ops, f.args, f.data * scale) for f in p.functions)
        p = Program(setup, predict, learn, p.banks)
    _assert_well_formed(p, detect(p))


def _mutate_within(p: Program, rng: np.random.Generator) -> tuple[Program, str]:
    """Mutate a hand-written program in a space wide enough for its memory."""
    s, q, n = p.sizes()
    space = ProgramSpace.uniform(
        p.banks,
        REGISTRY.names(),
        init_sizes=(s, q, n),
        min_sizes=(0, 0, 0),
        max_sizes=(s + 6, q + 6, n + 6),
    )
    return Mutator(space, list(MutationType)).mutate(p, rng)


def _rows(fn: Function) -> list[Row]:
    return [
        (int(o), int(a[0]), int(a[1]), int(a[2]), tuple(float(x) for x in d))
        for o, a, d in zip(fn.ops, fn.args, fn.data, strict=True)
    ]


def test_dead_code_never_changes_detections() -> None:
    """Instructions writing v5 at the end of Learn (never read afterwards) change nothing."""
    pad = [
        ins("VECTOR_HEAVYSIDE", 5, 0),
        ins("VECTOR_GAUSSIAN_SET", 5, 0, 0, 0.0, 1.0),
        ins("VECTOR_SUM", 5, 1, 0),
        ins("SCALAR_VECTOR_PRODUCT", 5, 3, 0),
    ]
    for program, _ in [c for cases in WITH.values() for c in cases]:
        if program.banks != BANKS:
            continue
        padded = program.replace(Component.LEARN, function(*_rows(program.learn), *pad))
        assert detect(padded) == detect(program)


# --- the data-flow graph ----------------------------------------------------------------------


def test_flow_reads_the_demo_solution() -> None:
    f = dataflow(demo_seed7())
    v1, s3 = (Kind.VECTOR, 1), (Kind.SCALAR, 3)
    assert f.learned == {v1}
    assert f.data_dependent == {v1}  # s3 is a rate: data-free
    assert f.const(f.state[s3]) == 0.1700363882743219  # Learn's value, from the second step
    assert f.sign[f.state[s3]] == POS
    steps = list(f.error_steps())
    assert [s.loc for s in steps] == [v1] and f.orientation(steps[0].error.node) == 1


def test_flow_value_numbers_recomputed_values_and_reads_dead_code_nowhere() -> None:
    # Learn recomputes the prediction (Learn 1 = Predict 0); Learn 4 is dead
    f = dataflow(expanded_step())
    assert f.positions[f.prediction] == [(P, 0), (L, 1)]
    padded = sgd().replace(Component.SETUP, function(LR, ins("SCALAR_CONST_SET", 5, 0, 0, 3.0)))
    assert all((S, 1) not in ps for ps in dataflow(padded).positions)


def _node_at(f: Flow, position: tuple[Component, int]) -> int:
    return next(n for n, ps in enumerate(f.positions) if position in ps)


def test_flow_value_numbers_products_up_to_scalar_factors() -> None:
    f = dataflow(
        prog(
            [LR, RANDOM_W, ins("MATRIX_GAUSSIAN_SET", 0, 0, 0, 0.0, 1.0)],
            [
                ins("SCALAR_VECTOR_PRODUCT", 2, 2, 1),
                ins("VECTOR_INNER_PRODUCT", 3, 2, 0),  # (c w) . x
                ins("VECTOR_INNER_PRODUCT", 4, 0, 1),
                ins("SCALAR_PRODUCT", 4, 2, 4),  # c (x . w)
                ins("SCALAR_VECTOR_PRODUCT", 3, 2, 0),
                ins("VECTOR_INNER_PRODUCT", 5, 1, 3),  # w . (c x)
                ins("SCALAR_VECTOR_PRODUCT", 4, 4, 0),
                ins("VECTOR_INNER_PRODUCT", 1, 4, 1),  # (s4 x) . w: another scale
                ins("MATRIX_VECTOR_PRODUCT", 5, 0, 0),
                ins("SCALAR_VECTOR_PRODUCT", 5, 2, 5),  # c (M x)
                ins("SCALAR_MATRIX_PRODUCT", 1, 2, 0),
                ins("MATRIX_VECTOR_PRODUCT", 4, 1, 0),  # (c M) x
                ins("VECTOR_OUTER_PRODUCT", 2, 0, 1),
                ins("VECTOR_OUTER_PRODUCT", 1, 1, 0),  # outer products do not commute
                *(ins("SCALAR_SUM", 1, 1, k) for k in (3, 4, 5)),
                ins("VECTOR_INNER_PRODUCT", 3, 4, 5),
                ins("MATRIX_SUM", 1, 1, 2),
                ins("MATRIX_MEAN", 2, 1),
                ins("SCALAR_SUM", 1, 1, 2),
                ins("SCALAR_SUM", 1, 1, 3),
            ],
            [],
        )
    )
    same = [_node_at(f, (P, k)) for k in (1, 3, 5)]
    assert len(set(same)) == 1 and f.positions[same[0]] == [(P, 1), (P, 3), (P, 5)]
    assert _node_at(f, (P, 7)) not in same
    assert _node_at(f, (P, 9)) == _node_at(f, (P, 11))
    assert _node_at(f, (P, 12)) != _node_at(f, (P, 13))


def test_flow_signs_of_folded_constants() -> None:
    f = dataflow(demo_seed3())
    c = _node_at(f, (L, 3))  # 0.112 - 0.547
    assert f.sign[c] == NEG and f.const(c) == 0.11207741166784524 - 0.5466704065138104


def test_flow_polynomial_degrees() -> None:
    f = dataflow(WITH["bilinear"][0][0])
    assert f.poly[f.prediction] == {2: True}  # x . (W x), W learned
    f = dataflow(two_layer_relu_net())
    assert f.poly[f.prediction] is None  # through a heaviside


def test_doubling_products_and_long_chains_stay_cheap() -> None:
    """``s = s * s`` 60 times has 2^60 factors; 1500 chained sums must not recurse."""
    squares = [ins("SCALAR_PRODUCT", 3, 3, 3)] * 60
    sums = [ins("VECTOR_SUM", 1, 1, 1)] * 1500
    p = prog(
        [LR, ins("SCALAR_CONST_SET", 3, 0, 0, 1.5)],
        [*squares, DOT, ins("SCALAR_PRODUCT", 1, 1, 3)],
        [ERROR, *squares, RATE, STEP, UPDATE, *sums],
    )
    _assert_well_formed(p, detect(p))
