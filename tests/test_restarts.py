"""Restarts from the best: each experiment after the first starts its population from the
algorithm selected so far (``select.restart_from_best``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from primeval.algorithms.baselines import linear_regression_sgd
from primeval.algorithms.config import ConfigError, parse_config
from primeval.algorithms.experiment import run_experiments
from primeval.algorithms.islands import AutomlIslands
from primeval.algorithms.program import program_to_json
from primeval.engine.runs import RunFolder

CONFIG: dict[str, Any] = {
    "seed": 4,
    "tasks": {"kind": "linear", "dim": 4, "n_tasks": 3, "n_train": 40, "n_valid": 20},
    "search": {"population": 50, "tournament": 5, "max_evals": 3000},
    "select": {
        "tasks": {"kind": "linear", "dim": 4, "n_tasks": 4, "n_train": 60, "n_valid": 20},
        "sufficient_fitness": None,
        "max_experiments": 3,
        "check_during_search": False,
    },
    "final": {"tasks": None},
}


def _chains(run: Path) -> dict[int, list[dict[str, Any]]]:
    out = {}
    for path in sorted((run / "lineage").glob("experiment_*.json")):
        saved = json.loads(path.read_text())
        out[saved["experiment"]] = saved["chain"]
    return out


def test_each_experiment_starts_from_the_algorithm_selected_so_far(tmp_path: Path) -> None:
    config = dict(CONFIG, select=dict(CONFIG["select"], restart_from_best=True))
    folder = RunFolder.create(tmp_path / "run")
    summary, _ = run_experiments(parse_config(config, "test"), folder)
    assert summary.experiments == 3
    chains = _chains(folder.path)
    assert set(chains) == {1, 2, 3}
    # Only each experiment's best is considered (no checks during search), so the
    # algorithm selected after experiment 1 is experiment 1's best.
    assert chains[2][0]["mutation"] == "initial"
    assert chains[2][0]["program"] == chains[1][-1]["program"]
    # Experiment 3 starts from whichever of the two did better on the select tasks.
    assert chains[3][0]["program"] in (chains[1][-1]["program"], chains[2][-1]["program"])


@pytest.mark.parametrize("interpreter", ["compiled", "reference"])
def test_an_island_of_a_restart_starts_from_copies_of_the_selected(interpreter: str) -> None:
    config = dict(CONFIG, interpreter=interpreter)
    config["select"] = dict(CONFIG["select"], restart_from_best=True)
    app = AutomlIslands(parse_config(config, "test"))
    assert app.payload(1, 0).start is None  # nothing selected yet: program.initial
    start = linear_regression_sgd()
    app.selected = lambda: start
    payload = app.payload(2, 0)
    assert payload.start == program_to_json(start)
    island = app.build(2, 0, payload)
    island.advance(1)
    assert island.best is not None and island.best.genome == start  # the first member


def test_without_restarts_each_experiment_starts_afresh(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path / "run")
    config = dict(CONFIG, select=dict(CONFIG["select"], max_experiments=2))
    run_experiments(parse_config(config, "test"), folder)
    chains = _chains(folder.path)
    assert chains[2][0]["program"] != chains[1][-1]["program"]


def test_random_search_cannot_restart_from_the_best() -> None:
    config = dict(CONFIG, search=dict(CONFIG["search"], strategy="random"))
    config["select"] = dict(CONFIG["select"], restart_from_best=True)
    with pytest.raises(ConfigError, match="cannot restart from the best"):
        parse_config(config, "test")
