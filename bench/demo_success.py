"""Time and evaluations to success on the AutoML-Zero demo, over seeds.

Each seed runs the embedded demo config (``primeval search`` with no config) until the best
algorithm's fitness on 100 fresh tasks exceeds 0.9999 or the time budget ends. Prints one
JSON line per seed, then a summary line (success rate, median time and evaluations to
success). ``--strategy random`` runs random search on the same budget, the baseline of the
paper's Figure 4 (random search needed about 5x more evaluations on linear regression).

    python bench/demo_success.py --seeds 0-9 --time-budget 600 --jobs 2
    python bench/demo_success.py --strategy random --seeds 0-4 --time-budget 1200 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import tempfile
from pathlib import Path
from typing import Any


def run_seed(args: tuple[int, str, float, str, float]) -> dict[str, Any]:
    seed, strategy, budget, interpreter, tick = args
    from primeval.algorithms.config import load_config
    from primeval.algorithms.experiment import run_experiments
    from primeval.engine.runs import RunFolder

    cfg = load_config(None).with_overrides(
        **{
            "seed": seed,
            "search.strategy": strategy,
            "search.time_budget": budget,
            "interpreter": interpreter,
            "progress_every_seconds": tick,
        }
    )
    with tempfile.TemporaryDirectory() as d:
        summary, _ = run_experiments(cfg, RunFolder.create(Path(d) / "run"))
    return {"seed": seed, "strategy": strategy, **summary.to_json()}


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--strategy", choices=["evolution", "random"], default="evolution")
    ap.add_argument("--time-budget", type=float, default=600.0)
    ap.add_argument("--interpreter", choices=["compiled", "reference"], default="compiled")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--tick", type=float, default=0.5, help="seconds between select checks")
    a = ap.parse_args()
    jobs = [(s, a.strategy, a.time_budget, a.interpreter, a.tick) for s in parse_seeds(a.seeds)]
    results = []
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        for r in pool.imap_unordered(run_seed, jobs):
            print(json.dumps(r), flush=True)
            results.append(r)
    ok = [r for r in results if r["solved"]]
    # Over all seeds, an unsolved one counting as slower than any solved one.
    times = sorted(r["elapsed_seconds"] if r["solved"] else float("inf") for r in results)
    median_all = statistics.median(times)
    print(
        json.dumps(
            {
                "summary": True,
                "strategy": a.strategy,
                "interpreter": a.interpreter,
                "seeds": len(results),
                "solved": len(ok),
                "success_rate": len(ok) / len(results),
                "time_budget": a.time_budget,
                "median_seconds_all_seeds": median_all if median_all != float("inf") else None,
                "median_seconds_to_success": statistics.median(r["elapsed_seconds"] for r in ok)
                if ok
                else None,
                "median_evaluations_to_success": statistics.median(r["evaluations"] for r in ok)
                if ok
                else None,
                "seconds_to_success": sorted(r["elapsed_seconds"] for r in ok),
                "evaluations_to_success": sorted(r["evaluations"] for r in ok),
            }
        )
    )


if __name__ == "__main__":
    main()
