"""The demo rediscovers linear regression trained by gradient descent (Real et al. 2020,
Sec. 4.1 and Fig. 6), a known answer planted in its tasks: every task is a linear teacher
``y = w . x`` with its own ``w``, and only an algorithm that learns ``w`` from the task's
examples solves them all.

A fixed seed must solve within one experiment, and the selected algorithm must show the
gradient step: the detectors find a linear model, a learning rate and the update
``w += rate * (y - p) * x``, and ``primeval show`` prints the instructions they name. The
control: the same search without vector addition (no way to accumulate weights) cannot
solve, and the same assertions fail on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from primeval.algorithms.config import load_config
from primeval.algorithms.detectors import detect
from primeval.algorithms.printing import python_line
from primeval.algorithms.program import Component, program_from_json
from primeval.cli import app

runner = CliRunner()
SGD = {"linear_model", "learning_rate", "gradient_update"}
BUDGET = ["--max-evals", "300000", "--max-experiments", "1", "-q"]


def search(tmp_path: Path, config: str, seed: int) -> tuple[dict[str, object], Path]:
    out = tmp_path / "run"
    r = runner.invoke(app, ["search", config, "--seed", str(seed), *BUDGET, "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    return json.loads((out / "summary.json").read_text()), out


def gradient_step_lines(run: Path) -> list[str]:
    """The printed instructions the detectors name as the gradient step of the selected
    algorithm, or an empty list when none is detected."""
    program = program_from_json(json.loads((run / "best.json").read_text()))
    found = {d.technique: d for d in detect(program)}
    if not set(found) >= SGD:
        return []
    return [
        python_line(list(program.function(Component(comp)))[index])
        for comp, index in found["gradient_update"].positions
    ]


@pytest.mark.slow
def test_the_demo_with_a_fixed_seed_finds_sgd_linear_regression(tmp_path: Path) -> None:
    summary, run = search(tmp_path, "demo", seed=7)
    assert summary["solved"] is True and summary["experiments"] == 1
    assert summary["select_fitness"] > 0.9999 and summary["final_fitness"] > 0.9999
    lines = gradient_step_lines(run)
    assert len(lines) >= 3  # error, its scaling of the input, the weight update
    shown = runner.invoke(app, ["show", str(run)])
    assert shown.exit_code == 0
    assert all(line in shown.stdout for line in lines), (lines, shown.stdout)


@pytest.mark.slow
def test_without_vector_addition_the_same_search_cannot_solve(tmp_path: Path) -> None:
    data = yaml.safe_load(load_config("demo").model_dump_json())
    data["program"]["ops"].remove("VECTOR_SUM")
    config = tmp_path / "no_vector_sum.yaml"
    config.write_text(yaml.safe_dump(data))
    summary, run = search(tmp_path, str(config), seed=7)
    assert summary["solved"] is False and summary["select_fitness"] < 0.9999
    assert gradient_step_lines(run) == []
