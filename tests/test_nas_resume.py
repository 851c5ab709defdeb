"""NAS on the engine's archipelago: several workers give the same comparison as one, and a
comparison killed with SIGKILL resumes to the same summary as one never stopped."""

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

from primeval.engine.checkpoint import load_checkpoint
from primeval.engine.runs import RunFolder
from primeval.nas.config import parse_nas_config
from primeval.nas.experiment import run_nas

SETTINGS: dict[str, Any] = {"runs": 40, "budget_seconds": 6000, "seed": 4}


def _timeless(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary less its wall-clock fields (the only ones a resume may change)."""
    out = {k: v for k, v in summary.items() if k != "wall_seconds"}
    out["strategies"] = [
        {k: v for k, v in s.items() if k != "wall_seconds"} for s in summary["strategies"]
    ]
    return out


def _same_folder(a: Path, b: Path) -> None:
    assert _timeless(json.loads((a / "summary.json").read_text())) == _timeless(
        json.loads((b / "summary.json").read_text())
    )
    assert (a / "best.json").read_text() == (b / "best.json").read_text()
    assert (a / "pareto.json").read_text() == (b / "pareto.json").read_text()
    with np.load(a / "curves.npz") as ca, np.load(b / "curves.npz") as cb:
        assert sorted(ca.files) == sorted(cb.files)
        for k in ca.files:
            np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)


def _nas(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "primeval.cli", "nas", "-q", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _done_runs(out: Path, mid_run: bool = False) -> int | None:
    """Runs done in the checkpoint of a comparison still going (and, with ``mid_run``, only
    a checkpoint taken while runs were going: their islands' states are in it)."""
    try:
        meta = load_checkpoint(out / RunFolder.CHECKPOINT)[1]
    except Exception:
        return None
    if meta["finished"]:
        return None
    if mid_run and not (meta["islands"] and all(i["evaluations"] for i in meta["islands"])):
        return None
    return sum(len(runs) for runs in meta["selection"]["traces"].values())


def test_a_killed_nas_comparison_on_two_workers_resumes_to_the_uninterrupted_summary(
    tmp_path: Path,
) -> None:
    whole = RunFolder.create(tmp_path / "whole")
    results, _ = run_nas(parse_nas_config(SETTINGS, "test"), whole)
    assert [len(r.final_cells) for r in results] == [40, 40, 40]

    config = tmp_path / "nas.yaml"
    config.write_text(json.dumps({**SETTINGS, "checkpoint": {"every_seconds": 0.01}}))
    out = tmp_path / "killed"
    proc = _nas(str(config), "--workers", "2", "--out", str(out))
    end = time.monotonic() + 120
    while True:
        done = _done_runs(out, mid_run=True)
        if done is not None and done >= 4:
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not (out / "summary.json").exists()
    done = _done_runs(out)
    assert done is not None and 4 <= done < 120  # killed part way

    resumed = _nas("--resume", str(out))
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert [json.loads(line)["runs"] for line in stdout.splitlines()] == [40, 40, 40]
    _same_folder(whole.path, out)
    records = RunFolder(out).records()
    assert [r["event"] for r in records if "event" in r][-3:] == [
        "resumed",
        "workers_started",
        "finished",
    ]
    # every run has its line (one finished after the last checkpoint has two)
    assert len({(r["strategy"], r["run"]) for r in records if "event" not in r}) == 120


def test_nas_on_two_workers_gives_the_one_worker_comparison(tmp_path: Path) -> None:
    settings = {**SETTINGS, "runs": 5, "strategies": ["evolution", "reinforce"]}
    one = RunFolder.create(tmp_path / "one")
    run_nas(parse_nas_config(settings, "test"), one)
    two = RunFolder.create(tmp_path / "two")
    run_nas(parse_nas_config({**settings, "workers": {"count": 2}}, "test"), two)
    _same_folder(one.path, two.path)
    started = next(r for r in two.records() if r.get("event") == "workers_started")
    assert started["backend"] == "processes" and len(started["pids"]) == 2


def test_resume_refuses_a_changed_setting_with_its_name(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_nas(parse_nas_config({**SETTINGS, "runs": 2}, "test"), RunFolder.create(out))
    proc = _nas("--resume", str(out), "--seed", "5")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "seed" in lines[0], stderr
    proc = _nas("--resume", str(out))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "finished" in stderr
