"""``primeval report RUN``: one self-contained HTML page on a run, with PNG plots.

The page shows what a run folder holds (:mod:`primeval.engine.runs`): the summary; best and mean
fitness against evaluations and against time (``progress.jsonl``), every experiment of the
run (a gap and a label between experiments, each experiment's best at its end); the best
algorithm's ancestry as a fitness staircase annotated with the techniques as they appeared
(the discovery timeline of Real et al. 2020, Figure 6; ``ancestry.json`` and
:mod:`.timeline`); every experiment's ancestry and the techniques of its best
(``lineage/``); and the selected algorithm (``best.json``) as numpy code, live
instructions only, the lines that show a technique highlighted and listed. Plots are drawn with
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
from primeval.engine.lineage import LINEAGE_FOLDER
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
PANEL_SIZE = (360, 260)  # one experiment's ancestry
MAX_PANELS = 12  # experiments drawn (the last ones and the selected one)


def experiment_ticks(ticks: list[dict[str, Any]]) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The progress ticks grouped by experiment, in order."""
    groups: list[tuple[Any, list[dict[str, Any]]]] = []
    for t in ticks:
        if not groups or groups[-1][0] != t.get("experiment"):
            groups.append((t.get("experiment"), []))
        groups[-1][1].append(t)
    return groups


def fitness_figure(ticks: list[dict[str, Any]]) -> bytes:
    """Best and mean search fitness against evaluations and against seconds; each
    experiment its own segment (a restart is a gap, not a line), labelled, and drawn with
    points where it has few ticks (an experiment that solves within a second has one)."""
    fig = new_figure(FITNESS_SIZE)
    axes = fig.subplots(1, 2, sharey=True)
    nan = float("nan")

    def num(x: Any) -> float:
        return nan if x is None else float(x)

    groups = experiment_ticks(ticks)
    for k, (ax, key, label) in enumerate(
        ((axes[0], "evaluations", "evaluations"), (axes[1], "elapsed_seconds", "seconds"))
    ):
        for g, (experiment, group) in enumerate(groups):
            x = [float(t[key]) for t in group]
            marker = "o" if len(group) < 3 else None
            ax.plot(
                x,
                [num(t.get("best_fitness")) for t in group],
                color="C0",
                marker=marker,
                label="best" if g == 0 else None,
            )
            ax.plot(
                x,
                [num(t.get("mean_fitness")) for t in group],
                color="C1",
                marker=marker,
                label="population mean" if g == 0 else None,
            )
            if len(groups) > 1:
                if g:
                    ax.axvline(x[0], color="0.8", lw=0.8, zorder=0)
                if k == 0 and experiment is not None:
                    best = num(group[-1].get("best_fitness"))
                    ax.annotate(
                        f"exp. {experiment}",
                        (x[-1], best if math.isfinite(best) else 0.0),
                        xytext=(0, 6),
                        textcoords="offset points",
                        fontsize=8,
                        ha="right",
                        color="0.3",
                    )
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("search fitness")
    axes[0].legend(loc="lower right")
    if len(groups) > 1:
        axes[1].set_title(
            f"{len(groups)} experiments; grey lines: a new experiment starts",
            fontsize=9,
            loc="right",
        )
    return figure_png(fig)


def experiments_figure(chains: list[tuple[int, list[Ancestor]]], selected: int | None) -> bytes:
    """Each experiment's best and its ancestry, one small staircase per experiment, with the
    techniques of its best in the title; ``selected``: the experiment the run selected."""
    n = len(chains)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = new_figure((PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows))
    grid = fig.subplots(rows, cols, squeeze=False)
    for ax in grid.flat[n:]:
        ax.set_visible(False)
    for ax, (experiment, chain) in zip(grid.flat, chains, strict=False):
        xs = [a.evaluation for a in chain]
        ys = [a.fitness if math.isfinite(a.fitness) else float("nan") for a in chain]
        ax.step(xs, ys, where="post", color="C3" if experiment == selected else "C0", lw=1.2)
        found = discoveries(chain)
        for d in found:
            y = d.fitness if math.isfinite(d.fitness) else float("nan")
            ax.plot([d.evaluation], [y], "o", color="C3", ms=4)
        techniques = ", ".join(d.technique.replace("_", " ") for d in found) or "no technique"
        mark = " (selected)" if experiment == selected else ""
        ax.set_title(f"experiment {experiment}{mark}\n{techniques}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
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


def _techniques_html(program: Program) -> str:
    """The techniques the detectors find in ``program``, as a table."""
    from primeval.algorithms.detectors import DETECTORS, detect

    found = detect(program)
    if not found:
        return note("No known technique detected in the selected algorithm.")
    rows = [
        [
            html.escape(d.technique.replace("_", " ")),
            html.escape(", ".join(f"{c.label}[{i}]" for c, i in d.positions)),
            html.escape(DETECTORS[d.technique].description),
        ]
        for d in found
    ]
    return table(["technique", "instructions", "what it is"], rows)


def _lineage_chains(folder: RunFolder) -> list[tuple[int, list[Ancestor]]]:
    """Every experiment's saved ancestry (``lineage/experiment_NNNN.json``), in order;
    a file that cannot be read is left out."""
    where = folder.file(LINEAGE_FOLDER)
    if not where.is_dir():
        return []
    out = []
    for path in sorted(where.glob("experiment_*.json")):
        try:
            saved = folder.read_json(f"{LINEAGE_FOLDER}/{path.name}")
            out.append((int(saved["experiment"]), [Ancestor.from_json(a) for a in saved["chain"]]))
        except (RunFolderError, KeyError, TypeError, ValueError):
            continue
    return out


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
    every = [(e, c) for e, c in _lineage_chains(folder) if c]
    selected = saved.get("experiment") if saved else None
    if len(every) > 1:
        shown = every[-MAX_PANELS:]
        if selected is not None and all(e != selected for e, _ in shown):
            shown = [next((e, c) for e, c in every if e == selected), *shown[1:]]
        figures["experiments"] = experiments_figure(shown, selected)

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
    if "experiments" in figures:
        parts += [
            "<h2>Every experiment</h2>",
            image(figures["experiments"], "each experiment's best and its ancestry"),
            note(
                f"{len(every)} experiments with a saved ancestry; each panel ends in that "
                "experiment's best by search fitness, titled with the techniques it holds."
            ),
        ]
    parts += [
        "<h2>The selected algorithm</h2>",
        note(
            "Live instructions only (<code>primeval show RUN --all</code> lists every one); "
            "highlighted lines show a detected technique. Memory: s[0] label, s[1] prediction, "
            f"v[0] features; {html.escape(str(best.banks))}."
        ),
        f"<pre>{_code_html(best)}</pre>",
        _techniques_html(best),
    ]
    if config_text:
        parts += ["<h2>Config</h2>", code(config_text)]
    target.write_text(page(f"primeval run {name}", parts, _CSS))
    return target
