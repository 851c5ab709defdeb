"""`primeval noisy-student` end to end on a tiny budget: --json, resume, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from primeval.cli import app

runner = CliRunner()
TINY = [
    "noisy-student",
    "--dataset",
    "digits",
    "--labels-per-class",
    "3",
    "--unlabeled",
    "150",
    "--teacher-steps",
    "4",
    "--student-steps",
    "4",
    "--seed",
    "2",
]


def test_json_prints_the_teacher_and_every_student_and_the_folder_holds_the_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, [*TINY, "--iterations", "2", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert [x["role"] for x in summary["iterations"]] == ["teacher", "student", "student"]
    for x in summary["iterations"]:
        assert 0.0 <= x["test_accuracy"] <= 1.0 and 0.0 <= x["corrupted_mean"] <= 1.0
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["seed"] == 2 and config["noise"] and config["balance"]
    assert (out / "report" / "index.html").is_file()
    # Resuming a finished run trains nothing and reports the same numbers.
    again = runner.invoke(app, ["noisy-student", "--resume", str(out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["iterations"] == summary["iterations"]


def test_ablation_flags_reach_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    flags = ["--no-noise", "--hard-labels", "--no-balance", "--confidence", "0.5"]
    r = runner.invoke(app, [*TINY, "--iterations", "1", "--out", str(out), "--quiet", *flags])
    assert r.exit_code == 0, r.output
    config = json.loads((out / "config.json").read_text())["config"]
    assert not config["noise"] and config["hard_labels"] and not config["balance"]
    assert config["confidence"] == 0.5
    student = json.loads((out / "iteration_1" / "result.json").read_text())
    assert not student["noised"] and student["model"]["dropout"] == 0.0
    assert student["pseudo"]["used"] == student["pseudo"]["kept"]


def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    cases = [
        (["--dataset", "imagenet"], "unknown data set"),
        (["--labels-per-class", "100000"], "smallest class has only"),
        (["--confidence", "2"], "confidence"),
    ]
    for extra, message in cases:
        r = runner.invoke(app, [*TINY, "--out", str(tmp_path / "x"), *extra])
        assert r.exit_code == 2 and message in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    r = runner.invoke(app, ["noisy-student", "--resume", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no such run folder" in r.output


def test_the_command_line_starts_without_importing_torch() -> None:
    code = "import sys, primeval.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
