"""`primeval nas` end to end: the run folder, --json, a config file, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.cli import app
from primeval.nas.plots import SIZE

runner = CliRunner()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header; fails on anything that is not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_nas_json_prints_one_object_per_strategy_and_writes_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "nas",
            "--benchmark",
            "nb201",
            "--dataset",
            "cifar10",
            "--strategy",
            "evolution,random",
            "--strategy",
            "reinforce",
            "--runs",
            "8",
            "--budget-seconds",
            "12000",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["strategy"] for x in rows] == ["evolution", "random", "reinforce"]
    for x in rows:
        assert {"strategy", "dataset", "runs", "mean", "std"} <= set(x)
        assert x["dataset"] == "cifar10" and x["runs"] == 8 and 85 < x["mean"] <= 91.61
    names = {p.name for p in out.iterdir()}
    assert {
        "config.yaml",
        "summary.json",
        "progress.jsonl",
        "curves.npz",
        "comparison.png",
        "pareto.png",
        "pareto.json",
        "best.json",
    } <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget_seconds"] == 12000 and len(summary["strategies"]) == 3
    records = [json.loads(x) for x in (out / "progress.jsonl").read_text().splitlines()]
    ticks = [r for r in records if "event" not in r]
    assert [r["event"] for r in records if "event" in r] == ["workers_started", "finished"]
    assert len(ticks) == 24 and all(t["simulated_seconds"] <= 12000 for t in ticks)
    assert {"evaluations", "best_fitness", "final_accuracy", "arch", "run"} <= set(ticks[0])
    for name in ("comparison.png", "pareto.png"):
        assert png_size((out / name).read_bytes()) == SIZE, name
    assert not list(out.glob("*.svg"))
    best = json.loads((out / "best.json").read_text())
    assert best["arch"].startswith("|") and len(best["val_acc"]) in (2, 3)


def test_nas_from_a_config_file_with_the_latency_reward(tmp_path: Path) -> None:
    cfg = tmp_path / "nas.yaml"
    cfg.write_text(
        "dataset: cifar100\nstrategies: [evolution]\nruns: 6\nbudget_seconds: 20000\n"
        "objective: {kind: mnasnet, latency_target_ms: 14.0}\n"
    )
    out = tmp_path / "run"
    r = runner.invoke(app, ["nas", str(cfg), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "evolution" in r.stdout and "cifar100" in r.stdout
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["objective"] == {"objective": "mnasnet", "latency_target": 0.014, "weight": -0.07}
    entry = pareto["strategies"]["evolution"]
    assert 0.0 <= entry["picks_within_target"] <= 1.0 and entry["front"]
    assert png_size((out / "pareto.png").read_bytes()) == SIZE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "mnist"], "unknown NAS-Bench-201 data set"),
        (["--strategy", "annealing"], "unknown strategy"),
        (["--runs", "0"], "runs"),
        (["--budget-seconds", "-5"], "budget_seconds"),
        (["--benchmark", "nb101"], "benchmark"),
        (["--objective", "speed"], "objective.kind"),
        (["--budget-seconds", "1"], "buys no evaluation"),
        (["no-such.yaml"], "no such config file"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(
        app,
        ["nas", *args, "--runs", "2"] if "--runs" not in args else ["nas", *args],
        catch_exceptions=False,
    )
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # no run folder for bad input


def test_nas_never_overwrites_a_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    r = runner.invoke(app, ["nas", "--runs", "2", "--out", str(out)])
    assert r.exit_code == 2 and "never overwritten" in r.stderr
    assert (out / "summary.json").read_text() == "{}"


def test_the_figures_draw_one_line_and_one_set_of_picks_per_strategy() -> None:
    from matplotlib.collections import PathCollection

    from primeval.nas.config import NasConfig
    from primeval.nas.objective import MnasNetReward
    from primeval.nas.plots import figure_png
    from primeval.nas.report import comparison_figure, pareto_figure
    from primeval.nas.runner import run_strategy
    from primeval.nas.strategies import STRATEGIES
    from primeval.nas.table import load_table

    table = load_table("cifar10")
    names = ["evolution", "reinforce", "random"]
    results = [run_strategy(table, NasConfig(runs=4), name) for name in names]
    labels = [STRATEGIES[name].label for name in names]

    (ax,) = comparison_figure(results, table, 12000.0).axes
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("optimum")]
    assert [line.get_label().split(":")[0] for line in lines] == labels
    for line, r in zip(lines, results, strict=True):
        assert np.array_equal(line.get_xdata(), r.grid)
    assert len(ax.get_lines()) == len(names) + 1  # and the optimum

    fig = pareto_figure(results, table, MnasNetReward(0.014, -0.07))
    (ax,) = fig.axes
    picks = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [c.get_label().split(":")[0] for c in picks] == labels
    for c, r in zip(picks, results, strict=True):
        assert len(c.get_offsets()) == len(np.unique(r.final_cells))
    legend = ax.get_legend()
    assert legend is not None and "target 14.00 ms" in [t.get_text() for t in legend.get_texts()]
    assert png_size(figure_png(fig)) == SIZE
