"""Synthetic regression tasks drawn from random teachers.

The AutoML-Zero paper (Real et al. 2020, "AutoML-Zero: Evolving Machine Learning Algorithms From
Scratch", ICML) searches first on tasks whose labels come from a random *teacher*: a linear one,
``y = w . x``, and a small nonlinear one, ``y = u . relu(M x)``, with features and teacher
parameters all standard normal and no label noise.

Seeding contract: task ``i`` of a set built with ``seed`` depends only on ``(seed, i)`` and the
sizes, never on ``n_tasks``. ``np.random.SeedSequence([seed, i]).spawn(4)`` gives four
independent streams, used in this order:

0. the teacher parameters (``w``; or ``M`` then ``u``),
1. the training features, ``standard_normal((n_train, dim))``,
2. the validation features, ``standard_normal((n_valid, dim))``,
3. the visiting order of later epochs (:func:`~primeval.algorithms.tasks.base.shuffled_order`).

Because the teacher has its own stream (the reference's ``param_seed`` as opposed to its
``data_seed``), changing ``n_train`` or ``n_valid`` keeps the same teacher, and the linear and
nonlinear task ``i`` of one seed see the same features.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from primeval.algorithms.tasks.base import Task, TaskSet, shuffled_order

Teacher = Callable[[np.ndarray], np.ndarray]
"""Maps features ``(n, F)`` to labels ``(n,)``."""


def _check_sizes(n_tasks: int, dim: int, n_train: int, n_valid: int, epochs: int) -> None:
    for label, value in (("n_tasks", n_tasks), ("dim", dim), ("n_train", n_train)):
        if value < 1:
            raise ValueError(f"{label} must be >= 1, got {value}")
    if n_valid < 1:
        raise ValueError(f"n_valid must be >= 1, got {n_valid}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")


def _teacher_tasks(
    family: str,
    make_teacher: Callable[[np.random.Generator], Teacher],
    n_tasks: int,
    dim: int,
    n_train: int,
    n_valid: int,
    seed: int,
    epochs: int,
) -> TaskSet:
    _check_sizes(n_tasks, dim, n_train, n_valid, epochs)
    tasks = []
    for i in range(n_tasks):
        teacher_rng, train_rng, valid_rng, order_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence([seed, i]).spawn(4)
        )
        teacher = make_teacher(teacher_rng)
        train_x = train_rng.standard_normal((n_train, dim))
        valid_x = valid_rng.standard_normal((n_valid, dim))
        tasks.append(
            Task(
                train_x=train_x,
                train_y=teacher(train_x),
                valid_x=valid_x,
                valid_y=teacher(valid_x),
                classification=False,
                epochs=epochs,
                order=shuffled_order(n_train, epochs, order_rng),
                name=f"{family}[{i}]",
            )
        )
    return TaskSet.of(tasks)


def linear_regression_tasks(
    n_tasks: int, dim: int, n_train: int, n_valid: int, seed: int, epochs: int = 1
) -> TaskSet:
    """Tasks ``y = w . x`` with ``x ~ N(0, I_F)``, ``w ~ N(0, I_F)`` and no noise.

    The linear-regression teacher of Real et al. (2020). See the module docstring
    for how ``seed`` determines each task.
    """

    def make_teacher(rng: np.random.Generator) -> Teacher:
        w = rng.standard_normal(dim)
        return lambda x: x @ w

    return _teacher_tasks("linear", make_teacher, n_tasks, dim, n_train, n_valid, seed, epochs)


def nonlinear_teacher_tasks(
    n_tasks: int,
    dim: int,
    n_train: int,
    n_valid: int,
    seed: int,
    epochs: int = 1,
    zero_rows: tuple[int, ...] = (),
) -> TaskSet:
    """Tasks ``y = u . relu(M x)`` with ``M ~ N(0,1)^{FxF}``, ``u ~ N(0,1)^F``, ``x ~ N(0, I_F)``.

    The nonlinear teacher of Real et al. (2020): a one-hidden-layer ReLU network with
    ``F`` hidden units. ``M`` is drawn before ``u`` from the teacher stream (see the module
    docstring). ``zero_rows`` lists hidden units to switch off: those rows of ``M`` and those
    entries of ``u`` are set to zero after drawing, so the remaining parameters do not change. The
    reference's easier variant zeroes units 0 and 2, i.e. ``zero_rows=(0, 2)``.
    """
    bad = [r for r in zero_rows if not 0 <= r < dim]
    if bad:
        raise ValueError(f"zero_rows {bad} outside 0..{dim - 1}")
    rows = list(zero_rows)

    def make_teacher(rng: np.random.Generator) -> Teacher:
        m = rng.standard_normal((dim, dim))
        u = rng.standard_normal(dim)
        m[rows, :] = 0.0
        u[rows] = 0.0
        return lambda x: np.maximum(x @ m.T, 0.0) @ u

    return _teacher_tasks("nonlinear", make_teacher, n_tasks, dim, n_train, n_valid, seed, epochs)
