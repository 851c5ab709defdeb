"""A NAS comparison end to end: every strategy's runs, then the run folder.

The folder (see :mod:`primeval.runs`) holds ``config.yaml``; ``progress.jsonl`` with one
line per finished run (the engine's progress fields plus ``strategy``, ``run``,
``simulated_seconds``, ``final_accuracy`` and ``arch``); ``summary.json`` (one entry per
strategy: ``runs``, ``mean``, ``std``, ... and the published values; with
``evaluate_on``, a ``transfer`` block ``{dataset: {mean, std}}``, see :mod:`.transfer`);
``curves.npz`` (per strategy the final accuracies and cells, the mean / std curves and,
with ``evaluate_on``, ``STRATEGY.transfer.DATASET``: each run's cell's accuracy there);
``comparison.png``; ``pareto.json`` and ``pareto.png`` (the accuracy / latency trade-off
found); and ``best.json`` (the best cell any run picked). The PNGs are drawn with matplotlib.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from primeval.nas.config import NasConfig, dump_nas_config
from primeval.nas.plots import figure_png
from primeval.nas.report import comparison_figure, mean_std, pareto_figure, tradeoff
from primeval.nas.runner import RunTrace, StrategyResult, build_objective, run_strategy
from primeval.nas.space import arch_string, cell_from_index
from primeval.nas.table import Nb201Table, load_table, published_optimum
from primeval.nas.transfer import transfer_accuracy, transfer_summary
from primeval.runs import RunFolder


def run_nas(
    config: NasConfig,
    folder: RunFolder | None = None,
    on_run: Callable[[str, int, RunTrace], None] | None = None,
    table: Nb201Table | None = None,
) -> tuple[list[StrategyResult], dict[str, Any]]:
    """Run every configured strategy ``config.runs`` times; write the folder if given."""
    t0 = time.perf_counter()
    table = table or load_table(config.dataset)
    if folder is not None:
        folder.write_text(RunFolder.CONFIG, dump_nas_config(config))
    results = []
    for name in config.strategies:

        def record(run: int, trace: RunTrace, name: str = name) -> None:
            if folder is not None:
                cell = trace.final_cell
                folder.append_progress(
                    {
                        "strategy": name,
                        "run": run,
                        **trace.progress.to_json(),
                        "final_accuracy": round(float(table.mean_acc[cell]), 4),
                        "arch": arch_string(cell_from_index(cell)),
                    }
                )
            if on_run is not None:
                on_run(name, run, trace)

        results.append(run_strategy(table, config, name, record))
    # NAS-Bench-201 published CIFAR-10 searches only (the other data sets' values are those
    # searches' cells looked up there): a direct search elsewhere has nothing to compare with.
    with_published = published_protocol(config) and table.dataset == "cifar10"
    entries = [r.summary(with_published) for r in results]
    if config.evaluate_on:
        for r, entry in zip(results, entries, strict=True):
            entry["transfer"] = transfer_summary(
                r.final_cells, config.evaluate_on, r.strategy if with_published else None
            )
    summary = {
        "benchmark": config.benchmark,
        "dataset": table.dataset,
        "budget_seconds": config.budget_seconds,
        "epochs_charged": config.epochs,
        "objective": build_objective(config, table).describe(),
        "optimum": round(table.optimum, 4),
        "published_optimum": published_optimum(table.dataset),
        **({"evaluate_on": list(config.evaluate_on)} if config.evaluate_on else {}),
        "strategies": entries,
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    if folder is not None:
        write_reports(folder, config, table, results, summary)
    return results, summary


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
