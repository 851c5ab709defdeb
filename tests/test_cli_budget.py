"""``--time-budget T`` alone: the run lasts T seconds unless it solves."""

from pathlib import Path

import yaml
from typer.testing import CliRunner

from primeval.cli import app
from primeval.cli.search import time_budget_overrides
from primeval.config import load_config


def test_a_time_budget_alone_lifts_the_evaluation_cap_of_a_one_experiment_config() -> None:
    digits = load_config("digits")
    assert digits.select.max_experiments == 1
    assert time_budget_overrides(digits, 60.0, None, None) == {"search.max_evals": None}


def test_a_config_that_repeats_experiments_keeps_repeating_until_the_time_is_up() -> None:
    demo = load_config("demo")
    assert demo.select.max_experiments == 0
    assert time_budget_overrides(demo, 60.0, None, None) == {}
    three = demo.with_overrides(**{"select.max_experiments": 3})
    assert time_budget_overrides(three, 60.0, None, None) == {"select.max_experiments": 0}


def test_max_evals_or_max_experiments_given_by_the_user_are_kept() -> None:
    digits = load_config("digits")
    assert time_budget_overrides(digits, 60.0, 5000, None) == {}
    assert time_budget_overrides(digits, 60.0, None, 2) == {}
    assert time_budget_overrides(digits, None, None, None) == {}


def test_the_run_folder_records_the_lifted_cap(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "search",
            "digits",
            "--interpreter",
            "reference",
            "--time-budget",
            "1",
            "-q",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["search"]["max_evals"] is None
    assert resolved["search"]["time_budget"] == 1.0
