"""Scoring algorithms on the test splits of held-out tasks, against tuned hand-written baselines.

Real et al. (2020), "AutoML-Zero: Evolving Machine Learning Algorithms From Scratch" (Sec. 4.2),
report the evolved algorithm's *test* accuracy on projected binary tasks of held-out class
pairs beside hand-designed logistic regression and a 2-layer ReLU net. Here:

- :func:`on_test_split` turns tasks into ones whose validation split is their test split, so
  any interpreter trains an algorithm on the training split with its own Learn and scores
  its predictions on the test split;
- :data:`BASELINES` names the hand-written algorithms of :mod:`.baselines` by their learning
  rate, and :func:`tune_learning_rate` picks that rate from :data:`LR_GRID` by the mean
  fitness on the *validation* split of the same tasks (never the test split);
- :func:`score` gives per-task fitness, mean, standard error and the combined fitness.

Every algorithm is run from a generator seeded with the same seed, so two algorithms are
compared on the same tasks and the same stream of random draws.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from primeval.algorithms.baselines import logistic_regression, two_layer_relu_net
from primeval.algorithms.evaluate import Interpreter
from primeval.algorithms.interpret.reference import combine
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import TaskSet

SPLITS = ("valid", "test")

LR_GRID: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
"""Learning rates tried for a baseline, chosen by mean validation fitness."""

BASELINE_PREFIX = "baseline:"

BASELINES: dict[str, Callable[[float], Program]] = {
    "logistic_regression": lambda lr: logistic_regression(lr=lr),
    "two_layer_relu_net": lambda lr: two_layer_relu_net(lr=lr),
}
"""Hand-written algorithms by name, each a function of its learning rate."""


def on_test_split(tasks: TaskSet) -> TaskSet:
    """The tasks with each validation split replaced by its test split.

    Training is unchanged; the interpreter's validation pass then predicts the test examples.
    Refuses tasks without a test split, and tasks of more than one epoch, because the
    interpreters keep the best fitness over the epochs, which on a test split would select
    the epoch by test accuracy.
    """
    out = []
    for t in tasks:
        if t.test_x is None or t.test_y is None:
            raise ValueError(f"task {t.name or '?'} has no test split (set n_test in the config)")
        if t.epochs != 1:
            raise ValueError(
                f"test-split scoring needs tasks of one epoch, not {t.epochs}: the interpreters "
                "keep the best epoch, which would be chosen by test accuracy"
            )
        out.append(
            dataclasses.replace(t, valid_x=t.test_x, valid_y=t.test_y, test_x=None, test_y=None)
        )
    return TaskSet.of(out)


def parse_baseline(text: str) -> tuple[str, float | None] | None:
    """``"baseline:NAME"`` (rate tuned) or ``"baseline:NAME@LR"``; None if not a baseline.

    Raises ``ValueError`` for an unknown name or a rate that is not a positive number.
    """
    if not text.startswith(BASELINE_PREFIX):
        return None
    name, _, rate = text[len(BASELINE_PREFIX) :].partition("@")
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    if not rate:
        return name, None
    try:
        lr = float(rate)
    except ValueError:
        raise ValueError(f"{text}: the learning rate after @ must be a number") from None
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"{text}: the learning rate must be positive")
    return name, lr


def tune_learning_rate(
    make: Callable[[float], Program],
    tasks: TaskSet,
    interpreter: Interpreter,
    seed: int,
    grid: tuple[float, ...] = LR_GRID,
) -> tuple[float, dict[float, float]]:
    """The rate of ``grid`` with the best mean validation fitness over ``tasks`` (the first
    on a tie), and the mean validation fitness of every rate."""
    if not grid:
        raise ValueError("the learning-rate grid is empty")
    valid = {
        lr: float(np.mean(interpreter.fitnesses(make(lr), tasks, np.random.default_rng(seed))))
        for lr in grid
    }
    best = max(grid, key=lambda lr: valid[lr])
    return best, valid


def stderr(values: np.ndarray) -> float:
    """Standard error of the mean (sample standard deviation over sqrt(n)); NaN below n = 2."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return math.nan
    return float(v.std(ddof=1) / math.sqrt(len(v)))


@dataclass(frozen=True)
class Score:
    """One algorithm's fitness on each task of a split, and its summaries."""

    algorithm: str
    split: str
    fitnesses: np.ndarray
    combine: str
    task_names: tuple[str, ...] = ()
    lr: float | None = None
    valid_by_lr: dict[float, float] | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.fitnesses))

    @property
    def stderr(self) -> float:
        return stderr(self.fitnesses)

    @property
    def combined(self) -> float:
        return combine(self.fitnesses, self.combine)

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return x if math.isfinite(x) else None

        out: dict[str, Any] = {
            "algorithm": self.algorithm,
            "split": self.split,
            "n_tasks": len(self.fitnesses),
            "fitness": self.combined,
            "combine": self.combine,
            "mean": self.mean,
            "stderr": num(self.stderr),
            "min": float(self.fitnesses.min()),
            "max": float(self.fitnesses.max()),
            "per_task": [float(f) for f in self.fitnesses],
            "task_names": list(self.task_names),
        }
        if self.lr is not None:
            out["lr"] = self.lr
        if self.valid_by_lr is not None:
            out["valid_by_lr"] = {f"{lr:g}": f for lr, f in self.valid_by_lr.items()}
        return out


def score(
    algorithm: str,
    program: Program | None,
    tasks: TaskSet,
    interpreter: Interpreter,
    seed: int,
    split: str = "valid",
    combine_mode: str = "mean",
    grid: tuple[float, ...] = LR_GRID,
) -> Score:
    """Score ``program`` (or, when None, the baseline ``algorithm`` names) on ``split``.

    A baseline without a rate (``baseline:NAME``) first has its rate tuned on the validation
    split of ``tasks`` (:func:`tune_learning_rate`). Each run draws from
    ``np.random.default_rng(seed)``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    lr: float | None = None
    valid_by_lr: dict[float, float] | None = None
    if program is None:
        parsed = parse_baseline(algorithm)
        if parsed is None:
            raise ValueError(f"{algorithm!r} is neither a program nor a baseline name")
        name, lr = parsed
        make = BASELINES[name]
        if lr is None:
            lr, valid_by_lr = tune_learning_rate(make, tasks, interpreter, seed, grid)
        program = make(lr)
    scored = on_test_split(tasks) if split == "test" else tasks
    fits = interpreter.fitnesses(program, scored, np.random.default_rng(seed))
    return Score(
        algorithm=algorithm,
        split=split,
        fitnesses=np.asarray(fits, dtype=np.float64),
        combine=combine_mode,
        task_names=tuple(t.name for t in tasks),
        lr=lr,
        valid_by_lr=valid_by_lr,
    )
