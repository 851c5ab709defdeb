"""What a NAS comparison reports: the accuracy-over-time plot, the accuracy/latency
trade-off the searches found (Pareto fronts), and the best cell."""

from __future__ import annotations

from typing import Any

import numpy as np

from primeval.nas.objective import Objective, pareto_front
from primeval.nas.plots import COLORS, SvgPlot, finite_range, padded
from primeval.nas.runner import StrategyResult
from primeval.nas.space import arch_string, cell_from_index
from primeval.nas.strategies import STRATEGIES
from primeval.nas.table import Nb201Table


def mean_std(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread over runs at each time, NaN until every run has a result."""
    ok = np.isfinite(curves).all(axis=0)
    mean = np.full(curves.shape[1], np.nan)
    std = np.full(curves.shape[1], np.nan)
    mean[ok] = curves[:, ok].mean(axis=0)
    std[ok] = curves[:, ok].std(axis=0)
    return mean, std


def comparison_svg(results: list[StrategyResult], table: Nb201Table, budget: float) -> str:
    """Best validation accuracy (mean +- std over runs) against simulated time."""
    late: list[np.ndarray] = []
    for r in results:
        mean, std = mean_std(r.curves)
        late.append((mean - std)[r.grid >= 0.1 * budget])
    lo, _ = finite_range(*late)
    hi = max(table.optimum, *(finite_range(mean_std(r.curves)[0])[1] for r in results))
    runs = {len(r.final_accuracy) for r in results}
    plot = SvgPlot(
        (0.0, budget),
        padded(lo, hi),
        title=f"NAS-Bench-201 {table.dataset}: {'/'.join(map(str, sorted(runs)))} runs "
        "per strategy (mean +- std)",
        xlabel="simulated search time (s)",
        ylabel="validation accuracy of the best cell found (%)",
    )
    plot.line(
        [0.0, budget], [table.optimum] * 2, "#888", f"optimum {table.optimum:.2f}", 1.2, "6 4"
    )
    for k, r in enumerate(results):
        color = COLORS[k % len(COLORS)]
        mean, std = mean_std(r.curves)
        plot.band(r.grid.tolist(), (mean - std).tolist(), (mean + std).tolist(), color)
        label = f"{STRATEGIES[r.strategy].label}: {np.mean(r.final_accuracy):.2f} +- "
        label += f"{np.std(r.final_accuracy):.2f}"
        plot.line(r.grid.tolist(), mean.tolist(), color, label)
    return plot.svg()


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
    all_front = pareto_front(table.mean_acc, table.latency)
    out["table_front"] = [_point(table, int(i)) for i in all_front]
    for r in results:
        seen = np.flatnonzero(r.evaluated)
        front = seen[pareto_front(table.mean_acc[seen], table.latency[seen])]
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


def pareto_svg(results: list[StrategyResult], table: Nb201Table, objective: Objective) -> str:
    """Every run's final pick (area ~ how many runs picked it) over the table's front."""
    picks_acc = np.concatenate([table.mean_acc[r.final_cells] for r in results])
    lo_acc = float(np.min(picks_acc)) - 1.0
    hi_acc = table.optimum + 0.3
    front = pareto_front(table.mean_acc, table.latency)
    shown = front[table.mean_acc[front] >= lo_acc]
    lat_ms = 1000 * table.latency
    x_lo, x_hi = finite_range(lat_ms[shown], *(lat_ms[r.final_cells] for r in results))
    plot = SvgPlot(
        padded(x_lo, x_hi),
        (lo_acc, hi_acc),
        title=f"NAS-Bench-201 {table.dataset}: the cells the runs picked "
        f"({objective.name} objective)",
        xlabel="latency (ms)",
        ylabel="validation accuracy (%)",
    )
    plot.legend_at = "upper left"
    plot.step(
        lat_ms[shown].tolist(),
        table.mean_acc[shown].tolist(),
        "#666",
        "table's Pareto front",
        width=1.2,
        dash="6 4",
    )
    target = getattr(objective, "target", None)
    if target is not None:
        plot.line([1000 * target] * 2, [lo_acc, hi_acc], "#bbb", f"target {1000 * target:.2f} ms")
    for k, r in enumerate(results):
        color = COLORS[k % len(COLORS)]
        picks, counts = np.unique(r.final_cells, return_counts=True)
        for p, c in zip(picks, counts, strict=True):
            plot.points(
                [lat_ms[p]],
                [table.mean_acc[p]],
                color,
                radius=1.5 + min(c, 50) ** 0.5,
                opacity=0.35,
            )
        lat = table.latency[r.final_cells]
        plot.points(
            [],
            [],
            color,
            f"{STRATEGIES[r.strategy].label}: mean "
            f"{np.mean(table.mean_acc[r.final_cells]):.2f}% at {1000 * np.mean(lat):.2f} ms",
        )
    return plot.svg()
