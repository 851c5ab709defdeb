"""``primeval report RUN``: one self-contained HTML page on a run, with PNG plots.

The page shows what a run folder holds (:mod:`primeval.engine.runs`): the summary; best and mean
fitness against evaluations and against time (``progress.jsonl``); the best algorithm's
ancestry as a fitness staircase annotated with the techniques as they appeared (the
discovery timeline of Real et al. 2020, Figure 6; ``ancestry.json`` and
:mod:`.timeline`); and the selected algorithm (``best.json``) as numpy code,
live instructions only, the lines that show a technique highlighted. Plots are drawn with
matplotlib, saved next to the page (``report/*.png``) and embedded in it, so the HTML file
alone can be shared (the figure and page helpers of :mod:`primeval.plots`).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from primeval.algorithms.lineage import Ancestor
from primeval.algorithms.program import Component, Program, program_from_json
from primeval.algorithms.report.timeline import Discovery, discoveries
from primeval.engine.runs import RunFolder, RunFolderError
from primeval.plots import (
    code,
    figure_png,
    image,
    key_values,
    new_figure,
    note,
    number,
    page,
    table,
)

ANCESTRY = "ancestry.json"
PAGE = "report.html"
FIGURES = "report"


class ReportError(ValueError):
    """The run folder lacks what a report needs, or holds it corrupt."""


#: figure sizes in pixels (width, height)
FITNESS_SIZE = (1100, 360)
ANCESTRY_SIZE = (1100, 420)


def fitness_figure(ticks: list[dict[str, Any]]) -> bytes:
    """Best and mean search fitness against evaluations and against seconds."""
    fig = new_figure(FITNESS_SIZE)
    axes = fig.subplots(1, 2, sharey=True)
    nan = float("nan")
    # Experiments restart the search: a gap between them, not a line.
    rows: list[tuple[float, float, float, float]] = []
    starts: list[tuple[float, float]] = []
    for i, t in enumerate(ticks):
        if i and t.get("experiment") != ticks[i - 1].get("experiment"):
            rows.append((nan, nan, nan, nan))
            starts.append((t["evaluations"], t["elapsed_seconds"]))
        best, mean = t.get("best_fitness"), t.get("mean_fitness")
        rows.append(
            (
                t["evaluations"],
                t["elapsed_seconds"],
                nan if best is None else best,
                nan if mean is None else mean,
            )
        )
    x_evals, x_time, best_y, mean_y = (list(c) for c in zip(*rows, strict=True))
    for k, (ax, x, label) in enumerate(
        ((axes[0], x_evals, "evaluations"), (axes[1], x_time, "seconds"))
    ):
        marker = "o" if len(rows) < 3 else None  # a short run's ticks: points, not lines
        ax.plot(x, best_y, label="best", color="C0", marker=marker)
        ax.plot(x, mean_y, label="population mean", color="C1", marker=marker)
        for start in starts:
            ax.axvline(start[k], color="0.8", lw=0.8, zorder=0)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("search fitness")
    axes[0].legend(loc="lower right")
    if starts:
        axes[1].set_title("grey lines: a new experiment starts", fontsize=9, loc="right")
    return figure_png(fig)


def ancestry_figure(chain: list[Ancestor], found: list[Discovery]) -> bytes:
    """The ancestors' fitness, oldest first, with each technique marked where it appeared."""
    fig = new_figure(ANCESTRY_SIZE)
    ax = fig.subplots()
    xs = [a.evaluation for a in chain]
    ys = [a.fitness if math.isfinite(a.fitness) else float("nan") for a in chain]
    ax.step(xs, ys, where="post", color="C0", lw=1.5)
    ax.plot(xs, ys, ".", color="C0", ms=3)
    low = min((y for y in ys if math.isfinite(y)), default=0.0)
    high = max((y for y in ys if math.isfinite(y)), default=1.0)
    span = (high - low) or 1.0
    for k, d in enumerate(found):
        y = d.fitness if math.isfinite(d.fitness) else low
        ax.plot([d.evaluation], [y], "o", color="C3", ms=6)
        ax.annotate(
            d.technique.replace("_", " "),
            (d.evaluation, y),
            xytext=(8, -14 - 13 * (k % 4)),
            textcoords="offset points",
            fontsize=8.5,
            color="C3",
            arrowprops={"arrowstyle": "-", "color": "C3", "lw": 0.6},
        )
    ax.set_ylim(low - 0.35 * span, high + 0.08 * span)
    ax.set_xlabel("evaluations on the island when the ancestor was made")
    ax.set_ylabel("fitness")
    ax.set_title(f"ancestry of the best algorithm ({len(chain)} generations)", fontsize=10)
    ax.grid(alpha=0.3)
    return figure_png(fig)


def _code_html(program: Program) -> str:
    """The live instructions as numpy statements; lines showing a technique highlighted."""
    from primeval.algorithms import dce
    from primeval.algorithms.detectors import detect
    from primeval.algorithms.printing import python_line

    marks: dict[tuple[int, int], list[str]] = {}
    for d in detect(program):
        for comp, index in d.positions:
            marks.setdefault((int(comp), int(index)), []).append(d.technique)
    live = dce.live_mask(program)
    lines = []
    for comp in Component:
        lines.append(f'<span class="def">def {comp.label}():</span>')
        shown = 0
        for i, ins in enumerate(program.function(comp)):
            if not live[comp][i]:
                continue
            shown += 1
            text = html.escape(python_line(ins))
            tags = marks.get((int(comp), i))
            if tags:
                note = html.escape(", ".join(sorted(set(tags))).replace("_", " "))
                lines.append(
                    f'    <span class="hit">{text}</span>  <span class="tag"># {note}</span>'
                )
            else:
                lines.append(f"    {text}")
        if not shown:
            lines.append("    pass")
    return "\n".join(lines)


_CSS = ".def { color: #555; } .hit { background: #fff1b8; } .tag { color: #b03a2e; }"


def _load_chain(folder: RunFolder) -> tuple[list[Ancestor], dict[str, Any]] | None:
    if not folder.file(ANCESTRY).exists():
        return None
    saved = folder.read_json(ANCESTRY)
    try:
        chain = [Ancestor.from_json(a) for a in saved["chain"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(f"{folder.file(ANCESTRY)}: corrupt ancestry ({e})") from None
    return chain, saved


def write_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of run folder ``run`` (default: ``RUN/report.html``); returns its path."""
    try:
        folder = RunFolder.open(run)
        best_json = folder.read_json(RunFolder.BEST)
    except RunFolderError as e:
        raise ReportError(str(e)) from None
    try:
        best = program_from_json(best_json)
    except (KeyError, TypeError, ValueError) as e:
        raise ReportError(f"{folder.file(RunFolder.BEST)}: not an algorithm ({e})") from None
    summary = folder.read_json(RunFolder.SUMMARY) if folder.file(RunFolder.SUMMARY).exists() else {}
    ticks = [t for t in folder.progress() if "event" not in t and "evaluations" in t]
    name = folder.path.name
    config_text = (
        folder.file("config.yaml").read_text() if folder.file("config.yaml").exists() else ""
    )

    figures: dict[str, bytes] = {}
    if ticks:
        figures["fitness"] = fitness_figure(ticks)
    loaded = _load_chain(folder)
    found: list[Discovery] = []
    chain: list[Ancestor] = []
    saved: dict[str, Any] = {}
    if loaded is not None:
        chain, saved = loaded
        found = discoveries(chain)
        if chain:
            figures["ancestry"] = ancestry_figure(chain, found)

    target = Path(out) if out is not None else folder.file(PAGE)
    pngs = target.parent / FIGURES
    pngs.mkdir(parents=True, exist_ok=True)
    for key, data in figures.items():
        (pngs / f"{key}.png").write_bytes(data)

    keys = (
        "solved", "select_fitness", "final_fitness", "search_fitness", "evaluations",
        "full_evaluations", "experiments", "elapsed_seconds", "evals_per_second", "stopped",
        "seed", "interpreter",
    )  # fmt: skip
    pairs = [(k, summary[k]) for k in keys if k in summary]
    parts = [
        key_values(pairs)
        if pairs
        else note(
            "No summary: the run has not finished (or was killed); what follows is what it "
            "wrote so far."
        ),
        "<h2>Fitness</h2>",
        image(figures["fitness"], "fitness against evaluations and time")
        if "fitness" in figures
        else note("No progress ticks."),
        "<h2>Ancestry and discoveries</h2>",
    ]
    if chain:
        where = f"experiment {saved.get('experiment')}, island {saved.get('island')}"
        which = (
            "it ends in the selected algorithm"
            if saved.get("selected")
            else "it ends in that experiment's best by search fitness, not the selected one"
        )
        parts.append(image(figures["ancestry"], "fitness along the best algorithm's ancestry"))
        parts.append(note(f"{len(chain)} ancestors ({html.escape(where)}); {which}."))
        if found:
            header = ["technique", "appeared at evaluation", "ancestor fitness", "generation"]
            rows = [
                [
                    html.escape(d.technique.replace("_", " ")),
                    number(d.evaluation),
                    number(d.fitness),
                    str(d.index),
                    html.escape(d.description),
                ]
                for d in found
            ]
            parts.append(table([*header, "what it is"], rows))
        else:
            parts.append(note("No known technique detected in the best algorithm."))
    else:
        parts.append(
            note(
                "No ancestry in this run folder (the reference interpreter, "
                "<code>search.lineage: false</code>, or a run from before lineage existed)."
            )
        )
    parts += [
        "<h2>The selected algorithm</h2>",
        note(
            "Live instructions only (<code>primeval show RUN --all</code> lists every one); "
            "highlighted lines show a detected technique. Memory: s[0] label, s[1] prediction, "
            f"v[0] features; {html.escape(str(best.banks))}."
        ),
        f"<pre>{_code_html(best)}</pre>",
    ]
    if config_text:
        parts += ["<h2>Config</h2>", code(config_text)]
    target.write_text(page(f"primeval run {name}", parts, _CSS))
    return target
