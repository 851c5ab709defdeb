"""scikit-learn estimators that run an evolved algorithm: EvolvedRegressor, EvolvedClassifier.

An algorithm found by AutoML-Zero (Real et al. 2020, "AutoML-Zero: Evolving Machine
Learning Algorithms From Scratch", ICML) is a learning algorithm, not a model: ``fit``
runs its Setup and then its Predict / Learn over the training examples exactly as
primeval's evaluator trains it (:class:`primeval.export.Machine`, the reference
interpreter's kernels), and the memory it ends with is the fitted model.

- **Algorithm.** ``algorithm`` is a :class:`~primeval.algorithms.program.Program`, its
  JSON dict, or the path of a ``best.json`` or a run folder; ``None`` takes the
  hand-written algorithm AutoML-Zero rediscovers (linear regression by SGD; logistic
  regression by SGD for the classifier; :mod:`primeval.algorithms.baselines`).
- **Features.** An algorithm has no fixed feature count: its vectors have length F, the
  width of the data it is given, and index data scale with F. By default F is the number
  of columns of ``X``, so any width works. ``n_features=k`` instead projects ``X`` to k
  features with a seeded Gaussian matrix (entries ``N(0, 1/k)``) and standardizes them with
  training statistics, as the projected tasks do (Sec. 4.2); use it to run an algorithm at
  the F it was evolved for. ``standardize=True`` standardizes without projecting.
- **Training.** ``epochs`` passes; the first visits the rows in the given order, later
  ones in seeded permutations (:func:`~primeval.algorithms.tasks.base.shuffled_order`).
  As in the evaluator, training stops early when ``|y - s1|`` is NaN or above 100; the
  estimator then warns (``ConvergenceWarning``) and keeps the memory it reached.
- **Prediction.** Each row is predicted from the fitted memory and generator, restored
  before every row, so a prediction depends only on its row (scikit-learn's requirement;
  the evaluator's validation loop instead lets Predict's writes carry over between rows,
  which :meth:`primeval.export.Machine.predict_batch` reproduces).
- **Classes.** Binary: label 1 is ``classes_[1]``, the probability is ``sigmoid(s1)``, and
  a NaN prediction counts as class 0, as in the evaluator. More than two classes: one
  copy of the algorithm per class (one-vs-rest), probabilities normalised across classes.
- **Randomness.** ``random_state`` (an int, a ``numpy.random.Generator``, a
  ``RandomState`` or ``None``) seeds one generator that draws, in turn, the projection,
  the epoch orders, and one child generator per copy of the algorithm (``Generator.spawn``).

``import primeval`` does not import scikit-learn; this module does.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from primeval.algorithms.baselines import linear_regression_sgd, logistic_regression
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import shuffled_order
from primeval.export.machine import Machine, load_algorithm

__all__ = ["EvolvedClassifier", "EvolvedRegressor"]


def _generator(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"random_state must be an int, a numpy Generator or RandomState, or None; "
        f"got {random_state!r}"
    )


class _Evolved(BaseEstimator):  # type: ignore[misc]
    """What the regressor and classifier share: parameters, features, training."""

    _classification = False

    def __init__(
        self,
        algorithm: Program | dict[str, Any] | str | None = None,
        *,
        epochs: int = 1,
        n_features: int | None = None,
        standardize: bool = False,
        random_state: Any = None,
    ) -> None:
        self.algorithm = algorithm
        self.epochs = epochs
        self.n_features = n_features
        self.standardize = standardize
        self.random_state = random_state

    def _default_algorithm(self) -> Program:
        return linear_regression_sgd()

    def _check_params(self) -> Program:
        for name in ("epochs", "n_features"):
            value = getattr(self, name)
            if name == "n_features" and value is None:
                continue
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.algorithm is None:
            return self._default_algorithm()
        return load_algorithm(self.algorithm)

    def _fit_features(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Set the feature transform (``projection_``, ``mean_``, ``scale_``) and apply it."""
        self.projection_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        if self.n_features is not None:
            k = int(self.n_features)
            self.projection_ = rng.standard_normal((X.shape[1], k)) / np.sqrt(k)
            X = X @ self.projection_
        if self.n_features is not None or self.standardize:
            self.mean_ = X.mean(axis=0)
            scale = X.std(axis=0)
            scale[scale == 0.0] = 1.0
            self.scale_ = scale
        return self._features(X, project=False)

    def _features(self, X: np.ndarray, project: bool = True) -> np.ndarray:
        if project and self.projection_ is not None:
            X = X @ self.projection_
        if self.mean_ is not None and self.scale_ is not None:
            X = (X - self.mean_) / self.scale_
        return X

    def _train(self, X: np.ndarray, targets: list[np.ndarray]) -> None:
        """Fit one machine per target column on the (transformed) features."""
        program = self._check_params()
        rng = _generator(self.random_state)
        Z = self._fit_features(X, rng)
        order = shuffled_order(len(Z), int(self.epochs), rng)
        self.program_ = program
        self.dim_ = int(Z.shape[1])
        self.machines_ = []
        for target, child in zip(targets, rng.spawn(len(targets)), strict=True):
            machine = Machine(program, self.dim_, child)
            machine.fit(Z, target, int(self.epochs), order, classification=self._classification)
            if machine.stopped:
                warnings.warn(
                    f"training stopped early after {machine.steps} of {len(order)} steps: "
                    f"|y - prediction| was NaN or above {MAX_ABS_ERROR:g} (as in primeval's "
                    "evaluator); predictions come from the memory reached then",
                    ConvergenceWarning,
                    stacklevel=3,
                )
            self.machines_.append(machine)

    def _raw(self, X: Any) -> np.ndarray:
        """``s1`` per row and machine, ``(n, machines)``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Z = self._features(X)
        return np.stack([m.predict_each(Z) for m in self.machines_], axis=1)


class EvolvedRegressor(RegressorMixin, _Evolved):  # type: ignore[misc]
    """Regression with an evolved algorithm; the prediction is ``s1`` after Predict.

    Parameters: ``algorithm`` (Program, JSON dict, or path of a ``best.json`` / run
    folder; ``None``: linear regression by SGD), ``epochs`` (passes over the data),
    ``n_features`` (project to this many standardized features; ``None``: use ``X``
    as given), ``standardize`` (standardize ``X`` without projecting), ``random_state``.
    See the module docstring.

    Fitted attributes: ``program_``, ``machines_`` (one :class:`~primeval.export.Machine`
    holding the trained memory), ``dim_`` (F), ``projection_``, ``mean_``, ``scale_``,
    ``n_features_in_`` (and ``feature_names_in_`` for data frames).
    """

    def fit(self, X: Any, y: Any) -> EvolvedRegressor:
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        self._train(X, [np.asarray(y, dtype=np.float64)])
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self._raw(X)[:, 0]


class EvolvedClassifier(ClassifierMixin, _Evolved):  # type: ignore[misc]
    """Classification with an evolved algorithm; ``P(class 1) = sigmoid(s1)``.

    Parameters as for :class:`EvolvedRegressor` (``algorithm=None``: logistic regression
    by SGD). Two classes train one copy of the algorithm; more train one per class
    (one-vs-rest). Fitted attributes as for the regressor, plus ``classes_``.
    """

    _classification = True

    def _default_algorithm(self) -> Program:
        return logistic_regression()

    def fit(self, X: Any, y: Any) -> EvolvedClassifier:
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        if k < 2:
            raise ValueError(
                f"EvolvedClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_[0]!r})"
            )
        columns = [1] if k == 2 else list(range(k))
        self._train(X, [(index == c).astype(np.float64) for c in columns])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, classes)``; a NaN prediction gives class 0 (binary)
        or probability 0 (one-vs-rest; rows with no positive probability are uniform)."""
        with np.errstate(all="ignore"):
            p: np.ndarray = 1.0 / (1.0 + np.exp(-self._raw(X)))
        p[np.isnan(p)] = 0.0
        if p.shape[1] == 1:
            return np.hstack([1.0 - p, p])
        total = p.sum(axis=1, keepdims=True)
        uniform = np.full_like(p, 1.0 / p.shape[1])
        return np.where(total > 0.0, p / np.where(total > 0.0, total, 1.0), uniform)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        labels: np.ndarray = self.classes_[np.argmax(proba, axis=1)]
        return labels
