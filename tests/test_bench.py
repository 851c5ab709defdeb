"""``primeval bench``: search throughput per core, one fresh process per measurement."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.algorithms.memory import Banks
from primeval.algorithms.program import Program
from primeval.algorithms.tasks.base import Task, TaskSet
from primeval.algorithms.tasks.synthetic import linear_regression_tasks
from primeval.bench import (
    CONFIGS,
    Plan,
    Tally,
    bench_config,
    executed_instructions,
    search_counts,
)
from primeval.cli import app
from primeval.config import load_config
from primeval.engine.search import SearchProgress

runner = CliRunner()

FIELDS = {
    "config",
    "interpreter",
    "fec",
    "evaluations_per_s",
    "individuals_per_s",
    "instructions_per_s",
    "instructions_per_evaluation",
    "peak_rss_mb",
    "first_eval_s",
    "seconds",
}


def machine_mb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


@pytest.mark.slow
def test_bench_json_on_the_demo() -> None:
    r = runner.invoke(
        app,
        ["bench", "--config", "demo", "--seconds", "0.5", "--reference-seconds", "0.2", "--json"],
    )
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    seen = {(x["interpreter"], x["fec"]) for x in lines}
    assert seen == {
        ("compiled", True),
        ("compiled", False),
        ("reference", True),
        ("reference", False),
    }
    for x in lines:
        assert set(x) >= FIELDS, x
        assert x["config"] == "demo"
        assert x["evaluations_per_s"] > 0 and x["individuals_per_s"] > 0
        assert x["individuals_per_s"] >= x["evaluations_per_s"]
        # demo sizes 10 / 2 / 8 on 10 tasks of 100 + 100 examples: 12,100 at most (a search
        # that drops dead code before evaluating executes fewer)
        assert 0 < x["instructions_per_evaluation"] <= 12_100 and x["instructions_per_s"] > 0
        if x["interpreter"] == "reference":
            assert x["instructions_per_evaluation"] == 12_100
        # In MB, of the measuring process: more than an interpreter with numpy and numba
        # loaded holds (kB or GB would fail), less than the machine has.
        assert 60 <= x["peak_rss_mb"] <= machine_mb()
        assert x["first_eval_s"] > 0 and x["seconds"] > 0
        if not x["fec"]:
            assert x["evaluations_per_s"] == x["individuals_per_s"]
        if x["interpreter"] == "compiled":
            assert x["ratio_compiled_reference"] > 1
        else:
            assert "ratio_compiled_reference" not in x


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interpreter", "numpy"], "--interpreter must be compiled or reference"),
        (["--seconds", "0"], "--seconds must be a positive"),
        (["--reference-seconds", "-1"], "--reference-seconds must be a positive"),
        (["--config", "no-such-config"], "no such config file"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args: list[str], message: str) -> None:
    r = runner.invoke(app, ["bench", "--json", *args])
    assert r.exit_code == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


def test_projected16_has_the_papers_shape() -> None:
    cfg = load_config("projected16")
    t = cfg.tasks
    assert (t.kind, t.dim, t.n_tasks, t.n_train, t.n_valid) == ("projected", 16, 10, 8000, 1000)
    assert (cfg.search.population, cfg.search.tournament) == (100, 10)
    assert (cfg.memory.scalars, cfg.memory.vectors, cfg.memory.matrices) == (8, 14, 3)
    setup, predict, learn = cfg.program.component_ops()  # Sec. 4.2's ops per function
    assert cfg.program.initial == "empty" and (len(setup), len(predict), len(learn)) == (9, 58, 58)
    assert {"insert", "remove"} <= {m.value for m in cfg.mutation.types}
    assert set(CONFIGS) == {"demo", "nonlinear", "projected16"}


def test_bench_config_switches_off_what_distorts_throughput() -> None:
    cfg = bench_config("demo", "reference", False, 2.5)
    assert cfg.interpreter == "reference" and cfg.fec.enabled is False
    assert cfg.search.time_budget == 2.5 and cfg.search.max_evals is None
    assert cfg.select.check_during_search is False and cfg.select.sufficient_fitness is None
    assert cfg.select.max_experiments == 1 and cfg.select.tasks.n_tasks == 1
    assert cfg.final.tasks is None
    assert cfg.tasks == load_config("demo").tasks  # the search itself is the config's


def test_executed_instructions() -> None:
    tasks = linear_regression_tasks(n_tasks=10, dim=4, n_train=100, n_valid=100, seed=0)
    program = Program.empty(Banks(4, 3, 1), sizes=(10, 2, 8))
    assert executed_instructions(program, tasks) == 12_100  # the reference demo's count
    assert executed_instructions(program, tasks, n_train=10, n_valid=10) == 10 * (10 + 100 + 20)
    x = np.zeros((5, 2))
    three_epochs = TaskSet.of([Task(x, np.zeros(5), x[:3], np.zeros(3), epochs=3)])
    # per epoch: 5 training steps of Predict + Learn, then 3 validation Predicts
    assert executed_instructions(program, three_epochs) == 10 + 3 * (5 * 10 + 3 * 2)


def _progress(evaluations: int, seconds: float, **stats: float) -> SearchProgress:
    return SearchProgress(evaluations, seconds, evaluations / seconds, 0.5, 0.4, stats)


def test_search_counts_prefers_explicit_counters_then_derives() -> None:
    summary = {"evaluations": 1000, "elapsed_seconds": 12.0}
    last = _progress(1000, 10.0, fec_hit_rate=0.75, over_budget=200.0)
    c = search_counts(summary, [], last, None, fec=True)
    assert (c.individuals, c.seconds, c.fec_hit_rate) == (1000, 10.0, 0.75)
    assert c.full_evaluations == 200  # (1000 - 200 over budget) * (1 - 0.75)
    # counters a compiled search loop may add win
    richer = {**summary, "individuals": 1000, "full_evaluations": 321, "instructions": 9}
    c = search_counts(richer, [], last, None, fec=True)
    assert (c.full_evaluations, c.instructions) == (321, 9)
    # no reporter snapshot: the last progress record, then the summary
    record = {"evaluations": 900, "elapsed_seconds": 9.5, "fec_hit_rate": 0.5}
    c = search_counts(summary, [record], None, None, fec=True)
    assert (c.individuals, c.seconds, c.full_evaluations) == (900, 9.5, 450)
    c = search_counts(summary, [], None, None, fec=False)
    assert (c.individuals, c.seconds, c.full_evaluations) == (1000, 12.0, 1000)
    # FEC on but no statistics: what the interpreter ran
    c = search_counts(summary, [], None, Tally(evaluations=300, instructions=600), fec=True)
    assert (c.full_evaluations, c.instructions) == (300, 600)


def test_search_counts_turns_live_sizes_into_instructions() -> None:
    class Runner:  # the compiled search: live sizes summed over its full evaluations
        live_instructions = (20, 4, 16)

    tasks = linear_regression_tasks(n_tasks=10, dim=4, n_train=100, n_valid=100, seed=0)
    summary = {"evaluations": 10, "full_evaluations": 2, "elapsed_seconds": 1.0}
    c = search_counts(summary, [], None, Tally(), True, Runner(), tasks)
    assert c.instructions == 2 * 12_100  # two evaluations of sizes 10 / 2 / 8


def test_plan_runs_the_reference_first_and_for_less_time() -> None:
    runs = list(Plan(configs=("demo",), seconds=5.0, reference_seconds=1.0).runs())
    assert runs == [
        ("demo", True, "reference", 1.0),
        ("demo", True, "compiled", 5.0),
        ("demo", False, "reference", 1.0),
        ("demo", False, "compiled", 5.0),
    ]
    short = list(Plan(configs=("demo",), fecs=(True,), seconds=0.5, reference_seconds=3).runs())
    assert [r[3] for r in short] == [0.5, 0.5]
