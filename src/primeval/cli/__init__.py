"""The ``primeval`` command line: one module per command (or family of commands).

Each module registers its commands on :data:`primeval.cli.app.app`; importing this package
registers them all. Commands import their app's modules inside the function, so that
``primeval --help`` starts at once and no command loads another app's heavy dependencies
(numba's compiled code, torch, Ray).
"""

from __future__ import annotations

import sys

# isort: off
# Registration order is the order of ``primeval --help``: the main job first.
from primeval.cli import search
from primeval.cli import algorithms, nas, report, bench
from primeval.cli import noisy_student, layers
from primeval.cli.app import app

# isort: on

__all__ = [
    "algorithms",
    "app",
    "bench",
    "layers",
    "main",
    "nas",
    "noisy_student",
    "report",
    "search",
]


def main() -> None:  # pragma: no cover - the console script
    try:
        app()
    except BrokenPipeError:
        sys.exit(1)
