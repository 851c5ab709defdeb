"""The reference interpreter: the executable specification of evaluation, in plain numpy.

It follows the AutoML-Zero evaluation protocol (Real et al. 2020, Sec. 4 and
the reference ``Executor``) step by step:

1. zero the memory and run Setup once;
2. for every training example, in the task's epoch order: ``v0 = x``, ``s0 = 0``,
   run Predict; for classification replace ``s1`` by ``sigmoid(s1)``; stop
   training if ``|y - s1|`` is NaN or above ``max_abs_error``; then ``v0 = x``,
   ``s0 = y``, run Learn;
3. after each epoch validate (Predict only, ``s0 = 0``) and keep the best
   validation fitness; a failure in the first epoch gives fitness 0, a later
   one ends training with the best fitness so far;
4. regression fitness is ``1 - (2/pi) atan(rmse)``; classification fitness is
   the accuracy of ``sigmoid(s1) > 0.5``. Anything non-finite gives 0.

Multi-class tasks (``Task.n_classes`` above 2; Sec. 4.3) read the label as a one-hot vector
``v1`` and predict a vector ``v2`` (:mod:`primeval.algorithms.memory`): after Predict in
training ``v2[:C]`` becomes its softmax and the error is ``|1 - p_label|``, which is
``|y - sigmoid(s1)|`` for two classes; validation counts the first largest ``v2[:C]`` entry
that is not the label's as an error.

Fast interpreters must agree with this one (see ``tests/test_interpreters.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from primeval.algorithms.memory import FEATURES, LABEL, LABELS, PREDICTION, PREDICTIONS
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import Task, TaskSet

MAX_ABS_ERROR = 100.0
_TWO_OVER_PI = 2.0 / np.pi


def sigmoid(x: float) -> float:
    with np.errstate(all="ignore"):
        return float(1.0 / (1.0 + np.exp(-x)))


def squash_rmse(rmse: float) -> float:
    """Map an RMS error in [0, inf] to a fitness in [0, 1] (1 is perfect)."""
    if not np.isfinite(rmse):
        return 0.0
    return float(1.0 - _TWO_OVER_PI * np.arctan(rmse))


def softmax_error(p: np.ndarray, classes: int, label: int) -> float:
    """Replace ``p[:classes]`` by its softmax (the largest entry subtracted first, sums in
    index order); return ``|1 - p[label]|``."""
    top = p[0]
    for j in range(1, classes):
        if p[j] > top:
            top = p[j]
    total = 0.0
    for j in range(classes):
        p[j] = np.exp(p[j] - top)
        total += p[j]
    for j in range(classes):
        p[j] = p[j] / total
    return float(abs(1.0 - p[label]))


def argmax_error(p: np.ndarray, classes: int, label: int) -> float:
    """0 if the first largest of ``p[:classes]`` is ``p[label]``, else 1 (NaN is never largest,
    unless first)."""
    best = 0
    for j in range(1, classes):
        if p[j] > p[best]:
            best = j
    return 0.0 if best == label else 1.0


@dataclass(frozen=True)
class RunResult:
    """The outcome of training and validating one program on one task."""

    fitness: float
    train_steps: int
    train_errors: np.ndarray  # |y - s1| per training step of the first epoch (if recorded)
    valid_errors: np.ndarray  # per validation example of the first epoch (if recorded)


class Decoded:
    """A program's kernels and arguments, decoded once per run."""

    def __init__(self, program: Program) -> None:
        self.fns = []
        for fn in program.functions:
            self.fns.append(
                [
                    (REGISTRY[int(op)].kernel, int(a[0]), int(a[1]), int(a[2]), d)
                    for op, a, d in zip(fn.ops, fn.args, fn.data, strict=True)
                ]
            )

    def execute(
        self, component: int, s: np.ndarray, v: np.ndarray, m: np.ndarray, rng: np.random.Generator
    ) -> None:
        for kernel, a, b, o, d in self.fns[component]:
            kernel(s, v, m, a, b, o, d, rng)


def run_task(
    program: Program,
    task: Task,
    rng: np.random.Generator,
    n_train: int | None = None,
    n_valid: int | None = None,
    record_errors: bool = False,
    max_abs_error: float = MAX_ABS_ERROR,
) -> RunResult:
    """Train ``program`` on ``task`` and return its best validation fitness.

    ``n_train`` caps the training steps over all epochs (default: every epoch
    in full); ``n_valid`` caps the validation examples (default: all).
    """
    with np.errstate(all="ignore"):
        return _run(program, task, rng, n_train, n_valid, record_errors, max_abs_error)


def _run(
    program: Program,
    task: Task,
    rng: np.random.Generator,
    n_train: int | None,
    n_valid: int | None,
    record: bool,
    max_abs_error: float,
) -> RunResult:
    if (n_train is not None and n_train < 0) or (n_valid is not None and n_valid < 0):
        raise ValueError("n_train and n_valid must be >= 0")
    code = Decoded(program)
    s, v, m = program.banks.zeros(task.dim)
    code.execute(0, s, v, m, rng)

    order = task.order
    assert order is not None
    total = len(order) if n_train is None else min(n_train, len(order))
    per_epoch = min(task.n_train, total)
    nv = task.n_valid if n_valid is None else min(n_valid, task.n_valid)
    train_errors: list[float] = []
    valid_errors: list[float] = []

    multi = task.classes > 2
    best = 0.0
    step = 0
    first_epoch = True
    while step < total:
        stop = min(step + per_epoch, total)
        ok = True
        while step < stop:
            i = order[step]
            x = task.train_x[i]
            y = float(task.train_y[i])
            v[FEATURES] = x
            s[LABEL] = 0.0
            if multi:
                v[LABELS] = 0.0
            code.execute(1, s, v, m, rng)
            if multi:
                err = softmax_error(v[PREDICTIONS], task.n_classes, int(y))
            else:
                if task.classification:
                    s[PREDICTION] = sigmoid(s[PREDICTION])
                err = abs(y - s[PREDICTION])
            if np.isnan(err) or err > max_abs_error:
                ok = False
                break
            if record and first_epoch:
                train_errors.append(err)
            v[FEATURES] = x
            if multi:
                v[LABELS] = 0.0
                v[LABELS, int(y)] = 1.0
            else:
                s[LABEL] = y
            code.execute(2, s, v, m, rng)
            step += 1
        if not ok:
            if first_epoch:
                best = 0.0
            break
        fitness = _validate(
            code,
            task,
            nv,
            s,
            v,
            m,
            rng,
            max_abs_error,
            valid_errors if (record and first_epoch) else None,
        )
        best = max(best, fitness)
        first_epoch = False
    return RunResult(best, step, np.asarray(train_errors), np.asarray(valid_errors))


def _validate(
    code: Decoded,
    task: Task,
    nv: int,
    s: np.ndarray,
    v: np.ndarray,
    m: np.ndarray,
    rng: np.random.Generator,
    max_abs_error: float,
    errors: list[float] | None,
) -> float:
    loss = 0.0
    for i in range(nv):
        v[FEATURES] = task.valid_x[i]
        s[LABEL] = 0.0
        if task.classes > 2:
            v[LABELS] = 0.0
        code.execute(1, s, v, m, rng)
        y = float(task.valid_y[i])
        if task.classes > 2:
            error = argmax_error(v[PREDICTIONS], task.n_classes, int(y))
        elif task.classification:
            p = sigmoid(s[PREDICTION])
            # As in the reference, a NaN probability compares False both ways and
            # so counts as predicting class 0.
            error = 0.0 if ((y > 0.5) == (p > 0.5)) else 1.0
        else:
            error = y - s[PREDICTION]
        a = abs(error)
        if np.isnan(a) or a > max_abs_error:
            return 0.0
        if errors is not None:
            errors.append(a)
        loss += error * error if not task.classification else error
    if nv == 0:
        return 0.0
    if task.classification:
        return 1.0 - loss / nv
    return squash_rmse(float(np.sqrt(loss / nv)))


def combine(fitnesses: np.ndarray, mode: str) -> float:
    """Combine per-task fitnesses: ``"mean"`` or ``"median"`` (the reference's upper median)."""
    f = np.asarray(fitnesses, dtype=np.float64)
    if mode == "mean":
        return float(f.mean())
    if mode == "median":
        return float(np.sort(f)[len(f) // 2])
    raise ValueError(f"unknown fitness combination {mode!r}")


class ReferenceInterpreter:
    """Evaluates programs with :func:`run_task`, one task at a time."""

    name = "reference"

    def fitnesses(
        self,
        program: Program,
        tasks: TaskSet,
        rng: np.random.Generator,
        n_train: int | None = None,
        n_valid: int | None = None,
    ) -> np.ndarray:
        return np.array(
            [run_task(program, t, rng, n_train, n_valid).fitness for t in tasks], dtype=np.float64
        )

    def probe(
        self, program: Program, tasks: TaskSet, n_train: int, n_valid: int, seed: int
    ) -> np.ndarray:
        """Errors of a short run on every task, for functional equivalence checking.

        Returns ``(tasks, n_train + n_valid)``: the absolute training errors of the
        first ``n_train`` steps then the validation errors of the first ``n_valid``
        examples; entries not reached (training stopped early) are NaN. Every task's
        run starts from a generator seeded with ``seed``, so stochastic ops probe
        deterministically.
        """
        out = np.full((len(tasks), n_train + n_valid), np.nan)
        for k, t in enumerate(tasks):
            r = run_task(
                program, t, np.random.default_rng(seed), n_train, n_valid, record_errors=True
            )
            out[k, : len(r.train_errors)] = r.train_errors
            out[k, n_train : n_train + len(r.valid_errors)] = r.valid_errors
        return out
