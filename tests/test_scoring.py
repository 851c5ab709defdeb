"""Scoring on the test splits of held-out pairs: the split really is the test split, baselines
are tuned on the validation split only, and repeated pairs get fresh projections."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.algorithms.baselines import logistic_regression
from primeval.algorithms.config import TaskConfig
from primeval.algorithms.experiment import build_tasks
from primeval.algorithms.interpret.reference import ReferenceInterpreter
from primeval.algorithms.program import save_program
from primeval.algorithms.scoring import (
    LR_GRID,
    on_test_split,
    parse_baseline,
    score,
    stderr,
    tune_learning_rate,
)
from primeval.algorithms.tasks import SELECTION_PAIRS, TaskSet
from primeval.cli import app

DIGITS = TaskConfig(
    kind="projected",
    dataset="digits",
    pairs="selection",
    dim=16,
    n_tasks=9,
    n_train=120,
    n_valid=60,
    n_test=60,
    seed=5,
)
interp = ReferenceInterpreter()


@pytest.fixture(scope="module")
def tasks() -> TaskSet:
    return build_tasks(DIGITS, 0)


def flipped_test(tasks: TaskSet) -> TaskSet:
    return TaskSet.of([dataclasses.replace(t, test_y=1.0 - np.asarray(t.test_y)) for t in tasks])


def test_test_split_replaces_validation_only(tasks: TaskSet) -> None:
    t, u = tasks[0], on_test_split(tasks)[0]
    np.testing.assert_array_equal(u.valid_x, t.test_x)
    np.testing.assert_array_equal(u.valid_y, t.test_y)
    np.testing.assert_array_equal(u.train_x, t.train_x)
    np.testing.assert_array_equal(u.order, t.order)
    assert not np.array_equal(t.valid_x, t.test_x)


def test_test_split_refuses_missing_splits_and_several_epochs(tasks: TaskSet) -> None:
    no_test = TaskSet.of([dataclasses.replace(t, test_x=None, test_y=None) for t in tasks])
    with pytest.raises(ValueError, match="no test split"):
        on_test_split(no_test)
    two = build_tasks(DIGITS.model_copy(update={"epochs": 2}), 0)
    with pytest.raises(ValueError, match="one epoch"):
        on_test_split(two)


def test_repeated_pairs_get_new_projections() -> None:
    one = build_tasks(DIGITS, 0)
    three = build_tasks(DIGITS.model_copy(update={"n_tasks": 27}), 0)
    assert len(three) == 27
    for a, b in zip(one, three.tasks[:9], strict=True):  # the first cycle is unchanged
        np.testing.assert_array_equal(a.train_x, b.train_x)
        assert a.name == b.name
    pairs = [t.name.split("(")[1] for t in three]
    assert all(pairs.count(p) == 3 for p in pairs)
    assert {t.name.split("(")[0] for t in three} == {"digits", "digits#1", "digits#2"}
    firsts = {t.train_x[:3].tobytes() for t in three}
    assert len(firsts) == 27  # every task its own projection and split
    assert {p for p in pairs} == {f"{a},{b})" for a, b in SELECTION_PAIRS}


def test_parse_baseline() -> None:
    assert parse_baseline("runs/x") is None
    assert parse_baseline("baseline:logistic_regression") == ("logistic_regression", None)
    assert parse_baseline("baseline:two_layer_relu_net@0.03") == ("two_layer_relu_net", 0.03)
    for bad, message in (
        ("baseline:svm", "unknown baseline"),
        ("baseline:logistic_regression@fast", "must be a number"),
        ("baseline:logistic_regression@-1", "positive"),
        ("baseline:logistic_regression@nan", "positive"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_baseline(bad)


def test_stderr() -> None:
    assert stderr(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert math.isnan(stderr(np.array([0.5])))


def test_logistic_regression_scores_on_the_test_split(tasks: TaskSet) -> None:
    s = score("baseline:logistic_regression@0.1", None, tasks, interp, 0, "test")
    assert s.lr == 0.1 and s.valid_by_lr is None and len(s.fitnesses) == 9
    assert s.mean > 0.9  # held-out digit pairs are easy, at F = 16
    flipped = score(
        "baseline:logistic_regression@0.1", None, flipped_test(tasks), interp, 0, "test"
    )
    np.testing.assert_allclose(flipped.fitnesses, 1.0 - s.fitnesses)
    valid = score("baseline:logistic_regression@0.1", None, tasks, interp, 0, "valid")
    assert not np.array_equal(valid.fitnesses, s.fitnesses)
    program = score("mine", logistic_regression(lr=0.1), tasks, interp, 0, "test")
    np.testing.assert_array_equal(program.fitnesses, s.fitnesses)


def test_tuning_uses_the_validation_split_only(tasks: TaskSet) -> None:
    grid = (1e-7, 0.1)
    lr, valid = tune_learning_rate(lambda r: logistic_regression(lr=r), tasks, interp, 0, grid)
    assert lr == 0.1 and valid[0.1] > valid[1e-7]
    direct = interp.fitnesses(logistic_regression(lr=0.1), tasks, np.random.default_rng(0))
    assert valid[0.1] == pytest.approx(float(direct.mean()))
    a = score("baseline:logistic_regression", None, tasks, interp, 0, "test", grid=grid)
    b = score(
        "baseline:logistic_regression", None, flipped_test(tasks), interp, 0, "test", grid=grid
    )
    assert a.lr == b.lr == 0.1 and a.valid_by_lr == b.valid_by_lr
    assert a.mean > 0.9 > b.mean


def test_evaluate_cli_compares_programs_and_baselines(tmp_path: Path) -> None:
    algo = tmp_path / "lr.json"
    save_program(logistic_regression(lr=0.03), algo)
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(algo),
            "baseline:logistic_regression",
            "baseline:two_layer_relu_net@0.03",
            "-c",
            "digits",
            "--interpreter",
            "reference",
            "--split",
            "test",
            "--n-tasks",
            "11",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["algorithm"] for x in rows] == [
        str(algo),
        "baseline:logistic_regression",
        "baseline:two_layer_relu_net@0.03",
    ]
    for x in rows:
        assert x["split"] == "test" and x["n_tasks"] == len(x["per_task"]) == 11
        assert x["mean"] == pytest.approx(np.mean(x["per_task"]))
        assert x["stderr"] == pytest.approx(np.std(x["per_task"], ddof=1) / math.sqrt(11))
    assert "lr" not in rows[0]
    assert rows[1]["lr"] in LR_GRID and len(rows[1]["valid_by_lr"]) == len(LR_GRID)
    assert rows[2]["lr"] == 0.03 and "valid_by_lr" not in rows[2]
    if rows[1]["lr"] == 0.03:
        assert rows[1]["per_task"] == rows[0]["per_task"]

    cfg = ["-c", "digits", "--interpreter", "reference"]
    text = CliRunner().invoke(app, ["evaluate", "baseline:logistic_regression@0.1", *cfg])
    assert text.exit_code == 0 and "valid split" in text.stdout and "+-" in text.stdout
    for args, message in (
        (["baseline:nope"], "unknown baseline"),
        (["baseline:logistic_regression", "--split", "train"], "--split must be"),
        (["baseline:logistic_regression", "--n-tasks", "0"], "--n-tasks must be"),
    ):
        bad = CliRunner().invoke(app, ["evaluate", *args, *cfg])
        assert bad.exit_code == 2 and message in bad.stderr
