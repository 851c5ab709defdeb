"""``primeval compare``: evolution against random search over seeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from primeval.algorithms.report.compare import summarize

TINY = {
    "name": "tiny",
    "tasks": {"kind": "linear", "dim": 2, "n_tasks": 3, "n_train": 20, "n_valid": 10},
    "search": {"population": 50, "tournament": 5},
    "select": {
        "tasks": {"kind": "linear", "dim": 2, "n_tasks": 3, "n_train": 20, "n_valid": 10},
        "sufficient_fitness": 0.3,
        "max_experiments": 0,
    },
    "final": {"tasks": None},
    "progress_every_seconds": 0.05,
}


def test_summarize_counts_successes_and_counts_censored_runs() -> None:
    def run(strategy: str, seed: int, solved: bool, evaluations: int) -> dict[str, object]:
        return {"strategy": strategy, "seed": seed, "solved": solved,
                "evaluations": evaluations, "elapsed_seconds": evaluations / 100}  # fmt: skip

    runs = [
        run("evolution", 0, True, 100),
        run("evolution", 1, True, 300),
        run("evolution", 2, False, 900),
        run("random", 0, True, 1000),
        run("random", 1, False, 900),
    ]
    s = summarize(runs)
    assert s["evolution"]["solved"] == 2 and s["evolution"]["success_rate"] == pytest.approx(2 / 3)
    assert s["evolution"]["median_evaluations_to_success"] == 200
    assert s["random"]["median_evaluations_to_success"] == 1000
    # Censored runs count: (100 + 300 + 900) / 2 for evolution, (1000 + 900) / 1 for random.
    assert s["evolution"]["expected_evaluations_to_success"] == pytest.approx(650)
    assert s["random"]["expected_evaluations_to_success"] == pytest.approx(1900)
    assert s["random_over_evolution"] == pytest.approx(1900 / 650)
    assert s["random_over_evolution_solved_medians"] == pytest.approx(5.0)
    assert "random_over_evolution" not in summarize(runs[:3])
    unsolved = summarize([*runs[:3], run("random", 0, False, 2600)])
    assert "random_over_evolution" not in unsolved
    assert unsolved["random_over_evolution_at_least"] == pytest.approx(4.0)


@pytest.mark.slow
def test_compare_runs_both_strategies_and_writes_the_comparison(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(json.dumps(TINY))
    out = tmp_path / "cmp"
    cmd = [sys.executable, "-m", "primeval.cli", "compare", str(config), "--seeds", "0-1"]
    cmd += ["--time-budget", "20", "--out", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["evolution"]["seeds"] == summary["random"]["seeds"] == 2
    saved = json.loads((out / "compare.json").read_text())
    assert {(r["strategy"], r["seed"]) for r in saved["runs"]} == {
        (s, k) for s in ("evolution", "random") for k in (0, 1)
    }
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")
    for strategy in ("evolution", "random"):
        run = out / strategy / "seed_1"
        assert (run / "summary.json").exists() and (run / "config.yaml").exists()
        assert f"strategy: {strategy}" in (run / "config.yaml").read_text()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "already exists" in again.stderr
