"""The hand-written logistic regression matches scikit-learn on projected digits pairs."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from primeval.algorithms.baselines import logistic_regression
from primeval.algorithms.interpret.reference import ReferenceInterpreter
from primeval.algorithms.tasks import SELECTION_PAIRS, load_digits, projected_binary_tasks


def test_logistic_regression_is_within_two_points_of_sklearn() -> None:
    x, y = load_digits()
    tasks = projected_binary_tasks(
        x, y, SELECTION_PAIRS, dim=16, n_train=190, n_valid=100, n_test=50, seed=0, epochs=5
    )
    ours = ReferenceInterpreter().fitnesses(
        logistic_regression(lr=0.05), tasks, np.random.default_rng(0)
    )
    theirs = [
        LogisticRegression(max_iter=1000).fit(t.train_x, t.train_y).score(t.valid_x, t.valid_y)
        for t in tasks
    ]
    assert abs(float(np.mean(ours)) - float(np.mean(theirs))) <= 0.02
    assert float(np.mean(ours)) > 0.9
