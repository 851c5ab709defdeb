"""A layer search's report: the best layer's graph drawn, the Pareto plot over the first
two architectures, the best layer's training curves and the search's progress, as PNG
files and one ``report.html`` in the run folder."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from primeval.engine.runs import RunFolder
from primeval.layers.genome import N_LEAVES, LayerGraph, canonical, formula, from_json
from primeval.layers.primitives import LEAVES
from primeval.layers.search import read_candidates


def _depths(g: LayerGraph) -> list[int]:
    depth = [0] * N_LEAVES
    for node in g.nodes:
        depth.append(1 + max(depth[i] for i in node.inputs))
    return depth


def draw_graph(g: LayerGraph, path: Path) -> None:
    """Leaves at the bottom, each node one row above its deepest input, edges as arrows."""
    import matplotlib.pyplot as plt

    g = canonical(g)
    depth = _depths(g)
    labels = [*LEAVES, *(n.op for n in g.nodes)]
    rows: dict[int, list[int]] = {}
    for i, d in enumerate(depth):
        rows.setdefault(d, []).append(i)
    pos = {i: (k - (len(r) - 1) / 2, d) for d, r in rows.items() for k, i in enumerate(r)}
    fig, ax = plt.subplots(figsize=(7, 1.1 * (max(depth) + 2)))
    for j, node in enumerate(g.nodes):
        for i in node.inputs:
            ax.annotate(
                "",
                xy=pos[N_LEAVES + j],
                xytext=pos[i],
                arrowprops={"arrowstyle": "->", "color": "0.5"},
            )
    for i, (x, y) in pos.items():
        leaf = i < N_LEAVES
        ax.text(
            x,
            y,
            labels[i],
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "#dde" if leaf else "#fed", "ec": "0.4"},
        )
    ax.set_title(formula(g), fontsize=8)
    ax.set_xlim(min(p[0] for p in pos.values()) - 1, max(p[0] for p in pos.values()) + 1)
    ax.set_ylim(-0.7, max(depth) + 0.7)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(folder: RunFolder) -> Path:
    """Write the figures and ``report.html``; returns the HTML file's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = folder.read_json(RunFolder.SUMMARY)
    recs = read_candidates(folder)
    archs: list[str] = summary["archs"]
    parts = [f"<h1>Layer search ({html.escape(summary['strategy'])})</h1>"]
    counts = ", ".join(
        f"{k}: {summary[k]}"
        for k in ("candidates", "trained", "rejected_stability", "rejected_quality", "cache_hits")
    )
    parts.append(f"<p>{counts}; {summary['seconds']:.0f} s.</p>")
    best = summary.get("best")
    if best is not None:
        draw_graph(from_json(best["layer"]), folder.file("graph.png"))
        parts.append(f"<h2>Best layer</h2><p><code>{html.escape(best['formula'])}</code></p>")
        parts.append('<img src="graph.png">')
    ok = [r for r in recs if r.get("status") == "ok"]
    if ok and len(archs) >= 2:
        a, b = archs[:2]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter([r["accuracy"][a] for r in ok], [r["accuracy"][b] for r in ok], s=12)
        front = summary.get("pareto_front", [])
        ax.scatter(
            [f["accuracy"][a] for f in front],
            [f["accuracy"][b] for f in front],
            s=30,
            c="red",
            label="Pareto front",
        )
        ax.set_xlabel(f"validation accuracy, {a}")
        ax.set_ylabel(f"validation accuracy, {b}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder.file("pareto.png"), dpi=110)
        plt.close(fig)
        parts.append('<h2>Pareto plot</h2><img src="pareto.png">')
    best_rec = max(ok, key=lambda r: r.get("fitness") or -math.inf, default=None)
    if best_rec is not None and best_rec.get("curves"):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for arch, curve in best_rec["curves"].items():
            ax.plot([10 * k for k in range(len(curve))], curve, label=arch)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder.file("curves.png"), dpi=110)
        plt.close(fig)
        parts.append('<h2>Training curves of the best layer</h2><img src="curves.png">')
    ticks = folder.progress()
    if ticks:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        pts: list[tuple[Any, Any]] = [
            (t["candidates"], t["best_fitness"]) for t in ticks if t.get("best_fitness") is not None
        ]
        if pts:
            ax.step([p[0] for p in pts], [p[1] for p in pts], where="post")
        ax.set_xlabel("candidates")
        ax.set_ylabel("best mean validation accuracy")
        fig.tight_layout()
        fig.savefig(folder.file("progress.png"), dpi=110)
        plt.close(fig)
        parts.append('<h2>Search progress</h2><img src="progress.png">')
    path = folder.file("report.html")
    folder.write_text("report.html", "<html><body>" + "\n".join(parts) + "</body></html>\n")
    return path
