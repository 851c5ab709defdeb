"""The ``primeval`` command: the typer app and what every command shares (one-line errors)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

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


def user_errors() -> tuple[type[BaseException], ...]:
    from primeval.algorithms.program import ProgramFormatError
    from primeval.algorithms.tasks.datasets import DatasetNotFound
    from primeval.config import ConfigError
    from primeval.engine.checkpoint import CheckpointError
    from primeval.engine.workers import WorkerError
    from primeval.runs import RunFolderError

    return (
        OSError,  # a path that is not there, not a folder, not readable: one line, no traceback
        ConfigError,
        ProgramFormatError,
        RunFolderError,
        DatasetNotFound,
        CheckpointError,
        WorkerError,
    )


def fmt(x: float | None, digits: int = 6) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"


def rate(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def load_algorithm(path: Path) -> Any:
    """A run folder's best, an algorithm JSON file, or a baseline named (``neural_net``)."""
    from primeval.algorithms import baselines
    from primeval.algorithms.program import load_program
    from primeval.runs import RunFolder

    if not path.exists() and str(path) in baselines.NAMED:
        return baselines.named(str(path))
    if path.is_dir():
        return load_program(RunFolder.open(path).file(RunFolder.BEST))
    return load_program(path)


def parse_seeds(text: str) -> list[int]:
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
