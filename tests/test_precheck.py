"""The static pre-check: an algorithm whose Learn never reads the label, or whose
prediction never depends on the features, is rejected before evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.algorithms import baselines
from primeval.algorithms.baselines import function, instr
from primeval.algorithms.evaluate import AlgorithmEvaluator
from primeval.algorithms.interpret.reference import ReferenceInterpreter
from primeval.algorithms.memory import Banks
from primeval.algorithms.precheck import learns_from_data, problems
from primeval.algorithms.program import Program, load_program
from primeval.algorithms.tasks.synthetic import linear_regression_tasks
from primeval.cli import app

BANKS = Banks(4, 3, 1)
SHIPPED = Path(__file__).parent.parent / "src" / "primeval" / "configs"


def _sgd(label: int = 0, features: int = 0, rate: int = 2) -> Program:
    """SGD linear regression reading the label from ``s{label}`` and the features from
    ``v{features}`` in Predict; its learning rate in ``s{rate}``."""
    setup = function(instr("SCALAR_CONST_SET", out=rate, data=(0.01,)))
    predict = function(instr("VECTOR_INNER_PRODUCT", out=1, in1=features, in2=1))
    learn = function(
        instr("SCALAR_DIFF", out=3, in1=label, in2=1),
        instr("SCALAR_PRODUCT", out=3, in1=3, in2=rate),
        instr("SCALAR_VECTOR_PRODUCT", out=2, in1=3, in2=0),
        instr("VECTOR_SUM", out=1, in1=1, in2=2),
    )
    return Program(setup, predict, learn, BANKS)


@pytest.mark.parametrize("name", list(baselines.NAMED))
def test_the_hand_written_baselines_pass(name: str) -> None:
    assert problems(baselines.named(name)) == []


@pytest.mark.parametrize("banks", [Banks(10, 16, 4), Banks(8, 14, 3), Banks(5, 9, 2)])
def test_the_two_layer_net_passes_in_every_memory(banks: Banks) -> None:
    assert learns_from_data(baselines.two_layer_relu_net(banks))


def test_the_shipped_starting_algorithm_passes() -> None:
    assert learns_from_data(load_program(SHIPPED / "two_layer_relu_net_10_16_4.json"))


def test_a_learn_that_never_reads_the_label_is_rejected() -> None:
    # s2 (the learning rate) in place of the label: the update never sees y.
    assert problems(_sgd(label=2)) == ["Learn never reads the label"]


def test_a_label_read_whose_result_is_dead_is_rejected() -> None:
    program = _sgd()
    learn = function(
        instr("SCALAR_DIFF", out=3, in1=0, in2=1),  # y - p, overwritten below: dead
        instr("SCALAR_PRODUCT", out=3, in1=1, in2=2),
        instr("SCALAR_VECTOR_PRODUCT", out=2, in1=3, in2=0),
        instr("VECTOR_SUM", out=1, in1=1, in2=2),
    )
    setup, predict, _ = program.functions
    assert problems(Program(setup, predict, learn, BANKS)) == ["Learn never reads the label"]


def test_a_prediction_that_ignores_the_features_is_rejected() -> None:
    # v1 . v1 in Predict: the weights learn from x, but the prediction never sees the example.
    assert problems(_sgd(features=1)) == ["the prediction never depends on the features"]


def test_an_empty_program_fails_both_checks() -> None:
    assert len(problems(Program.empty(BANKS, (1, 1, 1)))) == 2


def test_the_evaluator_counts_rejections_and_scores_them_zero() -> None:
    tasks = linear_regression_tasks(2, 4, 20, 10, seed=1)
    rng = np.random.default_rng(0)
    evaluator = AlgorithmEvaluator(tasks, ReferenceInterpreter(), rng, precheck=True)
    assert evaluator.evaluate(_sgd(label=2)) == 0.0
    assert evaluator.evaluate(_sgd()) > 0.0
    assert evaluator.rejected == 1 and evaluator.stats()["rejected"] == 1.0
    off = AlgorithmEvaluator(tasks, ReferenceInterpreter(), rng)
    assert off.evaluate(_sgd(label=2)) > 0.0 and "rejected" not in off.stats()
    assert evaluator.full_evaluations == 1  # the rejected one never ran


RUN = """
name: checked
seed: 2
tasks: {kind: linear, dim: 4, n_tasks: 3, n_train: 50, n_valid: 20}
search: {population: 50, tournament: 5, max_evals: 1500, precheck: PRECHECK}
select:
  tasks: {kind: linear, dim: 4, n_tasks: 5, n_train: 200, n_valid: 50}
  sufficient_fitness: null
  max_experiments: 2
final: {tasks: null}
"""


@pytest.mark.parametrize("precheck", [True, False])
def test_a_run_counts_rejections_in_progress_and_summary(tmp_path: Path, precheck: bool) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(RUN.replace("PRECHECK", str(precheck).lower()))
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["search", str(config), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    ticks = [json.loads(x) for x in (out / "progress.jsonl").read_text().splitlines()]
    ticks = [t for t in ticks if "evaluations" in t and "event" not in t]
    if not precheck:
        assert "rejected" not in summary and not any("rejected" in t for t in ticks)
        return
    # Random programs of the demo's ops mostly never read the label: many are rejected.
    last = {t["experiment"]: t["rejected"] for t in ticks}
    assert set(last) == {1, 2}
    assert 0 < summary["rejected"] <= summary["evaluations"] == 3000
    assert summary["rejected"] >= max(last.values())
