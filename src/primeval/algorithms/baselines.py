"""Hand-written algorithms in the program format: fixtures, baselines and cost yardsticks.

Each function returns a :class:`~primeval.algorithms.program.Program` that the
interpreters run like any evolved one:

- :func:`linear_regression_sgd`: the solution the AutoML-Zero demo rediscovers
  (Real et al. 2020, "AutoML-Zero: Evolving Machine Learning Algorithms From
  Scratch", ICML; the reference code's README), linear regression trained by SGD;
- :func:`logistic_regression`: the paper's logistic-regression baseline for the
  projected binary classification tasks (Sec. 4.2);
- :func:`two_layer_relu_net`: the paper's hand-designed 2-layer ReLU network with
  backpropagation (Sec. 4.2), whose per-example cost also sets the compute budget;
- :func:`neural_net`: the reference code's ``NeuralNet`` (the same network with biases,
  in the reference's addresses), and :func:`damaged_neural_net`, its Setup without the
  weight initialization: the start of the reference's nonlinear Setup-only search.

:data:`NAMED` maps stable names to these builders, so a config's ``program.initial`` and
the command line (``primeval show neural_net``) can name them.

Programs are written with :func:`instr` and :func:`function`, which name ops by
their registered names, so a listing here reads like the printed algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Function, Program

Row = tuple[int, int, int, int, Sequence[float]]


def instr(name: str, out: int = 0, in1: int = 0, in2: int = 0, data: Sequence[float] = ()) -> Row:
    """One instruction ``out = NAME(in1, in2, data)`` as a ``Function.from_instructions`` row.

    Unused addresses stay 0. Raises ``KeyError`` for an unknown op and
    ``ValueError`` when ``data`` has more values than the op has data slots.
    """
    spec = REGISTRY[name]
    if len(data) > len(spec.data):
        raise ValueError(f"{name} takes {len(spec.data)} data value(s), got {len(data)}")
    return (spec.code, in1, in2, out, tuple(float(x) for x in data))


def function(*rows: Row) -> Function:
    """A component function from :func:`instr` rows, in order."""
    return Function.from_instructions(list(rows))


def _checked(setup: Function, predict: Function, learn: Function, banks: Banks) -> Program:
    program = Program(setup, predict, learn, banks)
    try:
        program.validate()
    except ValueError as e:
        raise ValueError(f"memory {banks} is too small for this algorithm: {e}") from None
    return program


def _linear_sgd(banks: Banks, lr: float) -> Program:
    setup = function(instr("SCALAR_CONST_SET", out=2, data=(lr,)))  # s2 = lr
    predict = function(instr("VECTOR_INNER_PRODUCT", out=1, in1=0, in2=1))  # s1 = v0 . v1
    learn = function(
        instr("SCALAR_DIFF", out=3, in1=0, in2=1),  # s3 = y - s1
        instr("SCALAR_PRODUCT", out=3, in1=3, in2=2),  # s3 = lr * (y - s1)
        instr("SCALAR_VECTOR_PRODUCT", out=2, in1=3, in2=0),  # v2 = s3 * x
        instr("VECTOR_SUM", out=1, in1=1, in2=2),  # v1 = v1 + v2
    )
    return _checked(setup, predict, learn, banks)


def linear_regression_sgd(banks: Banks | None = None, lr: float = 0.05) -> Program:
    """Linear regression ``s1 = v0 . v1`` trained by SGD on the squared error.

    The algorithm the AutoML-Zero demo evolves (Real et al. 2020), in its 4/3/1
    memory: the reference's listing uses a fifth scalar ``s4`` for the scaled
    error, here ``s3`` is reused. Weights live in ``v1``, the learning rate in
    ``s2``. Needs at least ``Banks(scalars=4, vectors=3, matrices=0)``.

    With ``lr=0.05`` it reaches fitness above 0.9999 on linear-regression tasks
    with F = 4 and 1000 training examples (the demo's selection tasks).
    """
    return _linear_sgd(banks or Banks(4, 3, 1), lr)


def logistic_regression(banks: Banks | None = None, lr: float = 0.05) -> Program:
    """Logistic regression ``sigmoid(v0 . v1)`` trained by SGD on the log loss.

    The instructions are those of :func:`linear_regression_sgd`: on a
    classification task the interpreter replaces ``s1`` by ``sigmoid(s1)``
    before Learn, so ``s3 = s0 - s1`` is ``y - p`` and ``v1 += lr (y - p) x``
    is exactly the log-loss gradient step. The paper's baseline for projected
    binary classification (Real et al. 2020, Sec. 4.2). Needs at least
    ``Banks(4, 3, 0)``.
    """
    return _linear_sgd(banks or Banks(4, 3, 1), lr)


def two_layer_relu_net(
    banks: Banks | None = None, lr: float = 0.03, init_std: float = 0.5
) -> Program:
    """A 2-layer ReLU network ``s1 = v1 . relu(m0 v0)`` trained by backpropagation.

    The hidden layer has F units (memory holds F x F matrices). Setup draws
    ``m0`` and ``v1`` from ``N(0, init_std^2)`` and sets ``s2 = lr``; Predict keeps
    the pre-activation ``v2``, the ReLU mask ``v3 = heaviside(v2)`` and the hidden
    activations ``v4`` for Learn, which takes one SGD step on the squared error:
    ``m0 += lr (y - s1) (v1 * v3) v0^T`` (with the old ``v1``), then
    ``v1 += lr (y - s1) v4``. Memory: ``s0..s3``, ``v0..v5``, ``m0..m1``, so it needs at
    least ``Banks(scalars=4, vectors=6, matrices=2)``.

    The paper's hand-designed 2-layer baseline (Real et al. 2020, Sec. 4.2); its
    per-example cost is the reference's compute budget unit.
    """
    setup = function(
        instr("MATRIX_GAUSSIAN_SET", out=0, data=(0.0, init_std)),  # m0 ~ N(0, std)
        instr("VECTOR_GAUSSIAN_SET", out=1, data=(0.0, init_std)),  # v1 ~ N(0, std)
        instr("SCALAR_CONST_SET", out=2, data=(lr,)),  # s2 = lr
    )
    predict = function(
        instr("MATRIX_VECTOR_PRODUCT", out=2, in1=0, in2=0),  # v2 = m0 @ x
        instr("VECTOR_HEAVYSIDE", out=3, in1=2),  # v3 = (v2 > 0)
        instr("VECTOR_PRODUCT", out=4, in1=2, in2=3),  # v4 = relu(v2)
        instr("VECTOR_INNER_PRODUCT", out=1, in1=1, in2=4),  # s1 = v1 . v4
    )
    learn = function(
        instr("SCALAR_DIFF", out=3, in1=0, in2=1),  # s3 = y - s1
        instr("SCALAR_PRODUCT", out=3, in1=3, in2=2),  # s3 = lr * (y - s1)
        instr("SCALAR_VECTOR_PRODUCT", out=5, in1=3, in2=1),  # v5 = s3 * v1
        instr("VECTOR_PRODUCT", out=5, in1=5, in2=3),  # v5 = v5 * mask
        instr("VECTOR_OUTER_PRODUCT", out=1, in1=5, in2=0),  # m1 = v5 x^T
        instr("MATRIX_SUM", out=0, in1=0, in2=1),  # m0 = m0 + m1
        instr("SCALAR_VECTOR_PRODUCT", out=5, in1=3, in2=4),  # v5 = s3 * v4
        instr("VECTOR_SUM", out=1, in1=1, in2=5),  # v1 = v1 + v5
    )
    return _checked(setup, predict, learn, banks or Banks(4, 6, 2))


def two_layer_softmax_net(
    banks: Banks | None = None, lr: float = 0.03, init_std: float = 0.25
) -> Program:
    """A 2-layer ReLU network for multi-class tasks, ``v2 = m1 relu(m0 v0)``, trained by
    backpropagation of the cross-entropy.

    :func:`two_layer_relu_net` with a vector output, for the ten-class tasks of Real et al.
    (2020, Sec. 4.3): the interpreter replaces ``v2[:C]`` by its softmax after Predict and
    puts the one-hot label in ``v1`` for Learn (:mod:`primeval.algorithms.memory`), so
    ``v6 = lr (v1 - v2)`` is the gradient step at the output. Learn backpropagates it through
    the old ``m1`` (``v7 = (m1^T v6) * mask``), then updates ``m1 += v6 h^T`` and
    ``m0 += v7 x^T``. Needs at least ``Banks(scalars=3, vectors=8, matrices=4)``. Not in
    :data:`NAMED`, whose baselines predict the scalar ``s1`` of binary and regression tasks.
    """
    setup = function(
        instr("MATRIX_GAUSSIAN_SET", out=0, data=(0.0, init_std)),  # m0 ~ N(0, std)
        instr("MATRIX_GAUSSIAN_SET", out=1, data=(0.0, init_std)),  # m1 ~ N(0, std)
        instr("SCALAR_CONST_SET", out=2, data=(lr,)),  # s2 = lr
    )
    predict = function(
        instr("MATRIX_VECTOR_PRODUCT", out=3, in1=0, in2=0),  # v3 = m0 @ x
        instr("VECTOR_HEAVYSIDE", out=4, in1=3),  # v4 = (v3 > 0)
        instr("VECTOR_PRODUCT", out=5, in1=3, in2=4),  # v5 = relu(v3)
        instr("MATRIX_VECTOR_PRODUCT", out=2, in1=1, in2=5),  # v2 = m1 @ v5
    )
    learn = function(
        instr("VECTOR_DIFF", out=6, in1=1, in2=2),  # v6 = y - p
        instr("SCALAR_VECTOR_PRODUCT", out=6, in1=2, in2=6),  # v6 = lr * (y - p)
        instr("MATRIX_TRANSPOSE", out=3, in1=1),  # m3 = m1^T
        instr("MATRIX_VECTOR_PRODUCT", out=7, in1=3, in2=6),  # v7 = m1^T v6
        instr("VECTOR_PRODUCT", out=7, in1=7, in2=4),  # v7 = v7 * mask
        instr("VECTOR_OUTER_PRODUCT", out=2, in1=6, in2=5),  # m2 = v6 h^T
        instr("MATRIX_SUM", out=1, in1=1, in2=2),  # m1 = m1 + m2
        instr("VECTOR_OUTER_PRODUCT", out=2, in1=7, in2=0),  # m2 = v7 x^T
        instr("MATRIX_SUM", out=0, in1=0, in2=2),  # m0 = m0 + m2
    )
    return _checked(setup, predict, learn, banks or Banks(3, 8, 4))


def neural_net(
    banks: Banks | None = None, lr: float = 0.01, init_scale: float = 0.1, damaged: bool = False
) -> Program:
    """The reference code's ``NeuralNet``: ``s1 = v2 . relu(m0 v0 + v1) + s2`` by backprop.

    The AutoML-Zero reference's hand-written 2-layer network (``Generator::NeuralNet``, with
    its default learning rate 0.01 and initial scales 0.1), instruction for instruction and in
    its addresses: first layer ``m0`` with bias ``v1``, output weights ``v2`` with bias ``s2``,
    learning rate ``s3``, error ``s4``; pre-activation ``v3``, hidden units ``v4``, the zero
    vector ``v5`` the ReLU compares with, gradients ``v6..v8`` and ``m1``. Learn takes one SGD
    step on the squared error, output layer first: as in the reference, the hidden layer's
    error is backpropagated through the already updated ``v2``. Needs ``Banks(5, 9, 2)``.

    With ``damaged=True`` Setup loses its first two instructions, the Gaussian draws of
    ``v2`` and ``m0`` (the reference's ``INTEGRATION_TEST_DAMAGED_NEURAL_NET_ALGORITHM``): all
    weights start at zero, every hidden unit stays at zero, and only the output bias learns,
    so the network predicts a running mean of the labels.
    """
    init = (
        ()
        if damaged
        else (
            instr("VECTOR_GAUSSIAN_SET", out=2, data=(0.0, init_scale)),  # v2 ~ N(0, scale)
            instr("MATRIX_GAUSSIAN_SET", out=0, data=(0.0, init_scale)),  # m0 ~ N(0, scale)
        )
    )
    setup = function(*init, instr("SCALAR_CONST_SET", out=3, data=(lr,)))  # s3 = lr
    predict = function(
        instr("MATRIX_VECTOR_PRODUCT", out=3, in1=0, in2=0),  # v3 = m0 @ x
        instr("VECTOR_SUM", out=3, in1=3, in2=1),  # v3 = v3 + v1
        instr("VECTOR_MAX", out=4, in1=3, in2=5),  # v4 = relu(v3)
        instr("VECTOR_INNER_PRODUCT", out=1, in1=4, in2=2),  # s1 = v4 . v2
        instr("SCALAR_SUM", out=1, in1=1, in2=2),  # s1 = s1 + s2
    )
    learn = function(
        instr("SCALAR_DIFF", out=4, in1=0, in2=1),  # s4 = y - s1
        instr("SCALAR_PRODUCT", out=4, in1=3, in2=4),  # s4 = lr * (y - s1)
        instr("SCALAR_SUM", out=2, in1=2, in2=4),  # s2 = s2 + s4
        instr("SCALAR_VECTOR_PRODUCT", out=6, in1=4, in2=4),  # v6 = s4 * v4
        instr("VECTOR_SUM", out=2, in1=2, in2=6),  # v2 = v2 + v6
        instr("SCALAR_VECTOR_PRODUCT", out=7, in1=4, in2=2),  # v7 = s4 * v2
        instr("VECTOR_HEAVYSIDE", out=8, in1=3),  # v8 = (v3 > 0)
        instr("VECTOR_PRODUCT", out=7, in1=8, in2=7),  # v7 = v8 * v7
        instr("VECTOR_SUM", out=1, in1=1, in2=7),  # v1 = v1 + v7
        instr("VECTOR_OUTER_PRODUCT", out=1, in1=7, in2=0),  # m1 = v7 x^T
        instr("MATRIX_SUM", out=0, in1=0, in2=1),  # m0 = m0 + m1
    )
    return _checked(setup, predict, learn, banks or Banks(5, 9, 2))


def damaged_neural_net(banks: Banks | None = None, lr: float = 0.01) -> Program:
    """:func:`neural_net` without its weight initialization (``damaged=True``)."""
    return neural_net(banks, lr=lr, damaged=True)


def _named(*builders: Callable[[], Program]) -> Mapping[str, Callable[[], Program]]:
    table: dict[str, Callable[[], Program]] = {}
    for b in builders:
        if b.__name__ in table:
            raise ValueError(f"baseline {b.__name__!r} registered twice")
        table[b.__name__] = b
    return MappingProxyType(table)


NAMED = _named(
    linear_regression_sgd,
    logistic_regression,
    two_layer_relu_net,
    neural_net,
    damaged_neural_net,
)
"""Baselines by name, each built with its default arguments."""


def named(name: str) -> Program:
    """The baseline called ``name``; ``KeyError`` lists the names for an unknown one."""
    if name not in NAMED:
        raise KeyError(f"no baseline named {name!r}; known: {', '.join(NAMED)}")
    return NAMED[name]()
