"""Noisy Student against its teacher, its controls and its no-noise ablation over paired seeds.

For each seed, in one process with one torch thread: a Noisy Student run of ``--iterations``
students (the teacher is iteration 0), the control ``labeled_only_student`` (the iteration-1
student's architecture, noise and budget on the labeled examples only), the control
``noised_teacher`` when the teacher itself trains without noise (otherwise the teacher is that
control), and a run with every student noise off (``noise=False``) for the ablation. All runs
of a seed share its labeled split, test sets and, noise aside, its seeds, so the comparisons are
paired. Xie et al. (2020), Sec. 3 and 4.

Writes the run folders under ``--work`` and ``OUT/raw_SEEDS.json`` (every model's clean and
corrupted test accuracy per seed, rewritten
after each seed) and ``OUT/summary.md`` (means, standard errors and paired t-tests, scipy).
``--summarize`` rewrites the summary from every ``OUT/raw*.json`` (several processes can share
the seeds) alone.

Run: ``python bench/noisy_student.py --dataset mnist --seeds 0-9 --out bench/results/ns_mnist``
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def run_seed(base: dict[str, Any], seed: int, work: Path) -> dict[str, Any]:
    from primeval.labels import NoisyStudent, NoisyStudentConfig

    cfg = NoisyStudentConfig(**{**base, "seed": seed})
    row: dict[str, Any] = {"seed": seed}
    t0 = time.time()
    run = work / f"seed{seed}_noisy"
    shutil.rmtree(run, ignore_errors=True)
    ns = NoisyStudent(cfg, run)
    summary = ns.run()
    for r in summary["iterations"]:
        name = "teacher" if r["iteration"] == 0 else f"student{r['iteration']}"
        row[name] = {"clean": r["test_accuracy"], "corrupted": r["corrupted_mean"]}
    controls = ["labeled_only_student"] + ([] if cfg.teacher_noise else ["noised_teacher"])
    for c in controls:
        r = ns.run_control(c)
        row[c] = {"clean": r["test_accuracy"], "corrupted": r["corrupted_mean"]}
    if cfg.teacher_noise:
        row["noised_teacher"] = row["teacher"]
    # The ablation starts from the same teacher: its run folder gets a copy of iteration 0
    # (checked against its hash on resume), so only the no-noise student trains.
    plain = work / f"seed{seed}_nonoise"
    shutil.rmtree(plain, ignore_errors=True)
    NoisyStudent(cfg.replace(noise=False, iterations=1), plain)._folder()
    shutil.copytree(run / "iteration_0", plain / "iteration_0")
    s = NoisyStudent.resume(plain).run()
    r = s["iterations"][1]
    row["student1_no_noise"] = {"clean": r["test_accuracy"], "corrupted": r["corrupted_mean"]}
    row["peak_rss_mb"] = s["peak_rss_mb"]
    row["seconds"] = time.time() - t0
    row["noisy_run_seconds"] = summary["seconds_this_session"]
    return row


def _mean_se(v: np.ndarray) -> str:
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
    return f"{100 * v.mean():.2f} ± {100 * se:.2f}"


def _paired(rows: list[dict[str, Any]], a: str, b: str, metric: str) -> str:
    from scipy import stats

    x = np.array([r[a][metric] for r in rows])
    y = np.array([r[b][metric] for r in rows])
    d = x - y
    p = stats.ttest_rel(x, y, alternative="greater").pvalue if len(d) > 1 else math.nan
    wins = int((d > 0).sum())
    return f"| {a} − {b} ({metric}) | {_mean_se(d)} | {wins}/{len(d)} | {p:.2g} |"


def summarize(out: Path) -> str:
    parts = [json.loads(p.read_text()) for p in sorted(out.glob("raw*.json"))]
    raw = {"config": parts[0]["config"], "rows": [r for p in parts for r in p["rows"]]}
    rows = sorted(raw["rows"], key=lambda r: r["seed"])
    models = [
        m for m in ("teacher", "student1", "student2", "student3", "student1_no_noise",
                    "labeled_only_student", "noised_teacher")
        if rows and m in rows[0]
    ]  # fmt: skip
    lines = [
        f"# Noisy Student, {raw['config'].get('dataset')}: {len(rows)} paired seeds",
        "",
        f"Settings: `{json.dumps(raw['config'])}`",
        "",
        "| model | clean test accuracy (%) | corrupted test accuracy (%) |",
        "|---|---|---|",
    ]
    for m in models:
        c = np.array([r[m]["clean"] for r in rows])
        k = np.array([r[m]["corrupted"] for r in rows])
        lines.append(f"| {m} | {_mean_se(c)} | {_mean_se(k)} |")
    lines += [
        "",
        "Paired differences (points, mean ± s.e.), seeds where the first is higher, one-sided "
        "paired t-test p (first > second):",
        "",
        "| comparison | difference | wins | p |",
        "|---|---|---|---|",
    ]
    pairs = [
        ("student1", "teacher", "clean"),
        ("student1", "labeled_only_student", "clean"),
        ("student1", "noised_teacher", "clean"),
        ("student1", "student1_no_noise", "clean"),
        ("student2", "student1", "clean"),
        ("student2", "labeled_only_student", "clean"),
        ("student1", "teacher", "corrupted"),
        ("student2", "teacher", "corrupted"),
        ("student1", "student1_no_noise", "corrupted"),
    ]
    for a, b, metric in pairs:
        if rows and a in rows[0] and b in rows[0]:
            lines.append(_paired(rows, a, b, metric))
    if rows:
        gain = np.array([r["student1"]["clean"] - r["teacher"]["clean"] for r in rows])
        gain0 = np.array([r["student1_no_noise"]["clean"] - r["teacher"]["clean"] for r in rows])
        lines += [
            "",
            f"Gain over the teacher: noisy student {_mean_se(gain)} points, no-noise student "
            f"{_mean_se(gain0)} points; noisy minus no-noise gain {_mean_se(gain - gain0)}.",
            "",
            f"Per seed (one process, one thread): {np.mean([r['seconds'] for r in rows]):.0f} s "
            f"for all its models; peak RSS {max(r['peak_rss_mb'] for r in rows):.0f} MB.",
        ]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="a NoisyStudentConfig setting, e.g. --set student_steps=300")  # fmt: skip
    ap.add_argument("--work", type=Path, default=None, help="run folders (default OUT/runs)")
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summarize:
        print(summarize(args.out))
        return
    base: dict[str, Any] = {"dataset": args.dataset, "iterations": 2}
    for kv in args.set:
        k, v = kv.split("=", 1)
        base[k] = json.loads(v)
    raw_path = args.out / f"raw_{args.seeds}.json"
    rows = []
    for seed in _seeds(args.seeds):
        rows.append(run_seed(base, seed, args.work or args.out / "runs"))
        raw_path.write_text(json.dumps({"config": base, "rows": rows}, indent=1) + "\n")
        print(json.dumps(rows[-1]), flush=True)
    print(summarize(args.out))


if __name__ == "__main__":
    main()
