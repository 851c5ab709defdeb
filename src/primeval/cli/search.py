"""``primeval search``: evolve an algorithm, write a run folder, print what was found."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from primeval.cli.app import app, console, err_console, fail, fmt, user_errors
from primeval.cli.progress import ConsoleReporter

# The shipped configs, named in the help (read from the package folder: nothing imported).
SHIPPED = sorted(p.stem for p in (Path(__file__).parents[1] / "configs").glob("*.yaml"))


def time_budget_overrides(
    cfg: Any, time_budget: float | None, max_evals: int | None, max_experiments: int | None
) -> dict[str, Any]:
    """What ``--time-budget T`` given without ``--max-evals`` means: the run lasts T seconds
    unless it solves. A config of one experiment has its evaluation cap lifted; a config that
    repeats experiments repeats them until the time is up (each still capped at ``max_evals``),
    unless ``--max-experiments`` says otherwise."""
    if time_budget is None or max_evals is not None:
        return {}
    experiments = cfg.select.max_experiments if max_experiments is None else max_experiments
    if experiments == 1:
        return {"search.max_evals": None}
    if max_experiments is None and experiments > 1:
        return {"select.max_experiments": 0}
    return {}


@app.command()
def search(
    config: Annotated[
        str | None,
        typer.Argument(help="YAML config, or a shipped one: " + ", ".join(SHIPPED) + "."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed (overrides the config).")] = None,
    max_evals: Annotated[
        int | None, typer.Option("--max-evals", help="Evaluations per experiment.")
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            "--time-budget",
            help="Seconds for the whole run; without --max-evals the run lasts this long "
            "unless it solves.",
        ),
    ] = None,
    max_experiments: Annotated[
        int | None,
        typer.Option("--max-experiments", help="Experiments before giving up (0: no limit)."),
    ] = None,
    interpreter: Annotated[
        str | None, typer.Option(help="compiled (numba) or reference (plain numpy).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default runs/NAME-TIMESTAMP).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Parallel workers, each with its own population (an island)."),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="Where workers run: inline (1 worker), processes or ray."),
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Run the workers on this Ray cluster.")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue a stopped or killed run from its folder's checkpoint."),
    ] = None,
    data_path: Annotated[
        str | None,
        typer.Option(
            "--data-path",
            help="Where the data set's files are, for every projected task set "
            "(e.g. a cifar-10-batches-py folder).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Search for an algorithm; write a run folder; print the best algorithm found."""
    from primeval.algorithms.config import load_config, with_data_path
    from primeval.algorithms.experiment import run_experiments
    from primeval.algorithms.printing import to_python
    from primeval.engine.runs import RunFolder

    try:
        overrides: dict[str, Any] = {}
        if seed is not None:
            overrides["seed"] = seed
        if max_evals is not None:
            overrides["search.max_evals"] = max_evals
        if time_budget is not None:
            overrides["search.time_budget"] = time_budget
        if max_experiments is not None:
            overrides["select.max_experiments"] = max_experiments
        if interpreter is not None:
            overrides["interpreter"] = interpreter
        if workers is not None:
            overrides["workers.count"] = workers
        where: dict[str, Any] = {}  # where workers run: may change on resume
        if backend is not None:
            where["workers.backend"] = backend
        if ray_address is not None:
            where["workers.ray_address"] = ray_address
            where.setdefault("workers.backend", "ray")
        from primeval.algorithms.experiment import preload_datasets
        from primeval.engine.heap import release_freed_memory

        release_freed_memory()  # before reading data and compiling: see engine.heap
        point = None
        if resume is not None:
            from primeval.algorithms.experiment import load_run, resume_config

            if out is not None:
                fail("--resume continues the run in its own folder; leave out --out")
            folder = RunFolder.open(resume)
            if not folder.file(RunFolder.CONFIG).is_file():
                fail(f"{folder.path}: has no {RunFolder.CONFIG}; not a run folder")
            saved = load_config(folder.file(RunFolder.CONFIG))
            given = load_config(config) if config is not None else saved
            overrides |= time_budget_overrides(given, time_budget, max_evals, max_experiments)
            if overrides or where:
                given = given.with_overrides(**overrides, **where)
            if data_path is not None:
                given = with_data_path(given, data_path)
            # budgets may be extended or shortened; any other change is named and refused
            cfg = resume_config(saved, given)
            point = load_run(folder, cfg)
            preload_datasets(cfg)
            for warning in point.warnings:
                err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        else:
            cfg = load_config(config)
            overrides |= time_budget_overrides(cfg, time_budget, max_evals, max_experiments)
            if overrides or where:
                cfg = cfg.with_overrides(**overrides, **where)
            if data_path is not None:
                cfg = with_data_path(cfg, data_path)
            preload_datasets(cfg)  # a missing data set is reported before any folder or compiling
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            folder = RunFolder.create(out or Path("runs") / f"{cfg.name}-s{cfg.seed}-{stamp}")
        if not quiet:
            verb = "resuming" if point is not None else "search"
            console.print(
                f"primeval {verb} [bold]{cfg.name}[/] seed {cfg.seed}, "
                f"{cfg.workers.count} worker(s) ({cfg.workers.resolved_backend()})"
                f" -> {folder.path}",
                highlight=False,
            )
        if cfg.interpreter == "compiled":
            from primeval.algorithms.experiment import compile_in_child
            from primeval.algorithms.interpret.compiled import CompiledInterpreter

            with console.status("compiling (the first run on a machine: 2-3 min)"):
                compile_in_child()
                CompiledInterpreter().warm_up()
        with ConsoleReporter(quiet) as reporter:
            summary, best = run_experiments(cfg, folder, reporter, resume=point)
    except user_errors() as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    if not quiet:
        # The export's predict() returns the scalar s1: for multi-class tasks show every line.
        prune = cfg.tasks.kind != "multiclass"
        pruned = " (instructions that cannot affect the prediction pruned)" if prune else ""
        console.print(f"\n[bold]Best algorithm[/]{pruned}:")
        print(to_python(best, prune=prune))
    status = "[green]solved[/]" if summary.solved else "[yellow]not solved[/]"
    console.print(
        f"{status}: select fitness {fmt(summary.select_fitness)}, final fitness "
        f"{fmt(summary.final_fitness)}, {summary.evaluations:,} evaluations in "
        f"{summary.elapsed_seconds:.1f}s ({summary.experiments} experiment(s)); "
        f"run folder {folder.path}",
        highlight=False,
    )
    if summary.stopped == "interrupted":
        err_console.print(
            f"interrupted: checkpoint written; continue with --resume {folder.path}",
            highlight=False,
        )
        raise typer.Exit(130)
