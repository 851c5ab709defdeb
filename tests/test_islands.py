"""Parallel islands: one worker is the single-process search exactly, whatever the back end;
several workers migrate, survive a killed worker, and run on local processes or Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from primeval.algorithms.config import Config, ConfigError, parse_config
from primeval.algorithms.experiment import (
    build_tasks,
    derive_seed,
    make_interpreter,
    run_experiments,
)
from primeval.algorithms.interpret.reference import combine
from primeval.algorithms.islands import AutomlIslands, build_island, island_tasks
from primeval.algorithms.program import load_program
from primeval.engine.checkpoint import load_checkpoint
from primeval.engine.runs import RunFolder

SMALL: dict[str, Any] = {
    "name": "islands",
    "seed": 3,
    "tasks": {"kind": "linear", "dim": 4, "n_tasks": 4, "n_train": 40, "n_valid": 20},
    "search": {"population": 60, "tournament": 6, "max_evals": 30_000},
    "select": {
        "tasks": {"kind": "linear", "dim": 4, "n_tasks": 8, "n_train": 100, "n_valid": 40},
        "sufficient_fitness": None,
        "max_experiments": 1,
        "check_during_search": False,
    },
    "final": {"tasks": {"kind": "linear", "dim": 4, "n_tasks": 8, "n_train": 100, "n_valid": 40}},
    "workers": {"migration_interval": 2000},
    "checkpoint": {"every_seconds": 0.3},
    "progress_every_seconds": 0.2,
}


def small(**workers: Any) -> Config:
    data = json.loads(json.dumps(SMALL))
    data["workers"].update(workers)
    return parse_config(data, "test")


def run(config: Config, path: Path) -> tuple[dict[str, Any], Any, list[dict[str, Any]]]:
    folder = RunFolder.create(path)
    summary, best = run_experiments(config, folder)
    return summary.to_json(), best, folder.records()


def outcome(summary: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("select_fitness", "final_fitness", "search_fitness", "evaluations", "experiments")
    return (*(summary[k] for k in keys), summary["full_evaluations"])


def test_one_inline_worker_is_the_single_process_search(tmp_path: Path) -> None:
    """Island 0 uses the seeds of a plain run: same candidates, same best, same result."""
    config = small()
    assert config.workers.resolved_backend() == "inline"
    summary, best, records = run(config, tmp_path / "run")
    # The search as run_experiments ran it before islands: one CompiledSearch, experiment 1.
    interp = make_interpreter("compiled")
    search = build_island(config, 1, 0)
    result = search.run(max_evals=config.search.max_evals)
    assert best == result.best.genome
    assert summary["search_fitness"] == result.best.fitness
    assert summary["evaluations"] == result.evaluations == 30_000
    assert summary["full_evaluations"] == search.full_evaluations
    select = build_tasks(config.select.tasks, derive_seed(config.seed, "select"))
    select_rng = np.random.default_rng(derive_seed(config.seed, "select-rng"))
    want = combine(interp.fitnesses(best, select, select_rng), config.fitness.combine)
    assert summary["select_fitness"] == want
    assert load_program(tmp_path / "run" / "best.json") == best
    events = [r["event"] for r in records if "event" in r]
    assert events == ["workers_started", "finished"]


@pytest.mark.slow
def test_one_process_worker_equals_inline(tmp_path: Path) -> None:
    inline, best_inline, _ = run(small(), tmp_path / "inline")
    procs, best_procs, records = run(small(backend="processes"), tmp_path / "procs")
    assert outcome(procs) == outcome(inline)
    assert best_procs == best_inline
    started = next(r for r in records if r.get("event") == "workers_started")
    assert started["backend"] == "processes" and started["pids"][0] != os.getpid()


def _check_two_islands(summary: dict[str, Any], records: list[dict[str, Any]]) -> None:
    assert summary["evaluations"] == 30_000 and summary["stopped"] == "max_experiments"
    assert 0.0 <= summary["select_fitness"] <= 1.0
    finished = next(r for r in records if r.get("event") == "finished")
    islands = finished["islands"]
    assert len(islands) == 2 and sum(i["evaluations"] for i in islands) == 30_000
    assert all(i["evaluations"] > 0 for i in islands), islands
    # How the shared budget splits between islands depends on when each worker starts (a Ray
    # actor on a loaded machine may start late and run a few batches only), so migration is
    # checked over the archipelago, not per island.
    assert sum(i["migrations"] for i in islands) > 0, islands


@pytest.mark.slow
def test_two_process_workers_migrate(tmp_path: Path) -> None:
    summary, best, records = run(small(count=2), tmp_path / "run")
    _check_two_islands(summary, records)
    best.validate()


@pytest.mark.slow
def test_ray_search_with_migration(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is installed by `make test` (primeval[ray])")
    try:
        summary, best, records = run(small(count=2, backend="ray"), tmp_path / "run")
    finally:
        if ray.is_initialized():
            ray.shutdown()
    _check_two_islands(summary, records)
    best.validate()
    started = next(r for r in records if r.get("event") == "workers_started")
    assert started["backend"] == "ray"


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "primeval.cli", "search", "-q", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition: Any, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_killed_worker_is_restarted_and_the_search_completes(tmp_path: Path) -> None:
    data = json.loads(json.dumps(SMALL))
    data["search"]["max_evals"] = 400_000
    data["workers"]["count"] = 2
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(data))
    out = tmp_path / "run"
    proc = _cli(str(path), "--out", str(out))
    folder = RunFolder(out)

    def checkpointed() -> bool:
        try:
            meta = load_checkpoint(out / RunFolder.CHECKPOINT)[1]
        except Exception:
            return False
        return meta["islands"] is not None and meta["islands"][1]["evaluations"] > 0

    _wait_for(checkpointed, proc)
    pids = next(r for r in folder.records() if r.get("event") == "workers_started")["pids"]
    os.kill(pids[1], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    records = folder.records()
    restarted = [r for r in records if r.get("event") == "worker_restarted"]
    assert len(restarted) == 1 and restarted[0]["island"] == 1
    assert restarted[0]["pid"] not in pids
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluations"] == 400_000
    finished = next(r for r in records if r.get("event") == "finished")
    assert [i["restarts"] for i in finished["islands"]] == [0, 1]
    assert all(i["evaluations"] > 0 for i in finished["islands"])


def test_workers_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="inline"):
        parse_config({"workers": {"count": 2, "backend": "inline"}}, "x")
    with pytest.raises(ConfigError, match="same dim"):
        parse_config({"workers": {"island_tasks": [{"dim": 5}]}}, "x")
    with pytest.raises(ConfigError, match=r"workers\.count"):
        parse_config({"workers": {"count": 0}}, "x")
    c = parse_config({"workers": {"count": 3}}, "x")
    assert c.workers.resolved_backend() == "processes"
    assert parse_config({"workers": {"ray_address": "auto"}}, "x").workers.resolved_backend() == (
        "ray"
    )


def test_island_tasks_round_robin(tmp_path: Path) -> None:
    other = {"kind": "nonlinear", "dim": 4, "n_tasks": 3, "n_train": 30, "n_valid": 10}
    config = small(count=2, island_tasks=[SMALL["tasks"], other])
    assert island_tasks(config, 0).kind == "linear" and island_tasks(config, 1).kind == "nonlinear"
    assert island_tasks(config, 2).kind == "linear"


@pytest.mark.slow
def test_workers_free_their_islands_between_experiments(tmp_path: Path) -> None:
    """Three experiments on two process workers: each experiment's islands run in full."""
    data = json.loads(json.dumps(SMALL))
    data["select"]["max_experiments"] = 3
    data["search"]["max_evals"] = 6_000
    data["workers"]["count"] = 2
    summary, best, records = run(parse_config(data, "test"), tmp_path / "run")
    assert summary["experiments"] == 3 and summary["evaluations"] == 18_000
    for experiment in (1, 2, 3):
        ticks = [r for r in records if r.get("experiment") == experiment and "event" not in r]
        assert ticks and all(n > 0 for n in ticks[-1]["island_evaluations"])
    best.validate()


@pytest.mark.slow
def test_release_restarts_a_worker_that_died_meanwhile() -> None:
    from primeval.engine.archipelago import FACTORY, Archipelago
    from primeval.engine.workers import ProcessPool

    config = small(count=2, backend="processes")
    pool = ProcessPool(FACTORY, 2)
    try:
        for i in range(2):
            pool.start(i)
        for experiment in (1, 2):
            arch = Archipelago(AutomlIslands(config), experiment, pool)
            arch.run(4_000, None, lambda p: False, lambda s: None, lambda: False, 0.2, 60.0)
            assert all(s.evaluations > 0 for s in arch.status)
            pool.kill(1)
            arch.release()
    finally:
        pool.close()


def test_the_reference_interpreter_runs_on_two_process_islands_with_migration(
    tmp_path: Path,
) -> None:
    """The engine's generic strategy island: the same archipelago, programs migrate as JSON."""
    data = json.loads(json.dumps(SMALL))
    data["interpreter"] = "reference"
    data["search"] = {"population": 20, "tournament": 4, "max_evals": 600}
    data["workers"] = {"count": 2, "migration_interval": 100}
    summary, best, records = run(parse_config(data, "test"), tmp_path / "run")
    assert summary["interpreter"] == "reference" and summary["evaluations"] == 600
    finished = next(r for r in records if r.get("event") == "finished")
    islands = finished["islands"]
    assert sum(i["evaluations"] for i in islands) == 600
    assert all(i["evaluations"] > 0 for i in islands), islands
    # How the shared budget splits between islands depends on when each worker starts (a Ray
    # actor on a loaded machine may start late and run a few batches only), so migration is
    # checked over the archipelago, not per island.
    assert sum(i["migrations"] for i in islands) > 0, islands
    assert not (tmp_path / "run" / RunFolder.CHECKPOINT).exists()  # no FEC cache in a state
    best.validate()
