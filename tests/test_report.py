"""``primeval report``: the page, its plots, and clear errors on bad run folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from primeval.algorithms.baselines import linear_regression_sgd
from primeval.algorithms.config import parse_config
from primeval.algorithms.experiment import run_experiments
from primeval.algorithms.program import save_program
from primeval.algorithms.report import ReportError, write_report
from primeval.algorithms.report.html import experiment_ticks, fitness_figure
from primeval.engine.runs import RunFolder

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = parse_config(
        {
            "seed": 2,
            "tasks": {"kind": "linear", "dim": 4, "n_tasks": 4, "n_train": 40, "n_valid": 20},
            "search": {"population": 100, "tournament": 10, "max_evals": 60_000},
            "select": {
                "tasks": {"kind": "linear", "dim": 4, "n_tasks": 4, "n_train": 50, "n_valid": 20},
                "sufficient_fitness": None,
                "max_experiments": 2,
            },
            "final": {"tasks": None},
            "progress_every_seconds": 0.05,
        },
        "test",
    )
    folder = RunFolder.create(tmp_path_factory.mktemp("report") / "run")
    run_experiments(config, folder)
    return folder.path


def test_the_report_embeds_its_plots_and_the_algorithm(run: Path) -> None:
    page = write_report(run)
    assert page == run / "report.html"
    text = page.read_text()
    for name in ("fitness", "ancestry", "experiments"):
        data = (run / "report" / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000
    assert text.count("data:image/png;base64,") == 3  # self-contained
    assert "def predict():" in text and "def learn():" in text
    assert "Every experiment" in text and "2 experiments with a saved ancestry" in text
    chain = json.loads((run / "ancestry.json").read_text())["chain"]
    assert f"{len(chain)} ancestors" in text


def test_an_experiment_with_one_tick_is_its_own_group_and_is_drawn() -> None:
    ticks = [
        {"experiment": 1, "evaluations": n, "elapsed_seconds": n / 1e4, "best_fitness": 0.5}
        for n in (1000, 2000, 3000)
    ]
    ticks.append({"experiment": 2, "evaluations": 3500, "elapsed_seconds": 0.4, "best_fitness": 1})
    groups = experiment_ticks(ticks)
    assert [(e, len(g)) for e, g in groups] == [(1, 3), (2, 1)]
    assert fitness_figure(ticks).startswith(PNG)


def test_the_report_lists_the_selected_algorithms_techniques(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    copy.mkdir()
    save_program(linear_regression_sgd(), copy / "best.json")
    text = write_report(copy).read_text()
    for technique in ("linear model", "learning rate", "gradient update"):
        assert f"<td>{technique}</td>" in text
    assert "learn[3]" in text  # the update's instruction


def test_a_report_of_a_run_without_lineage_says_so(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("best.json", "progress.jsonl", "config.yaml"):
        (copy / name).write_bytes((run / name).read_bytes())
    text = write_report(copy, tmp_path / "out.html").read_text()
    assert "No ancestry in this run folder" in text and "No summary" in text
    assert text.count("data:image/png;base64,") == 1


@pytest.mark.parametrize("case", ["missing", "no best", "corrupt ancestry"])
def test_bad_run_folders_give_one_line_errors(run: Path, tmp_path: Path, case: str) -> None:
    target = tmp_path / "run"
    if case != "missing":
        target.mkdir()
        if case == "corrupt ancestry":
            (target / "best.json").write_bytes((run / "best.json").read_bytes())
            (target / "ancestry.json").write_text('{"chain": [{"id": 1}]}')
    with pytest.raises(ReportError):
        write_report(target)
    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "report", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert not (target / "report.html").exists()
