"""The shipped CIFAR-10 experiment end to end on a tiny synthetic file in the official
``cifar-10-batches-py`` format: task construction, a short search and test-split scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.algorithms.experiment import build_tasks
from primeval.algorithms.tasks import SELECTION_PAIRS
from primeval.cli import app
from primeval.config import dump_config, load_config, with_data_path

runner = CliRunner()


def tiny_config(tmp_path: Path) -> Path:
    """The shipped cifar10 config with its sizes cut to the tiny file (72 images a pair)."""
    sizes = {"n_train": 40, "n_valid": 16, "n_test": 16}
    changes: dict[str, object] = {
        "interpreter": "reference",
        "search.population": 20,
        "search.tournament": 5,
        "search.max_evals": 60,
        "tasks.n_tasks": 3,
    }
    for section in ("tasks", "select.tasks", "final.tasks"):
        changes.update({f"{section}.{k}": v for k, v in sizes.items()})
    p = tmp_path / "cifar10-tiny.yaml"
    p.write_text(dump_config(load_config("cifar10").with_overrides(**changes)))
    return p


def test_shipped_config_needs_the_local_files(tmp_path: Path) -> None:
    search = ["search", "cifar10", "--interpreter", "reference", "-q"]
    r = runner.invoke(app, [*search, "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "CIFAR-10 needs a path" in r.stderr
    r = runner.invoke(app, [*search, "--data-path", str(tmp_path), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "CIFAR-10 not found" in r.stderr


def test_missing_data_is_reported_before_compiling_or_a_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from primeval.algorithms import experiment

    def no_compiling() -> None:
        raise AssertionError("compiled before checking the data")

    monkeypatch.setattr(experiment, "compile_in_child", no_compiling)
    r = runner.invoke(app, ["search", "cifar10", "-q", "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "CIFAR-10 needs a path" in r.stderr
    assert not (tmp_path / "run").exists()


def test_data_path_reaches_every_projected_task_set(cifar_folder: Path) -> None:
    cfg = with_data_path(load_config("cifar10"), str(cifar_folder))
    assert cfg.tasks.path == cfg.select.tasks.path == str(cifar_folder)
    assert cfg.final.tasks is not None and cfg.final.tasks.path == str(cifar_folder)
    assert with_data_path(load_config("demo"), "x").tasks.path is None  # not projected


def test_tasks_from_the_tiny_file(tmp_path: Path, cifar_folder: Path) -> None:
    cfg = with_data_path(load_config(tiny_config(tmp_path)), str(cifar_folder))
    assert cfg.final.tasks is not None
    final = build_tasks(cfg.final.tasks.model_copy(update={"n_tasks": 18}), 0)
    assert len(final) == 18 and final.dim == 16
    assert {t.name.split("(")[1] for t in final} == {f"{a},{b})" for a, b in SELECTION_PAIRS}
    for t in final:
        assert t.test_x is not None and t.test_y is not None
        assert (t.n_train, t.n_valid, len(t.test_x)) == (40, 16, 16)
        assert t.train_y.mean() == 0.5 and np.allclose(t.train_x.mean(axis=0), 0.0)
    search = build_tasks(cfg.tasks, 0)
    held_out = {f"({a},{b})" for a, b in SELECTION_PAIRS}
    assert not any(t.name.removeprefix("cifar10") in held_out for t in search)


def test_search_then_score_on_test_splits(tmp_path: Path, cifar_folder: Path) -> None:
    config, out = tiny_config(tmp_path), tmp_path / "run"
    r = runner.invoke(
        app, ["search", str(config), "--data-path", str(cifar_folder), "--out", str(out), "-q"]
    )
    assert r.exit_code == 0, r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluations"] == 60 and 0.0 <= summary["final_fitness"] <= 1.0
    assert str(cifar_folder) in (out / "config.yaml").read_text()

    r = runner.invoke(
        app,
        [
            "evaluate",
            str(out),
            "baseline:logistic_regression",
            "-c",
            str(config),
            "--data-path",
            str(cifar_folder),
            "--split",
            "test",
            "--n-tasks",
            "18",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.stdout + r.stderr
    evolved, logistic = (json.loads(line) for line in r.stdout.splitlines())
    assert evolved["n_tasks"] == logistic["n_tasks"] == 18
    assert 0.0 <= evolved["mean"] <= 1.0
    assert logistic["mean"] > 0.8  # the classes' templates are linearly separable
