"""Commands on algorithms: ``show``, ``export``, ``evaluate``, ``ops``, ``config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from primeval.cli.app import app, console, err_console, fail, fmt, load_algorithm, user_errors


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
        program = load_algorithm(path)
    except user_errors() as e:
        fail(str(e))
    print(to_python(program, prune=not all_))


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
        program = load_algorithm(algorithm)
        text = export_python(program, prune=not all_, class_name=class_name, source=algorithm.name)
    except user_errors() as e:
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
        programs = [None if parse_baseline(a) else load_algorithm(Path(a)) for a in algorithms]
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
    except user_errors() as e:
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
            f"{fmt(sc.stderr, 4)} s.e.; min {result['min']:.6f}, max {result['max']:.6f}{rate})",
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
    except user_errors() as e:
        fail(str(e))
    print(dump_config(cfg), end="")
