"""``primeval nas``: architecture-search strategies compared on a tabular benchmark."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from primeval.cli.app import app, console, err_console, fail


def _nas_table(summary: dict[str, Any]) -> Table:
    t = Table(
        title=f"NAS-Bench-201 {summary['dataset']}: final best validation accuracy (%), "
        f"{summary['budget_seconds']:g} s simulated budget",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for col in ("strategy", "runs", "mean +- std", "min", "max", "evals/run", "published", "s"):
        t.add_column(col, justify="left" if col == "strategy" else "right")
    for r in summary["strategies"]:
        pub = (
            f"{r['published_mean']:.2f} +- {r['published_std']:.2f}"
            if "published_mean" in r
            else "-"
        )
        t.add_row(
            r["strategy"],
            str(r["runs"]),
            f"{r['mean']:.2f} +- {r['std']:.2f}",
            f"{r['min']:.2f}",
            f"{r['max']:.2f}",
            f"{r['evaluations_per_run']:.1f}",
            pub,
            f"{r['wall_seconds']:.1f}",
        )
    return t


def _nas_transfer_table(summary: dict[str, Any]) -> Table:
    datasets = summary["evaluate_on"]
    t = Table(
        title=f"the cells found on {summary['dataset']}, looked up on each data set: "
        "validation accuracy (%, mean over training seeds)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    t.add_column("strategy")
    for name in datasets:
        t.add_column(name, justify="right")
        t.add_column("published", justify="right")
    for r in summary["strategies"]:
        cells = [r["strategy"]]
        for name in datasets:
            e = r["transfer"][name]
            cells.append(f"{e['mean']:.2f} +- {e['std']:.2f}")
            cells.append(
                f"{e['published_mean']:.2f} +- {e['published_std']:.2f}"
                if "published_mean" in e
                else "-"
            )
        t.add_row(*cells)
    return t


@app.command()
def nas(
    config: Annotated[
        Path | None, typer.Argument(help="YAML settings (options below override them).")
    ] = None,
    benchmark: Annotated[
        str | None, typer.Option(help="Tabular benchmark: nb201 (NAS-Bench-201).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="cifar10, cifar100 or ImageNet16-120.")
    ] = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            help="evolution, evolution-worst, reinforce or random (repeatable or "
            "comma-separated). Default: evolution, reinforce, random."
        ),
    ] = None,
    runs: Annotated[int | None, typer.Option(help="Runs per strategy.")] = None,
    budget_seconds: Annotated[
        float | None, typer.Option("--budget-seconds", help="Simulated seconds per run.")
    ] = None,
    epochs: Annotated[
        float | None,
        typer.Option(help="Training epochs charged per query (of the table's 200)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of run 0 (runs derive theirs).")] = None,
    population: Annotated[int | None, typer.Option(help="Evolution: population size.")] = None,
    sample: Annotated[int | None, typer.Option(help="Evolution: tournament size.")] = None,
    learning_rate: Annotated[
        float | None, typer.Option("--learning-rate", help="REINFORCE: Adam step size.")
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(help="accuracy, or mnasnet: accuracy * (latency / target) ** weight."),
    ] = None,
    latency_target_ms: Annotated[
        float | None,
        typer.Option("--latency-target-ms", help="mnasnet: target latency (default: median)."),
    ] = None,
    latency_weight: Annotated[
        float | None, typer.Option("--latency-weight", help="mnasnet: the exponent w.")
    ] = None,
    evaluate_on: Annotated[
        list[str] | None,
        typer.Option(
            "--evaluate-on",
            help="Also look up each run's final cell on these data sets (repeatable or "
            "comma-separated), as NAS-Bench-201 reports its CIFAR-10 searches.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default runs/nas-DATASET-TIMESTAMP).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per strategy on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Compare architecture-search strategies on a tabular benchmark at a simulated budget."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from primeval.nas.config import NasConfigError, load_nas_config
    from primeval.nas.experiment import run_nas
    from primeval.nas.table import BenchmarkError, load_table
    from primeval.runs import RunFolder, RunFolderError

    overrides: dict[str, Any] = {}
    names = [n.strip() for s in strategy or [] for n in s.split(",") if n.strip()]
    targets = [n.strip() for s in evaluate_on or [] for n in s.split(",") if n.strip()]
    for key, value in (
        ("benchmark", benchmark),
        ("dataset", dataset),
        ("strategies", names or None),
        ("runs", runs),
        ("budget_seconds", budget_seconds),
        ("epochs", epochs),
        ("seed", seed),
        ("evolution.population", population),
        ("evolution.sample", sample),
        ("reinforce.learning_rate", learning_rate),
        ("objective.kind", objective),
        ("objective.latency_target_ms", latency_target_ms),
        ("objective.weight", latency_weight),
        ("evaluate_on", targets or None),
    ):
        if value is not None:
            overrides[key] = value
    try:
        cfg = load_nas_config(config)
        if overrides:
            cfg = cfg.with_overrides(**overrides)
        table = load_table(cfg.dataset)
        for name in cfg.evaluate_on:  # a missing table fails here, before any run
            load_table(name)
        cheapest = float(table.train_time.min()) * cfg.epochs / 200
        if cfg.budget_seconds < cheapest:
            fail(
                f"a budget of {cfg.budget_seconds:g} s buys no evaluation on {cfg.dataset}: "
                f"the cheapest query costs {cheapest:.0f} s ({cfg.epochs:g} epochs)"
            )
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = RunFolder.create(out or Path("runs") / f"nas-{cfg.dataset}-s{cfg.seed}-{stamp}")
        show = not quiet and err_console.is_terminal
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err_console,
            transient=True,
            disable=not show,
        ) as bar:
            tasks = {
                name: bar.add_task(f"{name} on {cfg.dataset}", total=cfg.runs)
                for name in cfg.strategies
            }
            _, summary = run_nas(
                cfg, folder, lambda name, run, trace: bar.advance(tasks[name]), table
            )
    except (NasConfigError, BenchmarkError, RunFolderError) as e:
        fail(str(e))
    except ValueError as e:  # e.g. a budget that buys not even one evaluation
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    if as_json:
        for r in summary["strategies"]:
            print(json.dumps(r))
        return
    Console(width=max(console.width, 110)).print(_nas_table(summary))
    if "evaluate_on" in summary:
        Console(width=max(console.width, 110)).print(_nas_transfer_table(summary))
    console.print(
        f"optimum {summary['optimum']:.2f} (published {summary['published_optimum']:.2f}); "
        f"{summary['wall_seconds']:.1f} s; run folder {folder.path} "
        "(comparison.png, pareto.png, summary.json)",
        highlight=False,
    )
