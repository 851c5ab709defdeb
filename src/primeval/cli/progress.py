"""Search progress on the console: a live dashboard on a terminal, log lines otherwise."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.live import Live
from rich.table import Table

from primeval.cli.app import console, fmt
from primeval.engine.search import SearchProgress


class ConsoleReporter:
    """A live one-line dashboard on a terminal, periodic log lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.live: Live | None = None
        self.last_line = 0.0
        self.select_best = -math.inf

    def __enter__(self) -> ConsoleReporter:
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
                fmt(p.best_fitness),
                fmt(p.mean_fitness, 4),
                f"{100 * p.stats.get('fec_hit_rate', 0.0):.0f}%",
                fmt(self.select_best),
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
                f"best {fmt(p.best_fitness)}  select {fmt(self.select_best)}  "
                f"FEC {100 * p.stats.get('fec_hit_rate', 0.0):.0f}%  {p.elapsed_seconds:.0f}s",
                highlight=False,
            )

    def selected(self, experiment: int, search_fitness: float, select_fitness: float) -> None:
        self.select_best = max(self.select_best, select_fitness)

    def message(self, text: str) -> None:
        if not self.quiet:
            console.print(text, highlight=False)
