"""Nanoseconds per executed instruction of each op in the compiled interpreter.

For every registered op, a program whose Predict is 20 copies of that op (inputs from
non-trivial memory set up once, the output an address nothing else reads) is evaluated on
the demo's tasks (F = 4, 10 tasks of 100 train / 100 valid examples); the time of the same
program with an empty Predict is subtracted, and the rest divided by the op's executions
(2,000 Predicts of 20 instructions per evaluation). Prints one JSON line per op; with op
names as arguments, only those. Run: ``.venv/bin/python bench/ops.py [NAME ...]``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from primeval.algorithms.interpret.compiled import CompiledInterpreter
from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY, Kind, OpSpec
from primeval.algorithms.program import Function, Program
from primeval.algorithms.tasks.synthetic import linear_regression_tasks

COPIES = 20
BANKS = Banks(5, 3, 2)
# Inputs: s2, s3 / v0 (the features), v1 / m0, m1; outputs s4 / v2 / m1 (m0 for m>m ops).
INPUTS = {Kind.SCALAR: (2, 3), Kind.VECTOR: (0, 1), Kind.MATRIX: (0, 1)}
OUTPUT = {Kind.SCALAR: 4, Kind.VECTOR: 2, Kind.MATRIX: 1}


def code(name: str) -> int:
    return REGISTRY[name].code


SETUP = Function.from_instructions(
    [
        (code("SCALAR_CONST_SET"), 0, 0, 2, [0.7, 0, 0]),
        (code("SCALAR_CONST_SET"), 0, 0, 3, [1.3, 0, 0]),
        (code("SCALAR_BROADCAST"), 3, 0, 1, [0, 0, 0]),
        (code("VECTOR_CONST_SET"), 0, 0, 1, [0.3, -0.4, 0]),
        (code("VECTOR_ROW_BROADCAST"), 1, 0, 0, [0, 0, 0]),
        (code("MATRIX_CONST_SET"), 0, 0, 0, [0.6, 0.1, 2.5]),
        (code("VECTOR_COLUMN_BROADCAST"), 1, 0, 1, [0, 0, 0]),
        (code("MATRIX_CONST_SET"), 0, 0, 1, [0.9, 0.4, -0.5]),
    ]
)


def program_of(spec: OpSpec | None) -> Program:
    rows = []
    if spec is not None:
        ins = [INPUTS[kind][k] for k, kind in enumerate(spec.inputs)] + [0, 0]
        out = OUTPUT[spec.output] if spec.output else 0
        if spec.output is Kind.MATRIX and spec.inputs and spec.inputs[-1] is Kind.MATRIX:
            out = 0 if ins[0] == 1 or ins[1] == 1 else 1
        data = [0.5, 0.25, 0.75] if spec.stochastic else [0.3, 0.6, 1.1]
        rows = [(spec.code, ins[0], ins[1], out, data)] * COPIES
    return Program(SETUP, Function.from_instructions(rows), Function.empty(), BANKS)


def seconds_per_eval(interp: CompiledInterpreter, program: Program, tasks, repeats: int) -> float:
    rng = np.random.default_rng(0)
    interp.fitnesses(program, tasks, rng)
    best = float("inf")
    for _ in range(repeats):
        n = 30
        start = time.perf_counter()
        for _ in range(n):
            interp.fitnesses(program, tasks, rng)
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main() -> None:
    tasks = linear_regression_tasks(n_tasks=10, dim=4, n_train=100, n_valid=100, seed=0)
    interp = CompiledInterpreter()
    names = sys.argv[1:] or [spec.name for spec in REGISTRY if spec.name != "NO_OP"]
    executions = sum(t.n_train * t.epochs + t.n_valid * t.epochs for t in tasks) * COPIES
    empty = seconds_per_eval(interp, program_of(None), tasks, 7)
    print(json.dumps({"op": None, "us_per_eval": round(empty * 1e6, 2)}), flush=True)
    for name in names:
        spec = REGISTRY[name]
        t = seconds_per_eval(interp, program_of(spec), tasks, 5)
        print(
            json.dumps(
                {
                    "op": name,
                    "ns_per_instruction": round((t - empty) * 1e9 / executions, 2),
                    "us_per_eval": round(t * 1e6, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
