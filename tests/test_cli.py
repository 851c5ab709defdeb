"""The command line end to end: search writes a run folder; show and evaluate read it;
bad input gives one clear line and a non-zero exit, and never touches earlier results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from primeval.algorithms.baselines import linear_regression_sgd
from primeval.algorithms.program import save_program
from primeval.cli import app

SMALL = """
name: small
seed: 1
interpreter: reference
tasks: {kind: linear, dim: 4, n_tasks: 3, n_train: 50, n_valid: 20}
search: {population: 30, tournament: 5, max_evals: 150}
select:
  tasks: {kind: linear, dim: 4, n_tasks: 5, n_train: 200, n_valid: 50}
  max_experiments: 1
final:
  tasks: {kind: linear, dim: 4, n_tasks: 5, n_train: 200, n_valid: 50, seed: 99}
"""

runner = CliRunner()


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    return p


def test_search_end_to_end_writes_a_run_folder(tmp_path: Path, small_config: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "search", str(small_config), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "select fitness" in proc.stdout and "def predict" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    for key in ("solved", "select_fitness", "final_fitness", "evaluations", "elapsed_seconds"):
        assert key in summary
    assert summary["evaluations"] == 150 and summary["solved"] is False
    assert 0.0 <= summary["select_fitness"] <= 1.0 and 0.0 <= summary["final_fitness"] <= 1.0
    records = [json.loads(x) for x in (out / "progress.jsonl").read_text().splitlines()]
    lines = [r for r in records if "event" not in r]  # ticks; events are workers_started ...
    assert lines and all(
        {"evaluations", "elapsed_seconds", "best_fitness"} <= set(x) for x in lines
    )
    assert lines[-1]["evaluations"] == 150
    best = json.loads((out / "best.json").read_text())
    assert best["format"] == "primeval.algorithm/1"
    assert "max_evals: 150" in (out / "config.yaml").read_text()

    shown = runner.invoke(app, ["show", str(out)])
    assert shown.exit_code == 0 and "def predict" in shown.stdout
    evaluated = runner.invoke(
        app,
        [
            "evaluate",
            str(out),
            "--config",
            str(small_config),
            "--json",
            "--interpreter",
            "reference",
        ],
    )
    assert evaluated.exit_code == 0, evaluated.stdout
    assert json.loads(evaluated.stdout)["fitness"] == pytest.approx(
        summary["final_fitness"], abs=0.3
    )


def test_evaluate_the_sgd_baseline_solves_the_demo_tasks(tmp_path: Path) -> None:
    algo = tmp_path / "sgd.json"
    save_program(linear_regression_sgd(), algo)
    r = runner.invoke(app, ["evaluate", str(algo), "--json", "--interpreter", "reference"])
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout)["fitness"] > 0.9999


def test_existing_results_are_never_overwritten(tmp_path: Path, small_config: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text('{"precious": true}')
    r = runner.invoke(app, ["search", str(small_config), "--out", str(out), "-q"])
    assert r.exit_code != 0
    assert "already exists" in r.stderr
    assert (out / "summary.json").read_text() == '{"precious": true}'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "{cfg}"], "search.populaton"),
        (["show", "{tmp}/missing"], "no such algorithm file"),
        (["show", "{algo}"], "unknown op 'FROBNICATE'"),
        (["evaluate", "{algo}"], "unknown op"),
        (["config", "{tmp}/nothing.yaml"], "no such config file"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(
    tmp_path: Path, args: list[str], message: str
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("search: {populaton: 10}\n")
    algo = tmp_path / "algo.json"
    algo.write_text(json.dumps({"setup": [{"op": "FROBNICATE", "out": 2}]}))
    filled = [a.format(cfg=cfg, tmp=tmp_path, algo=algo) for a in args]
    r = runner.invoke(app, filled)
    assert r.exit_code == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr + r.stdout


def test_search_with_the_compiled_interpreter(tmp_path: Path, small_config: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(
        app, ["search", str(small_config), "--interpreter", "compiled", "--out", str(out), "-q"]
    )
    assert r.exit_code == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interpreter"] == "compiled" and summary["evaluations"] == 150


def test_show_and_evaluate_name_baselines() -> None:
    shown = runner.invoke(app, ["show", "damaged_neural_net"])
    assert shown.exit_code == 0, shown.stderr
    assert "s[3] = 0.01" in shown.stdout and "rng.normal" not in shown.stdout
    r = runner.invoke(
        app,
        ["evaluate", "neural_net", "--config", "nonlinear", "--json", "--interpreter", "reference"],
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["n_tasks"] == 10 and json.loads(r.stdout)["fitness"] > 0.7


def test_setup_only_search_end_to_end(tmp_path: Path) -> None:
    """The shipped Setup-only config, shrunk: the best keeps the network's Predict and Learn."""
    from primeval.algorithms.baselines import damaged_neural_net
    from primeval.algorithms.program import load_program

    cfg = tmp_path / "setup.yaml"
    text = (Path(__file__).parents[1] / "src/primeval/configs/nonlinear_setup.yaml").read_text()
    cfg.write_text(
        text.replace("population: 1000", "population: 20")
        .replace("max_evals: 200000", "max_evals: 60")
        .replace("n_train: 1000", "n_train: 100")
        .replace("n_tasks: 10", "n_tasks: 2")
    )
    out = tmp_path / "run"
    r = runner.invoke(
        app, ["search", str(cfg), "--interpreter", "reference", "--out", str(out), "-q"]
    )
    assert r.exit_code == 0, r.stderr
    best = load_program(out / "best.json")
    assert best.predict == damaged_neural_net().predict
    assert best.learn == damaged_neural_net().learn
