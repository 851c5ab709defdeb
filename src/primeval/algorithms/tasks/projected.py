"""Projected binary classification tasks built from a labeled image data set.

Real et al. (2020), "AutoML-Zero: Evolving Machine Learning Algorithms From Scratch", search on
binary tasks made from a pair of CIFAR-10 (or MNIST) classes: the images are projected to
``F = 16`` features by a seeded Gaussian random matrix, standardized with statistics of the
training split, and split 8000 train / 1000 valid / 1000 test. Nine pairs are held out of the
search and used only to select the final algorithm (:data:`SELECTION_PAIRS`).

Seeding contract: the task for pair ``(a, b)`` depends only on ``(seed, a, b)``, the data and the
sizes, not on which other pairs are requested. ``np.random.SeedSequence([seed, a, b]).spawn(3)``
gives the streams for the split, the projection matrix and the visiting order of later epochs.

Where this differs from the reference's ``generate_datasets.py``: it labels the first class of a
pair 1 and the second 0 (the learning problem is the same up to that swap), and it draws from the
first 5000 training-set images of each class, whereas here every example of the two classes in
the given arrays is eligible (pass a subset of the data to restrict that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import combinations

import numpy as np

from primeval.algorithms.tasks.base import Task, TaskSet
from primeval.datasets import UnitRows

SELECTION_PAIRS: tuple[tuple[int, int], ...] = (
    (4, 6),
    (3, 5),
    (8, 9),
    (3, 8),
    (0, 9),
    (2, 9),
    (1, 8),
    (3, 6),
    (0, 5),
)
"""Class pairs the reference holds out of search and uses for model selection."""

ALL_PAIRS: tuple[tuple[int, int], ...] = tuple(combinations(range(10), 2))
"""The 45 pairs ``(a, b)`` with ``0 <= a < b <= 9``."""


def search_pairs() -> tuple[tuple[int, int], ...]:
    """The 36 pairs of :data:`ALL_PAIRS` not in :data:`SELECTION_PAIRS`, in lexical order."""
    held_out = set(SELECTION_PAIRS)
    return tuple(p for p in ALL_PAIRS if p not in held_out)


def _stratified_split(
    labels: np.ndarray, sizes: Sequence[int], rng: np.random.Generator
) -> list[np.ndarray]:
    """Indices of disjoint splits of the given sizes, each holding both classes in the data's ratio.

    Class-1 counts are rounded on the cumulative sizes, so no class is asked for more examples
    than it has whenever ``sum(sizes) <= len(labels)``. Each split is shuffled.
    """
    ones = rng.permutation(np.flatnonzero(labels == 1))
    zeros = rng.permutation(np.flatnonzero(labels == 0))
    frac = len(ones) / len(labels)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    ones_bounds = np.floor(bounds * frac + 0.5).astype(np.int64)
    zeros_bounds = bounds - ones_bounds
    splits = []
    for k in range(len(sizes)):
        idx = np.concatenate(
            [
                ones[ones_bounds[k] : ones_bounds[k + 1]],
                zeros[zeros_bounds[k] : zeros_bounds[k + 1]],
            ]
        )
        splits.append(rng.permutation(idx))
    return splits


def project(rows: np.ndarray, train: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``rows (n, d)`` projected to ``dim`` features by a matrix of ``N(0, 1/dim)`` entries drawn
    from ``rng``, each feature then standardized with the mean and population standard
    deviation of the rows ``train`` (a feature constant there is only centred)."""
    proj = rng.standard_normal((rows.shape[1], dim)) / np.sqrt(dim)
    z = rows @ proj
    mean = z[train].mean(axis=0)
    std = z[train].std(axis=0)
    std[std == 0.0] = 1.0
    out: np.ndarray = (z - mean) / std
    return out


def projected_binary_tasks(
    x: np.ndarray | UnitRows,
    y: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    dim: int = 16,
    n_train: int | None = 8000,
    n_valid: int = 1000,
    n_test: int = 1000,
    seed: int = 0,
    epochs: int = 1,
    name: str = "",
) -> TaskSet:
    """One binary task per class pair ``(a, b)`` of ``(x, y)``: label 0 for ``a``, 1 for ``b``.

    For each pair, the examples of the two classes are split, with a seeded shuffle, into disjoint
    train / valid / test sets of ``n_train`` / ``n_valid`` / ``n_test`` examples, each keeping the
    pair's class ratio (stratified, as in the reference). Features are projected to ``dim`` by a
    matrix ``R`` of shape ``(d, dim)`` with entries ``N(0, 1/dim)`` (a Johnson-Lindenstrauss
    projection; the scale is immaterial because of the next step), then each projected feature is
    standardized with the mean and population standard deviation of the *training* split (a
    feature constant on the training split is only centred). The test split goes to
    ``test_x``/``test_y``; ``n_test=0`` leaves them ``None``.

    ``n_train=None`` takes every example left after valid and test, the same number for all pairs
    (the smallest pair decides) because a :class:`TaskSet` needs equal shapes. Asking for more
    examples than a pair has raises ``ValueError`` stating how many there are.

    Tasks are named ``f"{name}({a},{b})"``, e.g. ``"digits(3,5)"``; see the module docstring for
    how ``seed`` determines each task.
    """
    if not isinstance(x, UnitRows):  # UnitRows: images as stored, float64 one pair at a time
        x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"need x (n, d) and y (n,), got {x.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if not pairs:
        raise ValueError("pairs is empty")
    for label, value in (("dim", dim), ("n_valid", n_valid), ("epochs", epochs)):
        if value < 1:
            raise ValueError(f"{label} must be >= 1, got {value}")
    if n_test < 0 or (n_train is not None and n_train < 1):
        raise ValueError(f"need n_train >= 1 and n_test >= 0, got {n_train} and {n_test}")

    members = []
    for a, b in pairs:
        if a == b:
            raise ValueError(f"pair ({a},{b}) repeats a class")
        counts = [int(np.count_nonzero(y == c)) for c in (a, b)]
        if min(counts) == 0:
            raise ValueError(f"pair ({a},{b}): class counts in the data are {counts}")
        members.append(((a, b), np.flatnonzero((y == a) | (y == b))))
    available = min(len(m) for _, m in members)
    if n_train is None:
        n_train = available - n_valid - n_test
        if n_train < 1:
            raise ValueError(
                f"only {available} examples in the smallest pair, "
                f"not enough for {n_valid} valid + {n_test} test + 1 train"
            )
    for (a, b), m in members:
        if n_train + n_valid + n_test > len(m):
            raise ValueError(
                f"pair ({a},{b}) has {len(m)} examples, fewer than the requested "
                f"{n_train} train + {n_valid} valid + {n_test} test; lower the sizes or pass "
                "n_train=None to use all that remain"
            )

    tasks = []
    for (a, b), m in members:
        split_rng, proj_rng, order_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence([seed, a, b]).spawn(3)
        )
        labels = (y[m] == b).astype(np.float64)
        train, valid, test = _stratified_split(labels, (n_train, n_valid, n_test), split_rng)
        z = project(np.asarray(x[m], dtype=np.float64), train, dim, proj_rng)
        tasks.append(
            Task.from_split(
                z,
                labels,
                (train, valid, test),
                classification=True,
                epochs=epochs,
                order_rng=order_rng,
                name=f"{name}({a},{b})",
            )
        )
    return TaskSet.of(tasks)


def member_seed(pool_seed: int, k: int) -> int:
    """The seed of projection ``k`` of a task pool fixed by ``pool_seed``."""
    return int(np.random.SeedSequence([pool_seed, k]).generate_state(1)[0])


def draw_members(n_groups: int, projections: int, n_tasks: int, draw_seed: int) -> np.ndarray:
    """``n_tasks`` distinct members of a pool of ``n_groups x projections`` tasks, drawn with
    ``draw_seed``; member ``i`` is group ``i % n_groups`` under projection ``i // n_groups``."""
    size = n_groups * projections
    if not 1 <= n_tasks <= size:
        raise ValueError(f"cannot draw {n_tasks} tasks from a pool of {size}")
    return np.random.default_rng(draw_seed).choice(size, size=n_tasks, replace=False)


def pooled_binary_tasks(
    x: np.ndarray | UnitRows,
    y: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    projections: int,
    n_tasks: int,
    pool_seed: int,
    draw_seed: int,
    dim: int = 16,
    n_train: int | None = 8000,
    n_valid: int = 1000,
    n_test: int = 1000,
    epochs: int = 1,
    name: str = "",
) -> TaskSet:
    """``n_tasks`` distinct tasks drawn from the pool of every pair under ``projections``
    fixed random projections (Real et al. 2020, Sec. 4.2: 36 pairs x 100 projections).

    The pool is fixed by ``pool_seed``: member ``(pair, k)`` is the task
    :func:`projected_binary_tasks` builds for ``pair`` with seed ``member_seed(pool_seed, k)``
    (its projection, split and epoch order), whichever draw it is in. ``draw_seed`` chooses
    the members (:func:`draw_members`), e.g. a new one per experiment. Tasks are named
    ``f"{name}({a},{b})#k"``.
    """
    picks = draw_members(len(pairs), projections, n_tasks, draw_seed)
    tasks: list[Task] = []
    for i in picks:
        (a, b), k = pairs[i % len(pairs)], int(i // len(pairs))
        member = projected_binary_tasks(
            x, y, [(a, b)], dim, n_train, n_valid, n_test, member_seed(pool_seed, k), epochs, name
        )
        tasks.append(replace(member[0], name=f"{name}({a},{b})#{k}"))
    return TaskSet.of(tasks)
