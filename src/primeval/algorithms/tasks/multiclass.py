"""Projected multi-class tasks: all ten classes of an image data set, one task per projection.

Real et al. (2020), "AutoML-Zero", Sec. 4.3, adapt the 2-layer net to ten-class CIFAR-10: the
label is a one-hot vector and the prediction a vector. Here a task keeps the class index as
its label (``Task.n_classes`` classes); the interpreters write the one-hot vector into ``v1``
for Learn and read the prediction vector from ``v2`` (:mod:`primeval.algorithms.memory`).

Seeding contract: the task built with seed ``s`` depends only on ``(s, data, sizes)``:
``np.random.SeedSequence(s).spawn(3)`` gives the streams for the split, the projection and the
visiting order of later epochs. Unlike the binary tasks, the split is a plain shuffle, not
stratified (ten classes of equal size keep their ratio closely in thousands of examples).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from primeval.algorithms.tasks.base import Task, TaskSet
from primeval.algorithms.tasks.projected import project
from primeval.datasets import UnitRows


def multiclass_tasks(
    x: np.ndarray | UnitRows,
    y: np.ndarray,
    seeds: Sequence[int],
    dim: int = 16,
    n_train: int = 8000,
    n_valid: int = 1000,
    n_test: int = 1000,
    epochs: int = 1,
    name: str = "",
) -> TaskSet:
    """One multi-class task per seed: ``n_train`` / ``n_valid`` / ``n_test`` disjoint examples of
    ``(x, y)``, projected to ``dim`` features and standardized as the binary tasks are
    (:func:`~primeval.algorithms.tasks.projected.project`). Labels ``y`` are classes
    ``0..C-1``, ``C = max(y) + 1 <= dim``. Tasks are named ``f"{name}[10 classes]#i"``."""
    y = np.asarray(y)
    if len(x) != len(y) or y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"need x (n, d) and integer labels y (n,), got {len(x)} and {y.shape}")
    n_classes = int(y.max()) + 1
    if n_classes < 3 or n_classes > dim:
        raise ValueError(f"{n_classes} classes: need 3 to dim = {dim}")
    need = n_train + n_valid + n_test
    if need > len(y):
        raise ValueError(f"{len(y)} examples, fewer than {n_train} + {n_valid} + {n_test}")
    tasks = []
    for i, seed in enumerate(seeds):
        split_rng, proj_rng, order_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
        )
        rows = np.sort(split_rng.permutation(len(y))[:need])
        pick = split_rng.permutation(need)
        train, valid, test = np.split(pick, [n_train, n_train + n_valid])
        z = project(np.asarray(x[rows], dtype=np.float64), train, dim, proj_rng)
        labels = y[rows].astype(np.float64)
        tasks.append(
            Task.from_split(
                z,
                labels,
                (train, valid, test),
                classification=True,
                epochs=epochs,
                order_rng=order_rng,
                name=f"{name}[{n_classes} classes]#{i}",
                n_classes=n_classes,
            )
        )
    return TaskSet.of(tasks)
