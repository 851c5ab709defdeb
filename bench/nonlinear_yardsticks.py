"""Yardsticks for the nonlinear teacher experiments (``docs/experiments/nonlinear.md``).

Scores algorithms on a config's *final* tasks as ``primeval evaluate`` does (same generator
seed), and prints one row each: fitness (mean over tasks, min, max) and the techniques the
detectors find. Besides the algorithms named on the command line (files, run folders or
baselines), two yardsticks that are not programs:

- ``constant``: predicting each task's mean training label (what the damaged network learns);
- ``least_squares``: the best affine fit ``w . x + b`` on each task's training split, solved in
  closed form: no linear model trained online can beat it on average.

    python bench/nonlinear_yardsticks.py --config nonlinear \\
        linear_regression_sgd two_layer_relu_net neural_net damaged_neural_net RUN_FOLDER ...
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np


def fitness_of(predictions: np.ndarray, labels: np.ndarray) -> float:
    """The evaluator's regression fitness ``1 - (2/pi) atan(rmse)``."""
    rmse = float(np.sqrt(np.mean((predictions - labels) ** 2)))
    return 1.0 - (2.0 / math.pi) * math.atan(rmse)


def row(name: str, fits: np.ndarray, techniques: list[str] | None) -> dict[str, Any]:
    return {
        "algorithm": name,
        "fitness": float(fits.mean()),
        "min": float(fits.min()),
        "max": float(fits.max()),
        "techniques": techniques,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algorithms", nargs="*", help="files, run folders or baseline names")
    parser.add_argument("--config", default="nonlinear")
    parser.add_argument("--seed", type=int, default=12345, help="as primeval evaluate")
    parser.add_argument("--json", action="store_true", help="one JSON line per row")
    args = parser.parse_args()

    from pathlib import Path

    from primeval.algorithms import baselines
    from primeval.algorithms.detectors import detect
    from primeval.algorithms.experiment import build_tasks, make_interpreter
    from primeval.config import load_config
    from primeval.export.machine import load_algorithm

    cfg = load_config(args.config)
    assert cfg.final.tasks is not None, "the config has no final tasks"
    tasks = build_tasks(cfg.final.tasks, args.seed)
    interp = make_interpreter(cfg.interpreter)
    rows = []
    for spec in args.algorithms:
        if not Path(spec).exists() and spec in baselines.NAMED:
            program = baselines.named(spec)
        else:
            program = load_algorithm(spec)
        fits = interp.fitnesses(program, tasks, np.random.default_rng(args.seed))
        rows.append(row(spec, fits, [d.technique for d in detect(program)]))
    constant, affine = [], []
    for t in tasks:
        constant.append(fitness_of(np.full(len(t.valid_y), t.train_y.mean()), t.valid_y))
        a = np.hstack([t.train_x, np.ones((len(t.train_x), 1))])
        coef = np.linalg.lstsq(a, t.train_y, rcond=None)[0]
        b = np.hstack([t.valid_x, np.ones((len(t.valid_x), 1))])
        affine.append(fitness_of(b @ coef, t.valid_y))
    rows.append(row("constant (train mean)", np.array(constant), None))
    rows.append(row("least_squares (affine, closed form)", np.array(affine), None))
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(f"final tasks of {cfg.name}: {len(tasks)} tasks")
    print("| algorithm | fitness (mean) | min | max | techniques detected |")
    print("|---|---|---|---|---|")
    for r in rows:
        tech = ", ".join(r["techniques"]) if r["techniques"] is not None else "-"
        print(
            f"| {r['algorithm']} | {r['fitness']:.4f} | {r['min']:.4f} | {r['max']:.4f} "
            f"| {tech or 'none'} |"
        )


if __name__ == "__main__":
    main()
