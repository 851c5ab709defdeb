"""A NAS comparison end to end: every strategy's runs on the engine's archipelago, then the
run folder.

Runs go ``workers.count`` at a time (:mod:`.islands`); the engine's experiment loop keeps
``checkpoint.npz`` (finished runs' traces, running runs' states), so ``--resume`` continues
a stopped or killed comparison to the same summary. The folder (see
:mod:`primeval.engine.runs`) holds ``config.yaml``; ``progress.jsonl`` with one line per
finished run (the engine's progress fields plus ``strategy``, ``run``,
``simulated_seconds``, ``final_accuracy`` and ``arch``); ``summary.json`` (one entry per
strategy: ``runs``, ``mean``, ``std``, ... and the published values; with
``evaluate_on``, a ``transfer`` block ``{dataset: {mean, std}}``, see :mod:`.transfer`);
``curves.npz`` (per strategy the final accuracies and cells, the mean / std curves and,
with ``evaluate_on``, ``STRATEGY.transfer.DATASET``: each run's cell's accuracy there);
``comparison.png``; ``pareto.json`` and ``pareto.png`` (the accuracy / latency trade-off
found); and ``best.json`` (the best cell any run picked). The PNGs are drawn with matplotlib.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from primeval.engine.archipelago import Archipelago
from primeval.engine.config import WHERE_WORKERS_RUN, Budgets
from primeval.engine.experiments import LoopSettings, Outcome, ResumePoint, load_resume
from primeval.engine.experiments import run_experiments as run_on_engine
from primeval.engine.runs import RunFolder
from primeval.engine.search import SearchProgress
from primeval.nas.config import NasConfig, dump_nas_config
from primeval.nas.islands import NasIslands, trace_of
from primeval.nas.plots import figure_png
from primeval.nas.report import comparison_figure, mean_std, pareto_figure, tradeoff
from primeval.nas.runner import GRID_POINTS, RunTrace, StrategyResult, build_objective, curve
from primeval.nas.space import arch_string, cell_from_index
from primeval.nas.table import Nb201Table, load_table, published_optimum
from primeval.nas.transfer import transfer_accuracy, transfer_summary


class NasExperiments:
    """What a NAS comparison adds to the engine's experiment loop: each finished run's trace
    (kept in the checkpoint, so a resumed comparison has every run), its progress line, and
    the summary and reports once every run is done."""

    solved = False
    writes_ticks = False  # progress.jsonl has one line per finished run

    def __init__(
        self,
        app: NasIslands,
        folder: RunFolder,
        table: Nb201Table,
        on_run: Callable[[str, int, RunTrace], None] | None,
    ) -> None:
        self.app = app
        self.config = app.config
        self.folder = folder
        self.table = table
        self.on_run = on_run
        self.traces: dict[str, dict[int, RunTrace]] = {s: {} for s in self.config.strategies}
        self.wall: dict[str, float] = dict.fromkeys(self.config.strategies, 0.0)
        self.started = time.perf_counter()
        self.results: list[StrategyResult] = []

    def islands(self, experiment: int) -> int:
        self.started = time.perf_counter()
        return len(self.app.runs(experiment)[1])

    def on_tick(self, experiment: int, arch: Archipelago, p: SearchProgress) -> None:
        return None

    def on_experiment_end(self, experiment: int, arch: Archipelago, complete: bool) -> None:
        if not complete:
            return
        strategy, runs = self.app.runs(experiment)
        took = time.perf_counter() - self.started
        self.wall[strategy] += took
        for island, run in enumerate(runs):
            state = arch.ask(island, "state")
            if state is None:  # its worker died after the run ended: the run is lost
                raise RuntimeError(f"{strategy} run {run}: its worker died; resume the run")
            cells, fitness, times = trace_of(state)
            st = arch.status[island]
            progress = SearchProgress(
                evaluations=st.evaluations,
                elapsed_seconds=took,
                evals_per_second=st.evaluations / took if took > 0 else 0.0,
                best_fitness=st.best_fitness,
                mean_fitness=st.mean_fitness,
                stats=st.stats,
            )
            trace = RunTrace(cells, fitness, times, progress)
            self.traces[strategy][run] = trace
            cell = trace.final_cell
            self.folder.append_progress(
                {
                    "strategy": strategy,
                    "run": run,
                    **progress.to_json(),
                    "final_accuracy": round(float(self.table.mean_acc[cell]), 4),
                    "arch": arch_string(cell_from_index(cell)),
                }
            )
            if self.on_run is not None:
                self.on_run(strategy, run, trace)

    def on_next(self, experiment: int) -> None:
        return None

    def to_json(self) -> Any:
        return {
            "wall": self.wall,
            "traces": {
                s: {
                    str(run): {
                        "cells": [int(c) for c in t.cells],
                        "fitness": [float(f) for f in t.fitness],
                        "times": [float(x) for x in t.times],
                    }
                    for run, t in runs.items()
                }
                for s, runs in self.traces.items()
            },
        }

    def load_json(self, data: Any) -> None:
        self.wall = {s: float(w) for s, w in data["wall"].items()}
        for s, runs in data["traces"].items():
            for run, t in runs.items():
                fitness = np.array(t["fitness"], dtype=float)
                finite = fitness[np.isfinite(fitness)]
                progress = SearchProgress(
                    len(fitness), 0.0, 0.0, float(np.max(finite)) if len(finite) else -np.inf, 0.0
                )
                self.traces[s][int(run)] = RunTrace(
                    np.array(t["cells"], dtype=np.intp), fitness, np.array(t["times"]), progress
                )

    def summary(self, outcome: Outcome) -> dict[str, Any]:
        if outcome.stopped != "max_experiments":
            return {"stopped": outcome.stopped, "runs_done": self.runs_done()}
        config, table = self.config, self.table
        objective = build_objective(config, table)
        grid = np.linspace(0.0, config.budget_seconds, GRID_POINTS)
        for name in config.strategies:
            traces = [self.traces[name][run] for run in range(config.runs)]
            evaluated = np.zeros(table.n_cells, dtype=np.int64)
            for trace in traces:
                np.add.at(evaluated, trace.cells, 1)
            finals = np.array([t.final_cell for t in traces], dtype=np.intp)
            self.results.append(
                StrategyResult(
                    name,
                    table.dataset,
                    finals,
                    table.mean_acc[finals],
                    np.array([len(t.cells) for t in traces], dtype=np.intp),
                    grid,
                    np.array([curve(t, table.mean_acc, grid) for t in traces]),
                    evaluated,
                    self.wall[name],
                )
            )
        # NAS-Bench-201 published CIFAR-10 searches only (the other data sets' values are
        # those searches' cells looked up there): a direct search elsewhere has nothing to
        # compare with.
        with_published = published_protocol(config) and table.dataset == "cifar10"
        entries = [r.summary(with_published) for r in self.results]
        if config.evaluate_on:
            for r, entry in zip(self.results, entries, strict=True):
                entry["transfer"] = transfer_summary(
                    r.final_cells, config.evaluate_on, r.strategy if with_published else None
                )
        summary = {
            "benchmark": config.benchmark,
            "dataset": table.dataset,
            "budget_seconds": config.budget_seconds,
            "epochs_charged": config.epochs,
            "objective": objective.describe(),
            "optimum": round(table.optimum, 4),
            "published_optimum": published_optimum(table.dataset),
            **({"evaluate_on": list(config.evaluate_on)} if config.evaluate_on else {}),
            "strategies": entries,
            "wall_seconds": round(outcome.elapsed_seconds, 3),
        }
        write_reports(self.folder, config, table, self.results, summary)
        return summary

    def runs_done(self) -> int:
        return sum(len(runs) for runs in self.traces.values())


def nas_fingerprint(config: NasConfig) -> str:
    """What a NAS checkpoint must be resumed with: the config less where workers run."""
    data = config.model_dump(mode="json")
    for path in WHERE_WORKERS_RUN:
        section, leaf = path.split(".")
        data[section][leaf] = None
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def load_nas_run(folder: RunFolder, config: NasConfig) -> ResumePoint:
    """The checkpoint of ``folder`` to continue with ``config``; raises a one-line error."""
    budgets = Budgets(max_experiments=NasIslands(config).experiments)
    return load_resume(folder, nas_fingerprint(config), config.workers.count, budgets)


def run_nas(
    config: NasConfig,
    folder: RunFolder,
    on_run: Callable[[str, int, RunTrace], None] | None = None,
    table: Nb201Table | None = None,
    resume: ResumePoint | None = None,
) -> tuple[list[StrategyResult], dict[str, Any]]:
    """Run every configured strategy ``config.runs`` times on the engine's archipelago
    (``workers.count`` runs at a time); write the folder. ``resume`` continues a comparison
    that was stopped or killed, from its checkpoint (see :func:`load_nas_run`). The summary
    of an interrupted comparison says ``stopped`` and how many runs were done."""
    table = table or load_table(config.dataset)
    folder.write_text(RunFolder.CONFIG, dump_nas_config(config))
    app = NasIslands(config)
    hooks = NasExperiments(app, folder, table, on_run)
    settings = LoopSettings(
        workers=config.workers,
        budgets=Budgets(max_experiments=app.experiments),
        fingerprint=nas_fingerprint(config),
        progress_every_seconds=1.0,
        checkpoint_every_seconds=config.checkpoint.every_seconds,
    )
    run_on_engine(app, hooks, folder, settings, resume)
    return hooks.results, folder.read_json(RunFolder.SUMMARY)


def published_protocol(config: NasConfig) -> bool:
    """Whether the published NAS-Bench-201 numbers are comparable with this comparison."""
    return (
        config.objective.kind == "accuracy"
        and config.budget_seconds == 12000
        and config.epochs == 12
        and (config.evolution.population, config.evolution.sample) == (10, 3)
    )


def write_reports(
    folder: RunFolder,
    config: NasConfig,
    table: Nb201Table,
    results: list[StrategyResult],
    summary: dict[str, Any],
) -> None:
    objective = build_objective(config, table)
    folder.write_json(RunFolder.SUMMARY, summary)
    arrays: dict[str, np.ndarray] = {}
    for r in results:
        mean, std = mean_std(r.curves)
        arrays |= {
            f"{r.strategy}.final_accuracy": r.final_accuracy,
            f"{r.strategy}.final_cells": r.final_cells,
            f"{r.strategy}.evaluations": r.evaluations,
            f"{r.strategy}.mean": mean,
            f"{r.strategy}.std": std,
        }
        for name in config.evaluate_on:
            arrays[f"{r.strategy}.transfer.{name}"] = transfer_accuracy(r.final_cells, name)
    arrays["grid_seconds"] = results[0].grid
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    folder.file("curves.npz").write_bytes(buf.getvalue())
    comparison = comparison_figure(results, table, config.budget_seconds)
    folder.file("comparison.png").write_bytes(figure_png(comparison))
    folder.write_json("pareto.json", tradeoff(results, table, objective))
    folder.file("pareto.png").write_bytes(figure_png(pareto_figure(results, table, objective)))
    picks = np.concatenate([r.final_cells for r in results])
    names = np.concatenate([[r.strategy] * len(r.final_cells) for r in results])
    k = int(np.argmax(table.mean_acc[picks]))
    best = int(picks[k])
    folder.write_json(
        RunFolder.BEST,
        {
            "format": "primeval.nas-bench-201-cell/1",
            "arch": arch_string(cell_from_index(best)),
            "cell": list(cell_from_index(best)),
            "strategy": str(names[k]),
            **{key: v for key, v in table.lookup(cell_from_index(best)).items()},
        },
    )
