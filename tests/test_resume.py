"""Checkpoint and resume: a run killed with SIGKILL resumes and ends as if never stopped;
Ctrl-C stops cleanly; a bad resume gives one line, a non-zero exit and changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from primeval.algorithms.config import parse_config
from primeval.algorithms.experiment import run_experiments
from primeval.algorithms.program import load_program
from primeval.engine.checkpoint import load_checkpoint, previous_path
from primeval.engine.runs import RunFolder

CONFIG: dict[str, Any] = {
    "name": "resume",
    "seed": 5,
    "tasks": {"kind": "linear", "dim": 4, "n_tasks": 4, "n_train": 40, "n_valid": 20},
    "search": {"population": 60, "tournament": 6, "max_evals": 300_000},
    "select": {
        "tasks": {"kind": "linear", "dim": 4, "n_tasks": 8, "n_train": 100, "n_valid": 40},
        "sufficient_fitness": None,
        "max_experiments": 1,
        "check_during_search": False,
    },
    "final": {"tasks": {"kind": "linear", "dim": 4, "n_tasks": 8, "n_train": 100, "n_valid": 40}},
    "checkpoint": {"every_seconds": 0.2},
    "progress_every_seconds": 0.2,
}
KEYS = ("select_fitness", "final_fitness", "search_fitness", "evaluations", "full_evaluations")


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "primeval.cli", "search", "-q", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _checkpoint_meta(out: Path) -> dict[str, Any] | None:
    try:
        return load_checkpoint(out / RunFolder.CHECKPOINT)[1]  # type: ignore[no-any-return]
    except Exception:
        return None


def _stop_mid_run(config: Path, out: Path, sig: int, min_evals: int = 20_000) -> Any:
    """Start a search and send it ``sig`` once a checkpoint holds ``min_evals``."""
    proc = _cli(str(config), "--out", str(out))
    end = time.monotonic() + 60
    while True:
        meta = _checkpoint_meta(out)
        if meta and meta["islands"] and meta["islands"][0]["evaluations"] >= min_evals:
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end
        time.sleep(0.02)
    assert proc.poll() is None and not (out / "summary.json").exists()
    os.kill(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout, stderr


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(json.dumps(CONFIG))
    return p


@pytest.mark.slow
def test_sigkill_then_resume_continues_from_the_checkpoint(
    tmp_path: Path, config_file: Path
) -> None:
    whole = RunFolder.create(tmp_path / "whole")
    want, want_best = run_experiments(parse_config(CONFIG, "test"), whole)

    out = tmp_path / "killed"
    code, _, _ = _stop_mid_run(config_file, out, signal.SIGKILL)
    assert code == -signal.SIGKILL
    arrays, meta, _ = load_checkpoint(out / RunFolder.CHECKPOINT)
    at = meta["islands"][0]["evaluations"]
    assert 0 < at < 300_000 and int(arrays["island0.counters"][0]) >= 0
    ticks_before = len(RunFolder(out).progress())

    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "search", "-q", "--resume", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads((out / "summary.json").read_text())
    assert [got[k] for k in KEYS] == [getattr(want, k) for k in KEYS]
    assert load_program(out / "best.json") == want_best
    records = RunFolder(out).records()
    resumed = [i for i, r in enumerate(records) if r.get("event") == "resumed"]
    assert len(resumed) == 1 and records[resumed[0]]["evaluations"] == at
    after = [r for r in records[resumed[0] :] if "event" not in r]
    assert after and after[0]["evaluations"] >= at and after[-1]["evaluations"] == 300_000
    assert len(RunFolder(out).progress()) > ticks_before  # appended, not restarted
    assert got["elapsed_seconds"] >= meta["elapsed"]


@pytest.mark.slow
def test_sigint_writes_a_checkpoint_and_summary_then_resumes(
    tmp_path: Path, config_file: Path
) -> None:
    out = tmp_path / "run"
    code, _, stderr = _stop_mid_run(config_file, out, signal.SIGINT)
    assert code == 130, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] == "interrupted" and 0 < summary["evaluations"] < 300_000
    meta = load_checkpoint(out / RunFolder.CHECKPOINT)[1]
    assert not meta["finished"] and meta["islands"][0]["evaluations"] == summary["evaluations"]
    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "search", "-q", "--resume", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluations"] == 300_000 and summary["stopped"] == "max_experiments"


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped by Ctrl-C once it has written two checkpoints."""
    base = tmp_path_factory.mktemp("stopped")
    config = base / "config.yaml"
    config.write_text(json.dumps(CONFIG))
    out = base / "run"
    code, _, stderr = _stop_mid_run(config, out, signal.SIGINT)
    assert code == 130, stderr
    assert previous_path(out / RunFolder.CHECKPOINT).exists()
    return out


def _files(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _fails(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "search", "-q", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode not in (0, 130), proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["corrupt", "truncated", "missing folder", "changed config", "changed option"]
)
def test_bad_resume_is_one_line_and_changes_nothing(
    tmp_path: Path, stopped_run: Path, case: str
) -> None:
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    checkpoint = run / RunFolder.CHECKPOINT
    args = ["--resume", str(run)]
    if case == "corrupt":
        for p in (checkpoint, previous_path(checkpoint)):
            data = bytearray(p.read_bytes())
            data[len(data) // 2] ^= 0xFF
            p.write_bytes(bytes(data))
    elif case == "truncated":
        for p in (checkpoint, previous_path(checkpoint)):
            p.write_bytes(p.read_bytes()[:1000])
    elif case == "missing folder":
        args = ["--resume", str(tmp_path / "nowhere")]
    elif case == "changed config":
        changed = dict(CONFIG, seed=6)
        (tmp_path / "other.yaml").write_text(json.dumps(changed))
        args = [str(tmp_path / "other.yaml"), *args]
    else:
        args = [*args, "--workers", "2"]
    before = _files(run)
    line = _fails(*args)
    expected = {
        "corrupt": "checkpoint",
        "truncated": "checkpoint",
        "missing folder": "no such run folder",
        "changed config": "seed differs",
        "changed option": "workers.count differs",
    }[case]
    assert expected in line and line.startswith("error:")
    assert _files(run) == before
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow
def test_corrupt_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path, stopped_run: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    (run / RunFolder.CHECKPOINT).write_bytes(b"garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "search", "-q", "--resume", str(run)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "previous checkpoint" in proc.stderr
    assert json.loads((run / "summary.json").read_text())["evaluations"] == 300_000
    resumed = next(r for r in RunFolder(run).records() if r.get("event") == "resumed")
    assert "previous checkpoint" in resumed["warnings"][0]


def test_a_finished_run_cannot_be_resumed(tmp_path: Path) -> None:
    config = dict(CONFIG, search={"population": 30, "tournament": 4, "max_evals": 2000})
    folder = RunFolder.create(tmp_path / "run")
    run_experiments(parse_config(config, "test"), folder)
    before = _files(folder.path)
    assert "finished" in _fails("--resume", str(folder.path))
    assert _files(folder.path) == before


@pytest.mark.slow
def test_sigkill_in_a_later_experiment_resumes_to_the_same_result(tmp_path: Path) -> None:
    """Experiments restart the search; a kill in the second one resumes the second one,
    with the first one's selection kept."""
    config = dict(CONFIG, search={"population": 60, "tournament": 6, "max_evals": 250_000})
    config["select"] = dict(CONFIG["select"], max_experiments=3)
    whole = RunFolder.create(tmp_path / "whole")
    want, want_best = run_experiments(parse_config(config, "test"), whole)
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    out = tmp_path / "killed"
    proc = _cli(str(path), "--out", str(out))
    end = time.monotonic() + 60
    while True:
        meta = _checkpoint_meta(out)
        islands = meta["islands"] if meta and meta["experiment"] == 2 else None
        if islands and islands[0]["evaluations"] >= 20_000:
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    resumed = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "search", "-q", "--resume", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    got = json.loads((out / "summary.json").read_text())
    assert [got[k] for k in KEYS] == [getattr(want, k) for k in KEYS]
    assert got["experiments"] == want.experiments == 3
    assert load_program(out / "best.json") == want_best


def _resume(run: Path, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "search", "-q", "--resume", str(run), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((run / "summary.json").read_text())  # type: ignore[no-any-return]


def test_resume_may_shorten_max_evals_and_ends_as_a_run_with_that_budget(
    tmp_path: Path, stopped_run: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    at = load_checkpoint(run / RunFolder.CHECKPOINT)[1]["islands"][0]["evaluations"]
    budget = at + 4_000
    got = _resume(run, "--max-evals", str(budget))
    assert got["evaluations"] == budget and got["stopped"] == "max_experiments"
    config = dict(CONFIG, search={**CONFIG["search"], "max_evals": budget})
    want, _ = run_experiments(parse_config(config, "test"), RunFolder.create(tmp_path / "whole"))
    assert [got[k] for k in KEYS] == [getattr(want, k) for k in KEYS]
    assert "search:\n" in (run / RunFolder.CONFIG).read_text()
    assert f"max_evals: {budget}" in (run / RunFolder.CONFIG).read_text()


def test_a_run_out_of_experiments_resumes_with_more(tmp_path: Path) -> None:
    config = dict(CONFIG, search={"population": 30, "tournament": 4, "max_evals": 2000})
    run = RunFolder.create(tmp_path / "run")
    first, _ = run_experiments(parse_config(config, "test"), run)
    assert first.experiments == 1
    assert "larger budget" in _fails("--resume", str(run.path))
    got = _resume(run.path, "--max-experiments", "2")
    more = dict(config, select={**CONFIG["select"], "max_experiments": 2})
    want, _ = run_experiments(parse_config(more, "test"), RunFolder.create(tmp_path / "whole"))
    assert got["experiments"] == 2 and got["evaluations"] == 4000
    assert [got[k] for k in KEYS] == [getattr(want, k) for k in KEYS]
    assert "finished (max_experiments)" in _fails("--resume", str(run.path))


def test_a_run_out_of_time_resumes_with_a_longer_time_budget(tmp_path: Path) -> None:
    config = dict(CONFIG, search={"population": 60, "tournament": 6, "max_evals": None})
    config["search"]["time_budget"] = 0.5
    run = RunFolder.create(tmp_path / "run")
    first, _ = run_experiments(parse_config(config, "test"), run)
    assert first.stopped == "time_budget" and first.evaluations > 0
    assert "finished (time_budget)" in _fails("--resume", str(run.path))
    meta = load_checkpoint(run.file(RunFolder.CHECKPOINT))[1]
    assert meta["islands"][0]["evaluations"] == first.evaluations  # the islands are kept
    got = _resume(run.path, "--time-budget", "1.5")
    assert got["stopped"] == "time_budget" and got["evaluations"] > first.evaluations
    assert got["elapsed_seconds"] >= 1.5
    resumed = next(r for r in run.records() if r.get("event") == "resumed")
    assert resumed["evaluations"] == first.evaluations
