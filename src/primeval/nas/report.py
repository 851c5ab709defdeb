"""What a NAS comparison reports: the accuracy-over-time plot, the accuracy/latency
trade-off the searches found (Pareto fronts, :func:`primeval.engine.pareto.tradeoff_front`),
and the best cell. The plots are matplotlib figures (:mod:`.plots`; matplotlib is imported
when one is drawn), saved as PNG; :func:`write_page` gathers a run folder's figures and
tables into one self-contained HTML page (:mod:`primeval.plots`)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from primeval.engine.pareto import tradeoff_front
from primeval.engine.runs import RunFolder, RunFolderError
from primeval.nas.objective import Objective
from primeval.nas.plots import finite_range, new_figure, padded
from primeval.nas.runner import StrategyResult
from primeval.nas.space import arch_string, cell_from_index
from primeval.nas.strategies import STRATEGIES
from primeval.nas.table import Nb201Table
from primeval.plots import code, image, key_values, note, number, page, table

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def mean_std(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread over runs at each time, NaN until every run has a result."""
    ok = np.isfinite(curves).all(axis=0)
    mean = np.full(curves.shape[1], np.nan)
    std = np.full(curves.shape[1], np.nan)
    mean[ok] = curves[:, ok].mean(axis=0)
    std[ok] = curves[:, ok].std(axis=0)
    return mean, std


def comparison_figure(results: list[StrategyResult], table: Nb201Table, budget: float) -> Figure:
    """Best validation accuracy (mean +- std over runs) against simulated time: one line
    (and band) per strategy, labelled with its strategy's name, and the optimum dashed."""
    late: list[np.ndarray] = []
    for r in results:
        mean, std = mean_std(r.curves)
        late.append((mean - std)[r.grid >= 0.1 * budget])
    lo, _ = finite_range(*late)
    hi = max(table.optimum, *(finite_range(mean_std(r.curves)[0])[1] for r in results))
    runs = {len(r.final_accuracy) for r in results}
    fig = new_figure()
    ax = fig.add_subplot()
    ax.axhline(table.optimum, color="0.55", lw=1.2, ls="--", label=f"optimum {table.optimum:.2f}")
    for k, r in enumerate(results):
        color = f"C{k % 10}"
        mean, std = mean_std(r.curves)
        ax.fill_between(r.grid, mean - std, mean + std, color=color, alpha=0.18, lw=0)
        label = f"{STRATEGIES[r.strategy].label}: {np.mean(r.final_accuracy):.2f} +- "
        label += f"{np.std(r.final_accuracy):.2f}"
        ax.plot(r.grid, mean, color=color, lw=2.0, label=label)
    ax.set_xlim(0.0, budget)
    ax.set_ylim(*padded(lo, hi))
    ax.set_title(
        f"NAS-Bench-201 {table.dataset}: {'/'.join(map(str, sorted(runs)))} runs "
        "per strategy (mean +- std)",
        fontsize=11,
    )
    ax.set_xlabel("simulated search time (s)")
    ax.set_ylabel("validation accuracy of the best cell found (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def _point(table: Nb201Table, index: int) -> dict[str, Any]:
    return {
        "arch": arch_string(cell_from_index(index)),
        "accuracy": round(float(table.mean_acc[index]), 4),
        "latency_ms": round(1000 * float(table.latency[index]), 4),
    }


def tradeoff(
    results: list[StrategyResult], table: Nb201Table, objective: Objective
) -> dict[str, Any]:
    """Per strategy: the Pareto front (accuracy up, latency down) of every cell its runs
    evaluated, and where its final picks lie; and the table's own front."""
    out: dict[str, Any] = {"objective": objective.describe(), "strategies": {}}
    all_front = tradeoff_front(table.mean_acc, table.latency)
    out["table_front"] = [_point(table, int(i)) for i in all_front]
    for r in results:
        seen = np.flatnonzero(r.evaluated)
        front = seen[tradeoff_front(table.mean_acc[seen], table.latency[seen])]
        picks = r.final_cells
        lat = table.latency[picks]
        entry: dict[str, Any] = {
            "front": [_point(table, int(i)) for i in front],
            "picks_mean_accuracy": round(float(np.mean(table.mean_acc[picks])), 4),
            "picks_mean_latency_ms": round(1000 * float(np.mean(lat)), 4),
            "distinct_picks": len(np.unique(picks)),
        }
        target = getattr(objective, "target", None)
        if target is not None:
            entry["picks_within_target"] = round(float(np.mean(lat <= target)), 4)
        out["strategies"][r.strategy] = entry
    return out


def pareto_figure(results: list[StrategyResult], table: Nb201Table, objective: Objective) -> Figure:
    """Every run's final pick (area ~ how many runs picked it) over the table's front."""
    from matplotlib.collections import PathCollection

    picks_acc = np.concatenate([table.mean_acc[r.final_cells] for r in results])
    lo_acc = float(np.min(picks_acc)) - 1.0
    hi_acc = table.optimum + 0.3
    front = tradeoff_front(table.mean_acc, table.latency)
    shown = front[table.mean_acc[front] >= lo_acc]
    lat_ms = 1000 * table.latency
    x_lo, x_hi = finite_range(lat_ms[shown], *(lat_ms[r.final_cells] for r in results))
    fig = new_figure()
    ax = fig.add_subplot()
    ax.step(
        lat_ms[shown],
        table.mean_acc[shown],
        where="post",
        color="0.4",
        lw=1.2,
        ls="--",
        label="table's Pareto front",
    )
    target = getattr(objective, "target", None)
    if target is not None:
        ax.axvline(1000 * target, color="0.75", lw=2.0, label=f"target {1000 * target:.2f} ms")
    for k, r in enumerate(results):
        picks, counts = np.unique(r.final_cells, return_counts=True)
        lat = table.latency[r.final_cells]
        ax.scatter(
            lat_ms[picks],
            table.mean_acc[picks],
            s=(1.5 + np.sqrt(np.minimum(counts, 50))) ** 2 * 2.5,
            color=f"C{k % 10}",
            alpha=0.35,
            lw=0,
            label=f"{STRATEGIES[r.strategy].label}: mean "
            f"{np.mean(table.mean_acc[r.final_cells]):.2f}% at {1000 * np.mean(lat):.2f} ms",
        )
    ax.set_xlim(*padded(x_lo, x_hi))
    ax.set_ylim(lo_acc, hi_acc)
    ax.set_title(
        f"NAS-Bench-201 {table.dataset}: the cells the runs picked ({objective.name} objective)",
        fontsize=11,
    )
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    legend = ax.legend(loc="lower right")
    for handle in legend.legend_handles:  # the legend's markers opaque and one size
        if isinstance(handle, PathCollection):
            handle.set_alpha(1.0)
            handle.set_sizes([30.0])
    return fig


PAGE = "report.html"


class NasReportError(ValueError):
    """The run folder is not a finished NAS comparison."""


def _strategy_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s in summary.get("strategies", []):
        published = s.get("published_mean")
        rows.append(
            [
                html.escape(str(s["strategy"])),
                number(s.get("runs")),
                f"{number(s.get('mean'), 2)} +- {number(s.get('std'), 2)}",
                f"{number(s.get('min'), 2)} – {number(s.get('max'), 2)}",
                number(s.get("evaluations_per_run"), 1),
                "–"
                if published is None
                else f"{number(published, 2)} +- {number(s.get('published_std'), 2)}",
            ]
        )
    return rows


def _front_rows(pareto: dict[str, Any]) -> list[list[str]]:
    return [
        [
            html.escape(name),
            number(len(entry.get("front", []))),
            number(entry.get("picks_mean_accuracy"), 2),
            number(entry.get("picks_mean_latency_ms"), 3),
            number(entry.get("distinct_picks")),
            number(entry.get("picks_within_target"), 2),
        ]
        for name, entry in pareto.get("strategies", {}).items()
    ]


def is_nas_run(run: str | Path) -> bool:
    """Whether ``run`` is a NAS comparison's run folder (its best cell's format says so)."""
    path = Path(run) / RunFolder.BEST
    try:
        best = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(best, dict) and str(best.get("format", "")).startswith("primeval.nas-")


def write_page(run: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML page of NAS run folder ``run`` (default ``RUN/report.html``): the
    strategies' final accuracies, the two figures, the trade-off each search found and the
    best cell; returns its path."""
    try:
        folder = RunFolder.open(run)
        summary = folder.read_json(RunFolder.SUMMARY)
        best = folder.read_json(RunFolder.BEST)
    except RunFolderError as e:
        raise NasReportError(str(e)) from None
    if not isinstance(summary, dict) or "strategies" not in summary:
        raise NasReportError(f"{folder.file(RunFolder.SUMMARY)}: not a NAS comparison")
    pareto = folder.read_json("pareto.json") if folder.file("pareto.json").exists() else {}
    title = f"primeval NAS comparison {folder.path.name}"
    parts = [
        key_values(
            [
                ("benchmark", summary.get("benchmark")),
                ("dataset", summary.get("dataset")),
                ("budget_seconds", summary.get("budget_seconds")),
                ("objective", summary.get("objective", {}).get("objective")),
                ("optimum", summary.get("optimum")),
            ],
            digits=2,
        ),
        "<h2>Final validation accuracy of each strategy's pick (%)</h2>",
        table(
            ["strategy", "runs", "mean +- std", "range", "evaluations per run", "published"],
            _strategy_rows(summary),
        ),
    ]
    for name, alt in (
        ("comparison.png", "best accuracy against simulated search time"),
        ("pareto.png", "the picks against the table's accuracy/latency front"),
    ):
        if folder.file(name).exists():
            parts.append(image(folder.file(name).read_bytes(), alt))
    if pareto:
        parts += [
            "<h2>Accuracy against latency</h2>",
            table(
                [
                    "strategy",
                    "front size",
                    "picks' accuracy",
                    "picks' latency (ms)",
                    "distinct picks",
                    "within target",
                ],
                _front_rows(pareto),
            ),
            note(
                f"The table's own front has {len(pareto.get('table_front', []))} cells; a "
                "strategy's front is that of every cell its runs evaluated."
            ),
        ]
    parts += [
        "<h2>The best cell found</h2>",
        key_values(
            [
                ("arch", best.get("arch")),
                ("strategy", best.get("strategy")),
                ("mean_acc", best.get("mean_acc")),
                ("latency", best.get("latency")),
            ],
            digits=4,
        ),
    ]
    if folder.file("config.yaml").exists():
        parts += ["<h2>Config</h2>", code(folder.file("config.yaml").read_text())]
    target = Path(out) if out is not None else folder.file(PAGE)
    target.write_text(page(title, parts))
    return target
