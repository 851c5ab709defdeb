"""Tasks: the data an algorithm is trained and validated on.

A :class:`Task` holds one task's train / valid (and optional test) split and
the order in which training examples are visited over all epochs. A
:class:`TaskSet` is several tasks of equal shapes, which interpreters may stack
into ``(tasks, examples, F)`` arrays to evaluate a program on all of them at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np


def _ro(a: np.ndarray | None, dtype: type = np.float64) -> np.ndarray | None:
    if a is None:
        return None
    a = np.ascontiguousarray(a, dtype=dtype)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Task:
    """One task. ``order`` lists training-example indices for all epochs in sequence.

    ``n_classes`` above 2 (with ``classification``) makes it a multi-class task (Real et al.
    2020, Sec. 4.3): labels are class indices ``0..n_classes-1``, which the interpreters
    present to Learn as a one-hot vector and compare with a prediction vector
    (:mod:`primeval.algorithms.memory`).
    """

    train_x: np.ndarray
    train_y: np.ndarray
    valid_x: np.ndarray
    valid_y: np.ndarray
    classification: bool = False
    epochs: int = 1
    order: np.ndarray | None = None
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    name: str = ""
    n_classes: int = 2

    @classmethod
    def from_split(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        split: tuple[np.ndarray, np.ndarray, np.ndarray],
        *,
        classification: bool,
        epochs: int,
        order_rng: np.random.Generator,
        name: str,
        n_classes: int = 2,
    ) -> Task:
        """The task of examples ``x``, labels ``y`` split by the row indices ``(train, valid,
        test)`` (no test examples when ``test`` is empty), its training order drawn from
        ``order_rng`` (:func:`shuffled_order`)."""
        train, valid, test = split
        return cls(
            train_x=x[train],
            train_y=y[train],
            valid_x=x[valid],
            valid_y=y[valid],
            classification=classification,
            epochs=epochs,
            order=shuffled_order(len(train), epochs, order_rng),
            test_x=x[test] if len(test) else None,
            test_y=y[test] if len(test) else None,
            name=name,
            n_classes=n_classes,
        )

    def __post_init__(self) -> None:
        for name in ("train_x", "train_y", "valid_x", "valid_y", "test_x", "test_y"):
            object.__setattr__(self, name, _ro(getattr(self, name)))
        if self.train_x.ndim != 2 or self.valid_x.ndim != 2:
            raise ValueError("features must be 2-D (examples, F)")
        if len(self.train_x) != len(self.train_y) or len(self.valid_x) != len(self.valid_y):
            raise ValueError("features and labels differ in length")
        if self.epochs < 1:
            raise ValueError("epochs must be >= 1")
        if self.order is None:
            order = np.tile(np.arange(len(self.train_x)), self.epochs)
        else:
            order = np.asarray(self.order)
            if len(order) != self.epochs * len(self.train_x):
                raise ValueError("order must list epochs * n_train indices")
            if len(order) and (order.min() < 0 or order.max() >= len(self.train_x)):
                raise ValueError("order holds an index outside the training examples")
        object.__setattr__(self, "order", _ro(order, np.int64))
        if self.n_classes > 2:
            self._check_classes()

    def _check_classes(self) -> None:
        if not self.classification:
            raise ValueError("n_classes > 2 is for classification tasks")
        if self.dim < self.n_classes:
            raise ValueError(f"{self.n_classes} classes need features of length >= that")
        for y in (self.train_y, self.valid_y, self.test_y):
            if y is None or not len(y):
                continue
            if not np.array_equal(y, np.floor(y)) or y.min() < 0 or y.max() >= self.n_classes:
                raise ValueError(f"labels must be class indices 0..{self.n_classes - 1}")

    @property
    def classes(self) -> int:
        """What the interpreters are told: 0 regression, 2 binary, more: that many classes."""
        return self.n_classes if self.classification else 0

    @property
    def dim(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def n_train(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def n_valid(self) -> int:
        return int(self.valid_x.shape[0])


def shuffled_order(n_train: int, epochs: int, rng: np.random.Generator) -> np.ndarray:
    """Epoch 1 in the given order, each later epoch a fresh permutation."""
    parts = [np.arange(n_train)] + [rng.permutation(n_train) for _ in range(epochs - 1)]
    return np.concatenate(parts)


@dataclass(frozen=True, eq=False)
class TaskSet:
    """Tasks of identical shapes, evaluated together; fitness combines over them."""

    tasks: tuple[Task, ...]
    _stacked: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        tasks = tuple(self.tasks)
        if not tasks:
            raise ValueError("a task set needs at least one task")
        t0 = tasks[0]
        for t in tasks[1:]:
            if (
                t.train_x.shape != t0.train_x.shape
                or t.valid_x.shape != t0.valid_x.shape
                or t.classification != t0.classification
                or t.epochs != t0.epochs
                or t.classes != t0.classes
            ):
                raise ValueError("all tasks in a set must share shapes, epochs and type")
        object.__setattr__(self, "tasks", tasks)

    @classmethod
    def of(cls, tasks: Sequence[Task]) -> TaskSet:
        return cls(tuple(tasks))

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __getitem__(self, i: int) -> Task:
        return self.tasks[i]

    def subset(self, indices: Sequence[int]) -> TaskSet:
        return TaskSet(tuple(self.tasks[i] for i in indices))

    @property
    def dim(self) -> int:
        return self.tasks[0].dim

    @property
    def classification(self) -> bool:
        return self.tasks[0].classification

    @property
    def classes(self) -> int:
        """0 regression, 2 binary classification, more: multi-class (see :class:`Task`)."""
        return self.tasks[0].classes

    def stacked(self) -> dict[str, np.ndarray]:
        """Arrays over all tasks: ``train_x (T, N, F)``, ``train_y (T, N)``, ``order (T, E*N)``,
        ``valid_x (T, Nv, F)``, ``valid_y (T, Nv)``."""
        if not self._stacked:
            names = ("train_x", "train_y", "valid_x", "valid_y", "order")
            for name in names:
                a = np.ascontiguousarray(np.stack([getattr(t, name) for t in self.tasks]))
                a.setflags(write=False)
                self._stacked[name] = a
            # The tasks then read views of the stacked arrays (the same values): a task set's
            # examples are held once, not twice.
            tasks = tuple(
                replace(t, **{name: self._stacked[name][k] for name in names})
                for k, t in enumerate(self.tasks)
            )
            object.__setattr__(self, "tasks", tasks)
        return self._stacked
