"""Search throughput with 1 and 2 workers (islands), and peak memory.

For each config (default: the demo and ``projected16``) and each back end, runs
``primeval search`` in a fresh process for ``--seconds`` of search with 1 worker (the
default, in-process), with 2 workers (local processes; optionally Ray) and with 2 workers
without migration, select and final checks reduced to the end of the run. Prints one JSON
line per run:

- ``evals_per_s``: candidates per second over the progress ticks after the first one that
  shows evaluations (start-up, compilation-cache loading and task building excluded);
  ``full_evals_per_s`` the same for candidates evaluated in full (not answered by FEC);
  ``island_evals_per_s`` per island;
- ``peak_rss_mb``: the peak of the summed resident memory of the whole process tree (the
  search command, its workers and, for Ray, Ray's own processes), sampled every 0.1 s;
- ``peak_rss_search_mb``: the sum of each search process's own peak (coordinator + workers)
  as the run reports it;

and one line per config with the 2-worker / 1-worker ratios measured in this run: of
candidates, of full evaluations, and on identical work. Candidates per second depend on the
search's course (how fast FEC answers, how long programs grow) and islands of different
seeds take different courses, most of all from empty programs (``projected16``): island 0 of
the run without migration is the 1-worker search itself, so twice its rate over the 1-worker
rate (``ratio_2_vs_1_same_work``) is the speed-up on the same work.

With ``--repeat K`` the three runs are made K times, interleaved, and each is reported by its
median run (with every run's rate), the ratios as medians over rounds of ratios measured in
the same round: on a shared machine, rates drift by 5-10% between runs.

Run: ``.venv/bin/python bench/workers.py [--seconds 20] [--repeat 3] [--config demo
--config projected16] [--ray]`` (about 5 minutes with defaults; the machine should be
otherwise idle).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from primeval.algorithms.config import dump_config, load_config
from primeval.engine.runs import RunFolder


def _tree_rss_mb(root: int) -> float:
    """Summed VmRSS of ``root`` and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry)] = int(line.split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(rss.get(p, 0) for p in tree) / 1024.0


def measure(
    name: str, workers: int, backend: str, seconds: float, tmp: Path, migrate: bool = True
) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "search.max_evals": 10**9,
        "search.time_budget": seconds,
        "select.sufficient_fitness": None,
        "select.check_during_search": False,
        "select.max_experiments": 1,
        "workers.count": workers,
        "workers.backend": backend,
    }
    if not migrate:
        overrides["workers.migration_interval"] = 10**12
    cfg = load_config(name).with_overrides(**overrides)
    tag = f"{name}-{workers}-{backend}-{'m' if migrate else 'nm'}"
    config = tmp / f"{tag}.yaml"
    config.write_text(dump_config(cfg))
    out = Path(tempfile.mkdtemp(dir=tmp, prefix=f"run-{tag}-"))  # empty: primeval accepts it
    proc = subprocess.Popen(
        [sys.executable, "-m", "primeval.cli", "search", str(config), "--out", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_mb(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{name} with {workers} worker(s) failed: {stderr.strip()}")
    folder = RunFolder(out)
    ticks = [r for r in folder.progress() if r["evaluations"] > 0]
    if len(ticks) < 3:
        raise SystemExit(f"{name} with {workers} worker(s): too few ticks; raise --seconds")
    first, last = ticks[1], ticks[-1]
    span = last["elapsed_seconds"] - first["elapsed_seconds"]
    rate = (last["evaluations"] - first["evaluations"]) / span
    full = (last["full_evaluations"] - first["full_evaluations"]) / span
    islands = [
        (b - a) / span
        for a, b in zip(
            first.get("island_evaluations", [first["evaluations"]]),
            last.get("island_evaluations", [last["evaluations"]]),
            strict=True,
        )
    ]
    finished = next(r for r in folder.records() if r.get("event") == "finished")
    own = finished["coordinator_peak_rss_mb"] + (
        sum(i["peak_rss_mb"] for i in finished["islands"]) if backend != "inline" else 0.0
    )
    return {
        "config": name,
        "workers": workers,
        "backend": backend,
        "migration": migrate,
        "seconds": round(span, 1),
        "evaluations": last["evaluations"],
        "evals_per_s": round(rate, 1),
        "full_evals_per_s": round(full, 1),
        "island_evals_per_s": [round(r, 1) for r in islands],
        "peak_rss_mb": round(peak, 1),
        "peak_rss_search_mb": round(own, 1),
        "fec_hit_rate": last.get("fec_hit_rate"),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median candidates/s, with every run's rate beside it."""
    ordered = sorted(runs, key=lambda r: r["evals_per_s"])
    out = dict(ordered[len(ordered) // 2])
    if len(runs) > 1:
        out["evals_per_s_runs"] = [r["evals_per_s"] for r in runs]
        out["island0_evals_per_s_runs"] = [r["island_evals_per_s"][0] for r in runs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", help="demo, projected16 or a YAML file")
    parser.add_argument("--seconds", type=float, default=20.0, help="search seconds per run")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the three runs, interleaved (medians)"
    )
    parser.add_argument("--ray", action="store_true", help="also 2 workers on a local Ray")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.config or ["demo", "projected16"]:
            rounds = [
                (
                    measure(name, 1, "inline", args.seconds, Path(tmp)),
                    measure(name, 2, "processes", args.seconds, Path(tmp)),
                    measure(name, 2, "processes", args.seconds, Path(tmp), migrate=False),
                )
                for _ in range(args.repeat)
            ]
            one, two, same = (_median_run([r[k] for r in rounds]) for k in range(3))
            for run in (one, two, same):
                print(json.dumps(run), flush=True)
            # Island 0 of a 2-worker run without migration runs the very search of the
            # 1-worker run (same seed, same tasks): twice its rate over the solo rate is the
            # speed-up on identical work, free of how fast other seeds' programs grow.
            same_work = sorted(
                2 * r[2]["island_evals_per_s"][0] / r[0]["evals_per_s"] for r in rounds
            )
            ratios = {
                "config": name,
                "ratio_2_vs_1": round(two["evals_per_s"] / one["evals_per_s"], 2),
                "ratio_2_vs_1_full": round(two["full_evals_per_s"] / one["full_evals_per_s"], 2),
                "ratio_2_vs_1_same_work": round(same_work[len(same_work) // 2], 2),
            }
            if args.repeat > 1:
                ratios["ratio_2_vs_1_same_work_rounds"] = [round(x, 2) for x in same_work]
                ratios["ratio_2_vs_1_rounds"] = sorted(
                    round(r[1]["evals_per_s"] / r[0]["evals_per_s"], 2) for r in rounds
                )
            print(json.dumps(ratios), flush=True)
            if args.ray:
                print(json.dumps(measure(name, 2, "ray", args.seconds, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
