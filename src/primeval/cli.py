"""The ``primeval`` command line."""

from __future__ import annotations

import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from primeval.engine.search import SearchProgress

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="primeval: evolve machine-learning algorithms from scratch (AutoML-Zero).",
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and a non-zero exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _user_errors() -> tuple[type[BaseException], ...]:
    from primeval.algorithms.program import ProgramFormatError
    from primeval.algorithms.tasks.datasets import DatasetNotFound
    from primeval.config import ConfigError
    from primeval.engine.checkpoint import CheckpointError
    from primeval.engine.workers import WorkerError
    from primeval.runs import RunFolderError

    return (
        ConfigError,
        ProgramFormatError,
        RunFolderError,
        DatasetNotFound,
        CheckpointError,
        WorkerError,
    )


def _fmt(x: float | None, digits: int = 6) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"


class _ConsoleReporter:
    """A live one-line dashboard on a terminal, periodic log lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.live: Live | None = None
        self.last_line = 0.0
        self.select_best = -math.inf

    def __enter__(self) -> _ConsoleReporter:
        if not self.quiet and console.is_terminal:
            self.live = Live(self._table(None, 0), console=console, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def _table(self, p: SearchProgress | None, experiment: int) -> Table:
        t = Table(box=None, show_edge=False)
        for col in (
            "exp",
            "evaluations",
            "evals/s",
            "best",
            "mean",
            "FEC hits",
            "select",
            "elapsed",
        ):
            t.add_column(col, justify="right")
        if p is not None:
            t.add_row(
                str(experiment),
                f"{p.evaluations:,}",
                f"{p.evals_per_second:,.0f}",
                _fmt(p.best_fitness),
                _fmt(p.mean_fitness, 4),
                f"{100 * p.stats.get('fec_hit_rate', 0.0):.0f}%",
                _fmt(self.select_best),
                f"{p.elapsed_seconds:.0f}s",
            )
        return t

    def progress(self, experiment: int, p: SearchProgress) -> None:
        if self.quiet:
            return
        if self.live is not None:
            self.live.update(self._table(p, experiment))
        elif time.monotonic() - self.last_line >= 10.0:
            self.last_line = time.monotonic()
            console.print(
                f"exp {experiment}  evals {p.evaluations:,}  {p.evals_per_second:,.0f}/s  "
                f"best {_fmt(p.best_fitness)}  select {_fmt(self.select_best)}  "
                f"FEC {100 * p.stats.get('fec_hit_rate', 0.0):.0f}%  {p.elapsed_seconds:.0f}s",
                highlight=False,
            )

    def selected(self, experiment: int, search_fitness: float, select_fitness: float) -> None:
        self.select_best = max(self.select_best, select_fitness)

    def message(self, text: str) -> None:
        if not self.quiet:
            console.print(text, highlight=False)


@app.command()
def search(
    config: Annotated[
        str | None,
        typer.Argument(
            help="YAML config, or a shipped one: demo, nonlinear, nonlinear_setup, digits, mnist, "
            "cifar10"
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed (overrides the config).")] = None,
    max_evals: Annotated[
        int | None, typer.Option("--max-evals", help="Evaluations per experiment.")
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Seconds for the whole run.")
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
    from primeval.algorithms.experiment import run_experiments
    from primeval.algorithms.printing import to_python
    from primeval.config import ConfigError, load_config, with_data_path
    from primeval.runs import RunFolder

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
            from primeval.algorithms.parallel import config_hash, load_resume

            if out is not None:
                fail("--resume continues the run in its own folder; leave out --out")
            folder = RunFolder.open(resume)
            if not folder.file(RunFolder.CONFIG).is_file():
                fail(f"{folder.path}: has no {RunFolder.CONFIG}; not a run folder")
            cfg = load_config(folder.file(RunFolder.CONFIG))
            given = load_config(config) if config is not None else cfg
            if overrides:
                given = given.with_overrides(**overrides)
            if data_path is not None:
                given = with_data_path(given, data_path)
            if config_hash(given) != config_hash(cfg):
                raise ConfigError(
                    f"{folder.path}: resume with a changed config is not possible "
                    "(the config or options differ from the run's config.yaml)"
                )
            if where:
                cfg = cfg.with_overrides(**where)
            if cfg.interpreter != "compiled":
                fail(
                    "--resume needs interpreter: compiled (the reference path keeps no checkpoint)"
                )
            point = load_resume(folder, cfg)
            preload_datasets(cfg)
            for warning in point.warnings:
                err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        else:
            cfg = load_config(config)
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
        with _ConsoleReporter(quiet) as reporter:
            summary, best = run_experiments(cfg, folder, reporter, resume=point)
    except _user_errors() as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    if not quiet:
        console.print(
            "\n[bold]Best algorithm[/] (instructions that cannot affect the prediction pruned):"
        )
        print(to_python(best, prune=True))
    status = "[green]solved[/]" if summary.solved else "[yellow]not solved[/]"
    console.print(
        f"{status}: select fitness {_fmt(summary.select_fitness)}, final fitness "
        f"{_fmt(summary.final_fitness)}, {summary.evaluations:,} evaluations in "
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


def _load_algorithm(path: Path) -> Any:
    """A run folder's best, an algorithm JSON file, or a baseline named (``neural_net``)."""
    from primeval.algorithms import baselines
    from primeval.algorithms.program import load_program
    from primeval.runs import RunFolder

    if not path.exists() and str(path) in baselines.NAMED:
        return baselines.named(str(path))
    if path.is_dir():
        return load_program(RunFolder.open(path).file(RunFolder.BEST))
    return load_program(path)


@app.command()
def show(
    path: Annotated[
        Path, typer.Argument(help="A run folder, an algorithm JSON file or a baseline's name.")
    ],
    all_: Annotated[bool, typer.Option("--all", help="The raw program, nothing pruned.")] = False,
) -> None:
    """Print an algorithm as readable Python/numpy code."""
    from primeval.algorithms.printing import to_python

    try:
        program = _load_algorithm(path)
    except _user_errors() as e:
        fail(str(e))
    print(to_python(program, prune=not all_))


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run folder.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The HTML file (default RUN/report.html).")
    ] = None,
) -> None:
    """Write an HTML report on a run: fitness plots, the best algorithm's ancestry with the
    techniques as they appeared, and the algorithm as code."""
    from primeval.algorithms.report import ReportError, write_report

    errors: tuple[type[BaseException], ...] = (ReportError, *_user_errors())
    try:
        path = write_report(run, output)
    except errors as e:
        fail(str(e))
    print(path)


def _seeds(text: str) -> list[int]:
    """``0-9`` or ``1,4,7``."""
    try:
        if "-" in text:
            a, b = text.split("-", 1)
            seeds = list(range(int(a), int(b) + 1))
        else:
            seeds = [int(s) for s in text.split(",")]
    except ValueError:
        fail(f"--seeds: expected a range like 0-9 or a list like 1,4,7, got {text!r}")
    if not seeds:
        fail(f"--seeds: {text!r} names no seed")
    return seeds


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

    from primeval.algorithms.report.compare import compare as run_compare
    from primeval.config import ConfigError, load_config

    seed_list = _seeds(seeds)
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


@app.command("export")
def export_algorithm(
    algorithm: Annotated[
        Path, typer.Argument(help="An algorithm JSON file, a run folder or a baseline's name.")
    ],
    format_: Annotated[
        str, typer.Option("--format", "-f", help="Output format: python (a numpy module).")
    ] = "python",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing output file.")
    ] = False,
    all_: Annotated[
        bool, typer.Option("--all", help="Keep instructions that cannot affect predictions.")
    ] = False,
    class_name: Annotated[str, typer.Option(help="Name of the exported class.")] = "Algorithm",
) -> None:
    """Write an algorithm as a standalone module (numpy only) that trains and predicts."""
    from primeval.export import export_python
    from primeval.runs import atomic_write

    if format_ != "python":
        fail(f"unknown export format {format_!r} (available: python)")
    if output is not None:
        if output.exists() and not force:
            fail(f"{output} already exists; pass --force to overwrite it")
        if output.is_dir():
            fail(f"{output} is a folder, not a file")
        if not output.parent.is_dir():
            fail(f"{output.parent}: no such folder")
    try:
        program = _load_algorithm(algorithm)
        text = export_python(program, prune=not all_, class_name=class_name, source=algorithm.name)
    except _user_errors() as e:
        fail(str(e))
    except ValueError as e:  # e.g. a class name that is not an identifier
        fail(str(e))
    if output is None:
        print(text, end="")
        return
    try:
        atomic_write(output, text)
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror or e}")
    err_console.print(f"wrote {output}", highlight=False)


@app.command()
def evaluate(
    algorithms: Annotated[
        list[str],
        typer.Argument(
            help="Algorithm JSON files, run folders, baselines by name (e.g. neural_net), or "
            "baselines with tuning: "
            "baseline:logistic_regression, baseline:two_layer_relu_net (learning rate tuned "
            "on the validation split), baseline:NAME@LR (a fixed rate)."
        ),
    ],
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="Config whose tasks to use (default: demo)."),
    ] = None,
    tasks: Annotated[
        str, typer.Option(help="Which task set of the config: search, select or final.")
    ] = "final",
    split: Annotated[
        str,
        typer.Option(help="Score on the valid split, or on the test split (train, then test)."),
    ] = "valid",
    n_tasks: Annotated[
        int | None,
        typer.Option(
            "--n-tasks",
            help="Tasks to build instead of the config's; projected tasks cycle through the "
            "pairs with a new projection each cycle.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for tasks without a fixed seed.")] = 12345,
    interpreter: Annotated[str | None, typer.Option(help="compiled or reference.")] = None,
    data_path: Annotated[
        str | None,
        typer.Option("--data-path", help="Where the data set's files are (e.g. CIFAR-10)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per algorithm, one per line.")
    ] = False,
) -> None:
    """Evaluate saved algorithms and baselines on fresh tasks of a config (mean +- s.e.)."""
    from primeval.algorithms.experiment import build_tasks, make_interpreter
    from primeval.algorithms.scoring import SPLITS, parse_baseline, score
    from primeval.config import load_config, with_data_path

    if split not in SPLITS:
        fail(f"--split must be valid or test, not {split!r}")
    if n_tasks is not None and n_tasks < 1:
        fail("--n-tasks must be >= 1")
    scores = []
    try:
        cfg = load_config(config)
        if data_path is not None:
            cfg = with_data_path(cfg, data_path)
        programs = [None if parse_baseline(a) else _load_algorithm(Path(a)) for a in algorithms]
        choice = {"search": cfg.tasks, "select": cfg.select.tasks, "final": cfg.final.tasks}
        if tasks not in choice:
            fail(f"--tasks must be search, select or final, not {tasks!r}")
        tc = choice[tasks]
        if tc is None:
            fail(f"the config has no {tasks} tasks")
        if n_tasks is not None:
            tc = tc.model_copy(update={"n_tasks": n_tasks})
        task_set = build_tasks(tc, seed)
        interp = make_interpreter(interpreter or cfg.interpreter)
        for name, program in zip(algorithms, programs, strict=True):
            scores.append(score(name, program, task_set, interp, seed, split, cfg.fitness.combine))
    except _user_errors() as e:
        fail(str(e))
    except ValueError as e:  # memory too small, unknown interpreter or baseline, no test split
        fail(str(e))
    for sc in scores:
        result = {"tasks": tasks, **sc.to_json()}
        if as_json:
            print(json.dumps(result))
            continue
        rate = "" if sc.lr is None else f"; learning rate {sc.lr:g}"
        console.print(
            f"{sc.algorithm}: fitness {result['fitness']:.6f} ({sc.combine} over "
            f"{len(task_set)} {tasks} tasks, {split} split; mean {sc.mean:.4f} +- "
            f"{_fmt(sc.stderr, 4)} s.e.; min {result['min']:.6f}, max {result['max']:.6f}{rate})",
            highlight=False,
        )


@app.command()
def ops() -> None:
    """List the registered ops."""
    from primeval.algorithms.ops import REGISTRY

    t = Table("code", "name", "inputs", "output", "data", "example")
    for s in REGISTRY:
        fields = {"out": "out", "in1": "in1", "in2": "in2", **{f.name: f.name for f in s.data}}
        t.add_row(
            str(s.code),
            s.name,
            " ".join(k.value for k in s.inputs),
            s.output.value if s.output else "",
            " ".join(f.name for f in s.data),
            s.template.format(**fields),
        )
    console.print(t)


@app.command("config")
def show_config(
    name: Annotated[str | None, typer.Argument(help="A shipped config name or a file.")] = None,
) -> None:
    """Print a config, resolved with every default filled in."""
    from primeval.config import dump_config, load_config

    try:
        cfg = load_config(name)
    except _user_errors() as e:
        fail(str(e))
    print(dump_config(cfg), end="")


def _rate(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


@app.command()
def bench(
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            "-c",
            help="Config to measure (repeatable): demo, nonlinear, projected16 or a YAML file. "
            "Default: those three.",
        ),
    ] = None,
    interpreter: Annotated[
        list[str] | None,
        typer.Option(help="compiled or reference (repeatable). Default: both."),
    ] = None,
    fec: Annotated[
        bool | None,
        typer.Option("--fec/--no-fec", help="Only with FEC, or only without. Default: both."),
    ] = None,
    seconds: Annotated[
        float, typer.Option(help="Seconds of search per compiled measurement.")
    ] = 10.0,
    reference_seconds: Annotated[
        float,
        typer.Option(
            "--reference-seconds",
            help="Seconds of search per reference measurement (at most --seconds).",
        ),
    ] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Search throughput per core: whole searches, one fresh process per measurement."""
    from primeval import bench as B
    from primeval.config import load_config

    configs = list(dict.fromkeys(config or B.CONFIGS))
    interpreters = list(dict.fromkeys(interpreter or B.INTERPRETERS))
    for name in interpreters:
        if name not in B.INTERPRETERS:
            fail(f"--interpreter must be compiled or reference, not {name!r}")
    for secs, option in ((seconds, "--seconds"), (reference_seconds, "--reference-seconds")):
        if not (math.isfinite(secs) and secs > 0):
            fail(f"{option} must be a positive number of seconds, not {secs}")
    for name in configs:
        try:
            load_config(name)
        except _user_errors() as e:
            fail(str(e))
    plan = B.Plan(
        configs=tuple(configs),
        interpreters=tuple(interpreters),
        fecs=(True, False) if fec is None else (fec,),
        seconds=seconds,
        reference_seconds=reference_seconds,
    )
    errors: list[str] = []

    def started(cfg: str, on: bool, interp: str, secs: float) -> None:
        if not as_json:
            err_console.print(
                f"measuring {cfg} / {interp} / FEC {'on' if on else 'off'} ({secs:g} s) ...",
                highlight=False,
            )

    def done(m: B.Measurement) -> None:
        if as_json:
            print(json.dumps(m.to_json()), flush=True)

    def failed(e: B.BenchError) -> None:
        errors.append(str(e))
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)

    if not as_json and "compiled" in interpreters:
        err_console.print(
            "loading the compiled code (compiling it on a new machine takes minutes) ...",
            highlight=False,
        )
    try:
        results = B.run_plan(plan, on_result=done, on_error=failed, on_start=started)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    if not as_json:
        t = Table(
            title="Search throughput, one core",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        for col in (
            "config",
            "interpreter",
            "FEC",
            "indiv./s",
            "evals/s",
            "hits",
            "instr./eval",
            "Minstr./s",
            "RSS MB",
            "1st eval s",
            "vs ref.",
        ):
            t.add_column(col, justify="left" if col in ("config", "interpreter") else "right")
        for m in results:
            ips = None if m.instructions_per_s is None else m.instructions_per_s / 1e6
            t.add_row(
                m.config,
                m.interpreter,
                "on" if m.fec else "off",
                _rate(m.individuals_per_s),
                _rate(m.evaluations_per_s),
                "-" if m.fec_hit_rate is None else f"{100 * m.fec_hit_rate:.0f}%",
                _rate(m.instructions_per_evaluation),
                _rate(ips, 1),
                _rate(m.peak_rss_mb),
                _rate(m.first_eval_s, 2),
                "-" if m.ratio_compiled_reference is None else f"{m.ratio_compiled_reference:g}x",
            )
        Console(width=max(console.width, 120)).print(t)
    if errors:
        raise typer.Exit(1)


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


def main() -> None:  # pragma: no cover - the console script
    try:
        app()
    except BrokenPipeError:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
