"""A program run in process on arrays: the twin of an exported module's class.

:class:`Machine` holds one algorithm's memory banks and generator and runs its
components with the reference interpreter's kernels
(:mod:`primeval.algorithms.interpret.reference`), following the AutoML-Zero
evaluation protocol (Real et al. 2020, Sec. 4) step for step: ``fit`` is the
interpreter's training loop (sigmoid for classification, early stop when
``|y - s1|`` is NaN or above 100, validation after every epoch when asked) and
``predict_batch`` its validation loop. :func:`primeval.export.export_python`
writes the same class as standalone numpy; the two agree bit for bit
(``tests/test_export.py``).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from primeval.algorithms.interpret.reference import MAX_ABS_ERROR, Decoded, sigmoid
from primeval.algorithms.memory import FEATURES, LABEL, PREDICTION
from primeval.algorithms.program import (
    Component,
    Program,
    ProgramFormatError,
    load_program,
    program_from_json,
)

AlgorithmSource = Program | Mapping[str, Any] | str | os.PathLike[str]


def load_algorithm(source: AlgorithmSource) -> Program:
    """A program from a :class:`Program`, its JSON dict, a JSON string, a file or a run folder.

    A run folder gives its ``best.json``. Raises :class:`ProgramFormatError` (a
    ``ValueError``) naming what is wrong.
    """
    if isinstance(source, Program):
        source.validate()
        return source
    if isinstance(source, Mapping):
        return program_from_json(dict(source))
    if isinstance(source, str) and source.lstrip().startswith("{"):
        try:
            return program_from_json(json.loads(source))
        except json.JSONDecodeError as e:
            raise ProgramFormatError(f"not valid JSON ({e})") from None
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            from primeval.engine.runs import RunFolder

            path = RunFolder.open(path).file(RunFolder.BEST)
        return load_program(path)
    raise ProgramFormatError(
        f"an algorithm must be a Program, a JSON dict, or a path, not {type(source).__name__}"
    )


class Machine:
    """One algorithm's memory (``s``, ``v``, ``m``) and generator, for features of length ``dim``.

    Memory is laid out as in the reference interpreter: ``s0`` the label (0 during
    Predict), ``s1`` the prediction, ``v0`` the features. ``rng`` is a
    ``numpy.random.Generator`` or a seed; random draws come from it in program order.
    """

    def __init__(self, program: Program, dim: int, rng: np.random.Generator | int | None = None):
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.program = program
        self.dim = int(dim)
        self.rng = np.random.default_rng(rng)
        self.s, self.v, self.m = program.banks.zeros(self.dim)
        self._code = Decoded(program)
        self._predict_draws = any(ins.op.stochastic for ins in program.predict)
        self.steps = 0
        self.stopped = False
        self.validation: list[np.ndarray] = []

    def _run(self, component: Component) -> None:
        with np.errstate(all="ignore"):
            self._code.execute(int(component), self.s, self.v, self.m, self.rng)

    def reset(self) -> None:
        """Zero the memory."""
        self.s[:] = 0.0
        self.v[:] = 0.0
        self.m[:] = 0.0

    def setup(self) -> None:
        self._run(Component.SETUP)

    def predict(self, x: np.ndarray) -> float:
        """``v0 = x``, ``s0 = 0``, run Predict; returns ``s1`` (raw, no sigmoid)."""
        self.v[FEATURES] = x
        self.s[LABEL] = 0.0
        self._run(Component.PREDICT)
        return float(self.s[PREDICTION])

    def learn(self, x: np.ndarray, y: float) -> None:
        """``v0 = x``, ``s0 = y``, run Learn."""
        self.v[FEATURES] = x
        self.s[LABEL] = y
        self._run(Component.LEARN)

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        epochs: int = 1,
        order: np.ndarray | None = None,
        classification: bool = False,
        X_valid: np.ndarray | None = None,
    ) -> Machine:
        """Zero the memory, run Setup, then train as the reference interpreter does.

        ``order`` lists training-example indices for all epochs in sequence (default:
        every epoch in the given order). With ``X_valid``, :meth:`predict_batch` runs on
        it after every completed epoch (kept in ``validation``), as the evaluator validates.
        Sets ``steps`` (Learn calls) and ``stopped`` (training ended early).
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n = len(X)
        idx = np.tile(np.arange(n), epochs) if order is None else np.asarray(order, np.int64)
        self.reset()
        self.steps = 0
        self.stopped = False
        self.validation = []
        self.setup()
        if n == 0:
            return self
        for start in range(0, len(idx), n):
            for i in idx[start : start + n]:
                x = X[i]
                target = float(y[i])
                self.predict(x)
                if classification:
                    self.s[PREDICTION] = sigmoid(self.s[PREDICTION])
                error = abs(target - self.s[PREDICTION])
                if np.isnan(error) or error > MAX_ABS_ERROR:
                    self.stopped = True
                    return self
                self.learn(x, target)
                self.steps += 1
            if X_valid is not None:
                self.validation.append(self.predict_batch(X_valid))
        return self

    def predict_batch(self, X: np.ndarray) -> np.ndarray:
        """``s1`` after Predict on each row, in order; memory Predict writes persists."""
        X = np.asarray(X, dtype=np.float64)
        return np.array([self.predict(x) for x in X], dtype=np.float64).reshape(len(X))

    def predict_each(self, X: np.ndarray) -> np.ndarray:
        """``s1`` after Predict on each row, every row from this machine's current state.

        Memory and generator are restored before each row, so a row's prediction does not
        depend on the other rows, and this machine is left unchanged.
        """
        X = np.asarray(X, dtype=np.float64)
        work = copy.deepcopy(self)
        state = self.rng.bit_generator.state
        out = np.empty(len(X), dtype=np.float64)
        for k, x in enumerate(X):
            work.s[:] = self.s
            work.v[:] = self.v
            work.m[:] = self.m
            if self._predict_draws:
                work.rng.bit_generator.state = state
            out[k] = work.predict(x)
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_code"]  # kernels are rebuilt from the program
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._code = Decoded(self.program)
