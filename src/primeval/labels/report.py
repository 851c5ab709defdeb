"""The report of a Noisy Student run folder: ``report/index.html`` with three PNGs (matplotlib):
test accuracy per iteration, clean and corrupted (controls as dashed lines); the teacher's
confidence histogram on the unlabeled pool at each iteration (the filter threshold marked); and
the pseudo-labels per class before filtering, after it and after balancing (last iteration)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from primeval.labels.pseudo import HIST_BINS


def _results(run: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, Any]]:
    its = []
    k = 0
    while (run / f"iteration_{k}" / "result.json").is_file():
        its.append(json.loads((run / f"iteration_{k}" / "result.json").read_text()))
        k += 1
    controls = {
        p.parent.name: json.loads(p.read_text())
        for p in sorted((run / "controls").glob("*/result.json"))
    }
    config = json.loads((run / "config.json").read_text())["config"]
    return its, controls, config


def write_report(run: str | Path) -> Path:
    """Write ``RUN/report/index.html`` and its PNGs; returns the HTML's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run)
    its, controls, config = _results(run)
    out = run / "report"
    out.mkdir(exist_ok=True)

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    xs = [r["iteration"] for r in its]
    ax.plot(xs, [r["test_accuracy"] for r in its], "o-", label="clean test")
    ax.plot(xs, [r["corrupted_mean"] for r in its], "s-", label="corrupted test (mean)")
    for (name, r), color in zip(controls.items(), ("C2", "C3"), strict=False):
        ax.axhline(r["test_accuracy"], ls="--", color=color, label=f"control: {name}")
    ax.set_xlabel("iteration (0 = teacher)")
    ax.set_ylabel("accuracy")
    ax.set_xticks(xs)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=110)
    plt.close(fig)

    students = [r for r in its if r.get("pseudo")]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    edges = [i / HIST_BINS for i in range(HIST_BINS + 1)]
    for r in students:
        ax.stairs(r["pseudo"]["confidence_histogram"], edges, label=f"teacher of {r['iteration']}")
    ax.axvline(config["confidence"], color="k", ls=":", label="threshold")
    ax.set_xlabel("teacher confidence (top probability)")
    ax.set_ylabel("unlabeled examples")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "confidence.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    if students:
        p = students[-1]["pseudo"]
        k = len(p["class_counts_before"])
        w = 0.27
        for j, (key, name) in enumerate(
            [("class_counts_before", "before"), ("class_counts_filtered", "filtered"),
             ("class_counts_after", "balanced")]
        ):  # fmt: skip
            ax.bar([c + (j - 1) * w for c in range(k)], p[key], w, label=name)
        ax.set_xticks(range(k))
        ax.set_title(f"pseudo-labels per class, iteration {students[-1]['iteration']}", fontsize=9)
    ax.set_xlabel("class")
    ax.set_ylabel("examples")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "balance.png", dpi=110)
    plt.close(fig)

    rows = "".join(
        f"<tr><td>{r['iteration']}</td><td>{r['role']}</td><td>{r['model']['width']:.3g}</td>"
        f"<td>{r['test_accuracy']:.4f}</td><td>{r['corrupted_mean']:.4f}</td>"
        f"<td>{'' if not r.get('pseudo') else r['pseudo']['kept']}</td></tr>"
        for r in its
    ) + "".join(
        f"<tr><td>control</td><td>{html.escape(n)}</td><td>{r['model']['width']:.3g}</td>"
        f"<td>{r['test_accuracy']:.4f}</td><td>{r['corrupted_mean']:.4f}</td><td></td></tr>"
        for n, r in controls.items()
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Noisy Student: {html.escape(str(run))}</title></head><body>
<h1>Noisy Student self-training</h1>
<p>{html.escape(config["dataset"])}, {config["labels_per_class"]} labels per class, seed
{config["seed"]}, noise {"on" if config["noise"] else "off"}.</p>
<table border="1" cellpadding="3"><tr><th>iteration</th><th>role</th><th>width</th>
<th>test accuracy</th><th>corrupted (mean)</th><th>pseudo-labels kept</th></tr>{rows}</table>
<p><img src="accuracy.png"> <img src="confidence.png"> <img src="balance.png"></p>
</body></html>
"""
    path = out / "index.html"
    path.write_text(page)
    return path
