"""Yardsticks for the nonlinear teacher experiments (``docs/experiments/nonlinear.md``).

Scores algorithms on a config's *final* tasks as ``primeval evaluate`` does (same generator
seed), and prints one row each: fitness (mean over tasks, min, max) and the techniques the
detectors find. Besides the algorithms named on the command line (files, run folders or
baselines), two yardsticks that are not programs:

- ``constant``: predicting each task's mean training label (what the damaged network learns);
- ``least_squares``: the best affine fit ``w . x + b`` on each task's training split, solved in
  closed form: no linear model trained online can beat it on average.

For algorithms with the reference network's Predict and Learn (the Setup-only search), a
first table shows what their Setup puts in the network's parameters.

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


def network_init(program: Any) -> dict[str, str]:
    """For a program with :func:`neural_net`'s Predict and Learn: what Setup leaves in the
    network's parameters (its last write to each): ``m0`` first layer, ``v1`` its bias, ``v2``
    output weights, ``s2`` output bias, ``s3`` learning rate."""
    from primeval.algorithms.program import Component

    places = {("m", 0): "m0", ("v", 1): "v1", ("v", 2): "v2", ("s", 2): "s2", ("s", 3): "s3"}
    found = {name: "0" for name in places.values()}
    for ins in program.function(Component.SETUP):
        spec = ins.op
        if spec.output is None:
            continue
        key = (spec.output.name[0].lower(), ins.out)
        if key not in places:
            continue
        if spec.name.endswith("GAUSSIAN_SET"):
            found[places[key]] = f"N({ins.data[0]:.3g}, {abs(ins.data[1]):.3g}^2)"
        elif spec.name == "SCALAR_CONST_SET":
            found[places[key]] = f"{ins.data[0]:.3g}"
        else:
            found[places[key]] = spec.name
    return found


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
    from primeval.algorithms.config import load_config
    from primeval.algorithms.detectors import detect
    from primeval.algorithms.experiment import build_tasks, make_interpreter
    from primeval.export.machine import load_algorithm

    cfg = load_config(args.config)
    assert cfg.final.tasks is not None, "the config has no final tasks"
    tasks = build_tasks(cfg.final.tasks, args.seed)
    interp = make_interpreter(cfg.interpreter)

    def load(spec: str) -> Any:
        if not Path(spec).exists() and spec in baselines.NAMED:
            return baselines.named(spec)
        return load_algorithm(spec)

    rows = []
    for spec in args.algorithms:
        program = load(spec)
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
    nets = [
        (spec, network_init(load(spec)))
        for spec in args.algorithms
        if load(spec).predict == baselines.neural_net().predict
        and load(spec).learn == baselines.neural_net().learn
    ]
    if nets:
        print("| algorithm | m0 | v1 | v2 | s2 | s3 (rate) |")
        print("|---|---|---|---|---|---|")
        for spec, init in nets:
            print(f"| {spec} | " + " | ".join(init.values()) + " |")
        print()
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
