"""The user's own data as a task pool (``tasks: {kind: table, path, target}``): random
subsamples and projections of a CSV or NPZ table, regression or binary classification,
reproducible from the seed; a file that cannot be used is one line and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.algorithms.baselines import linear_regression_sgd, logistic_regression
from primeval.algorithms.builders import build_tasks
from primeval.algorithms.config import TaskConfig
from primeval.algorithms.interpret.reference import ReferenceInterpreter
from primeval.algorithms.tasks import TableError, load_table
from primeval.cli import app

runner = CliRunner()
REFERENCE = ReferenceInterpreter()


def write_csv(path: Path, header: list[str], rows: np.ndarray) -> Path:
    lines = [",".join(header)] + [",".join(f"{v:.17g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def linear_table(tmp_path: Path) -> Path:
    """y = 3 a - 2 b + 0.5 c + 10 over 600 rows (a planted linear answer)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 3))
    y = x @ np.array([3.0, -2.0, 0.5]) + 10.0
    return write_csv(tmp_path / "data.csv", ["a", "b", "c", "y"], np.column_stack([x, y]))


def table(path: Path, **fields: object) -> TaskConfig:
    base = {"kind": "table", "path": str(path), "target": "y", "dim": 4, "n_tasks": 3}
    return TaskConfig.model_validate(base | {"n_train": 300, "n_valid": 100} | fields)


def test_a_linear_target_makes_regression_tasks_that_sgd_solves(linear_table: Path) -> None:
    tasks = build_tasks(table(linear_table, epochs=5), seed=1)
    assert not tasks.classification and len(tasks) == 3 and tasks.dim == 4
    for t in tasks:
        assert abs(t.train_y.mean()) < 1e-9 and abs(t.train_y.std() - 1.0) < 1e-9
    fitness = REFERENCE.fitnesses(linear_regression_sgd(lr=0.1), tasks, np.random.default_rng(0))
    assert np.all(fitness > 0.99)  # the projection of 3 features to 4 keeps them all


def test_tasks_are_reproducible_from_the_seed_and_differ_between_seeds(linear_table: Path) -> None:
    a, b, c = (build_tasks(table(linear_table), seed) for seed in (1, 1, 2))
    assert all(np.array_equal(ta.train_x, tb.train_x) for ta, tb in zip(a, b, strict=True))
    assert not np.array_equal(a[0].train_x, c[0].train_x)
    pooled = table(linear_table, projections=4)
    draws = [sorted(t.name for t in build_tasks(pooled, s, pool_seed=9)) for s in (1, 2, 1)]
    assert draws[0] == draws[2]


def test_a_two_valued_target_makes_classification_tasks(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 5))
    label = np.where(x[:, 0] - x[:, 2] > 0, 7.0, 3.0)  # the larger value is class 1
    np.savez(tmp_path / "d.npz", x=x, label=label)
    tc = table(tmp_path / "d.npz", target="label", dim=8)
    tasks = build_tasks(tc, seed=3)
    assert tasks.classification
    assert set(np.unique(tasks[0].train_y)) == {0.0, 1.0}
    fitness = REFERENCE.fitnesses(logistic_regression(lr=0.1), tasks, np.random.default_rng(0))
    assert np.all(fitness >= 0.85) and fitness.mean() > 0.9
    x_cols, y = load_table(tmp_path / "d.npz", "label")
    assert x_cols.shape == (500, 5) and np.array_equal(y, label)
    regression = table(tmp_path / "d.npz", target="label", objective="regression")
    assert not build_tasks(regression, 3).classification


def test_table_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="need a path"):
        TaskConfig.model_validate({"kind": "table", "path": "x.csv"})
    with pytest.raises(ValueError, match="for tasks of kind table"):
        TaskConfig.model_validate({"kind": "linear", "target": "y"})


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        ("a,y\n1,2\n3,x\n", "y", "line 3, column 'y': 'x' is not a number"),
        ("a,y\n1,2\n3\n", "y", "line 3 has 1 fields, the header 2"),
        ("a,y\n1,2\n", "z", "no column 'z'; columns: a, y"),
        ("y\n1\n2\n", "y", "no feature column besides 'y'"),
        ("a,y\n1,nan\n", "y", "missing or non-finite"),
        ("a,y\n", "y", "needs a header row"),
    ],
)
def test_bad_csv_files_are_one_line_errors(
    tmp_path: Path, content: str, target: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(TableError, match=message):
        load_table(path, target)


def search_config(tmp_path: Path, data: Path, **task_fields: object) -> Path:
    tasks = {"kind": "table", "path": str(data), "target": "y", "dim": 4, "n_tasks": 2}
    tasks |= {"n_train": 100, "n_valid": 50} | task_fields
    config = {
        "name": "table",
        "interpreter": "reference",
        "tasks": tasks,
        "search": {"population": 20, "tournament": 4, "max_evals": 60},
        "fec": {"enabled": False},
        "select": {"tasks": {**tasks, "n_tasks": 2}, "max_experiments": 1},
        "final": {"tasks": {**tasks, "n_tasks": 2, "seed": 5}},
    }
    path = tmp_path / "table.yaml"
    path.write_text(json.dumps(config))
    return path


def test_search_on_a_table_runs_end_to_end(tmp_path: Path, linear_table: Path) -> None:
    out = tmp_path / "run"
    config = search_config(tmp_path, linear_table)
    r = runner.invoke(app, ["search", str(config), "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluations"] == 60 and 0.0 <= summary["final_fitness"] <= 1.0


@pytest.mark.parametrize(
    ("content", "fields", "message"),
    [
        (None, {}, "no such table file"),
        ("a,y\n1,2\n3,oops\n", {}, "'oops' is not a number"),
        ("a,b\n1,2\n", {}, "no column 'y'"),
        ("a,y\n" + "1,0\n2,1\n3,2\n" * 80, {"objective": "classification"}, "takes 2 values"),
        ("a,y\n" + "1,0\n" * 20, {}, "20 rows, fewer than n_train + n_valid + n_test = 150"),
        ("not a table", {"path_suffix": ".txt"}, "must be a .csv or .npz file"),
    ],
)
def test_bad_tables_give_one_line_and_a_nonzero_exit(
    tmp_path: Path, content: str | None, fields: dict[str, object], message: str
) -> None:
    data = tmp_path / f"data{fields.pop('path_suffix', '.csv')}"
    if content is not None:
        data.write_text(content)
    r = runner.invoke(app, ["search", str(search_config(tmp_path, data, **fields))])
    assert r.exit_code == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr + r.stdout


def test_a_missing_table_is_reported_when_tasks_are_built(tmp_path: Path) -> None:
    tc = table(tmp_path / "none.csv")  # the config is valid: files are read when tasks are built
    with pytest.raises(FileNotFoundError, match=r"none\.csv: no such table file"):
        build_tasks(tc, 0)
