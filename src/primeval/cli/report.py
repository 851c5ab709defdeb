"""``primeval report`` (a run's HTML report) and ``primeval compare`` (evolution vs random)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from primeval.cli.app import app, fail, parse_seeds, user_errors


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run folder.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The HTML file (default RUN/report.html).")
    ] = None,
) -> None:
    """Write an HTML report on a run: fitness plots, the best algorithm's ancestry with the
    techniques as they appeared, and the algorithm as code."""
    from primeval.report import ReportError, write_report

    errors: tuple[type[BaseException], ...] = (ReportError, *user_errors())
    try:
        path = write_report(run, output)
    except errors as e:
        fail(str(e))
    print(path)


@app.command()
def compare(
    config: Annotated[
        str | None, typer.Argument(help="YAML config or a shipped one (default: the demo).")
    ] = None,
    seeds: Annotated[str, typer.Option(help="Seeds: a range 0-9 or a list 1,4,7.")] = "0-9",
    time_budget: Annotated[
        float, typer.Option("--time-budget", help="Seconds per run (each strategy and seed).")
    ] = 300.0,
    jobs: Annotated[int, typer.Option(help="Runs at a time (processes).")] = 1,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default runs/compare-NAME-TIMESTAMP).")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Regularized evolution against random search with the same budget over many seeds
    (success rate and best fitness against evaluations, as AutoML-Zero's Figure 4)."""
    import json as json_module
    import time

    from primeval.config import ConfigError, load_config
    from primeval.report.compare import compare as run_compare

    seed_list = parse_seeds(seeds)
    if jobs < 1 or time_budget <= 0:
        fail("--jobs must be >= 1 and --time-budget > 0")
    try:
        cfg = load_config(config).with_overrides(**{"search.time_budget": time_budget})
    except ConfigError as e:
        fail(str(e))
    target = out or Path("runs") / f"compare-{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if target.exists():
        fail(f"{target}: already exists (results are never overwritten)")

    def done(r: dict[str, Any]) -> None:
        if not json_:
            state = (
                f"solved after {r['evaluations']:,} evaluations" if r["solved"] else "not solved"
            )
            print(f"{r['strategy']:>9} seed {r['seed']}: {state} ({r['elapsed_seconds']:.1f} s)")

    summary = run_compare(cfg, seed_list, target, jobs, done)
    if json_:
        print(json_module.dumps(summary))
    else:
        for strategy in ("evolution", "random"):
            s = summary.get(strategy)
            if s:
                if not s["solved"]:
                    print(f"{strategy}: 0/{s['seeds']} solved")
                    continue
                print(
                    f"{strategy}: {s['solved']}/{s['seeds']} solved, median evaluations to "
                    f"success {s['median_evaluations_to_success']:,.0f} (solved runs), expected "
                    f"{s['expected_evaluations_to_success']:,.0f} (all evaluations / successes)"
                )
        if "random_over_evolution" in summary:
            print(
                "random / evolution expected evaluations to success: "
                f"{summary['random_over_evolution']:.2f} (medians of solved runs: "
                f"{summary['random_over_evolution_solved_medians']:.2f})"
            )
        elif "random_over_evolution_at_least" in summary:
            print(
                "random / evolution expected evaluations to success: at least "
                f"{summary['random_over_evolution_at_least']:.2f} (random search never solved)"
            )
        print(f"wrote {target / 'compare.json'} and {target / 'compare.png'}")
