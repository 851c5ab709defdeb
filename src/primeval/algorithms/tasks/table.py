"""Tasks from the user's own data set: random projections of random subsamples of a table.

As the projected image tasks of Real et al. (2020, "AutoML-Zero", Sec. 4.2) turn one data set
into many related tasks, so that an algorithm is selected for how it learns rather than for
what it remembers, a table of features and a target column becomes a pool of tasks: each
draws ``n_train`` / ``n_valid`` / ``n_test`` disjoint rows, projects the features to ``dim``
by a Gaussian random matrix and standardizes them with the training rows' statistics
(:func:`~primeval.algorithms.tasks.projected.project`). A regression target is standardized
with the training rows' mean and standard deviation, so that fitness (``1 - (2/pi)
atan(rmse)``) means the same on every table; a classification target takes two values, the
smaller labelled 0.

Seeding contract: the task built with seed ``s`` depends only on ``(s, table, sizes)``:
``np.random.SeedSequence(s).spawn(3)`` gives the streams for the rows, the projection and the
visiting order of later epochs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from primeval.algorithms.tasks.base import Task, TaskSet
from primeval.algorithms.tasks.projected import project


def table_objective(y: np.ndarray, objective: str) -> bool:
    """Whether target ``y`` makes classification tasks: ``"auto"`` when it takes exactly two
    values. Raises ``ValueError`` for a classification target that does not."""
    values = np.unique(y)
    if objective == "auto":
        return len(values) == 2
    if objective == "classification":
        if len(values) != 2:
            raise ValueError(f"a classification target takes 2 values, this one {len(values)}")
        return True
    return False


def table_tasks(
    x: np.ndarray,
    y: np.ndarray,
    seeds: Sequence[int],
    classification: bool,
    dim: int,
    n_train: int,
    n_valid: int,
    n_test: int = 0,
    epochs: int = 1,
    name: str = "table",
) -> TaskSet:
    """One task per seed from features ``x (n, d)`` and target ``y (n,)`` (see the module
    docstring). Tasks are named ``f"{name}#i"``."""
    need = n_train + n_valid + n_test
    if need > len(y):
        raise ValueError(
            f"the table has {len(y)} rows, fewer than {n_train} train + {n_valid} valid + "
            f"{n_test} test; lower the sizes"
        )
    if classification:
        y = (y == np.unique(y)[-1]).astype(np.float64)
    tasks = []
    for i, seed in enumerate(seeds):
        rows_rng, proj_rng, order_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
        )
        rows = rows_rng.permutation(len(y))[:need]
        train = np.arange(n_train)
        z = project(x[rows], train, dim, proj_rng)
        t = y[rows]
        if not classification:
            std = t[train].std()
            t = (t - t[train].mean()) / (std if std > 0 else 1.0)
        tr, va, te = np.split(np.arange(need), [n_train, n_train + n_valid])
        tasks.append(
            Task.from_split(
                z,
                t,
                (tr, va, te),
                classification=classification,
                epochs=epochs,
                order_rng=order_rng,
                name=f"{name}#{i}",
            )
        )
    return TaskSet.of(tasks)
