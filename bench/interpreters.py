"""Evaluations per second of the interpreters on the AutoML-Zero demo configuration.

The configuration of the reference's demo (Real et al., "AutoML-Zero", ICML 2020; C++
``run_demo.sh``): linear-regression tasks with F = 4, 10 tasks of 100 train / 100 valid
examples, memory 4 / 3 / 1, random programs with Setup 10 / Predict 2 / Learn 8 instructions
over {SCALAR_CONST_SET, VECTOR_INNER_PRODUCT, SCALAR_DIFF, SCALAR_PRODUCT,
SCALAR_VECTOR_PRODUCT, VECTOR_SUM}, and the known solution (SGD on a linear model). The C++
reference does about 28,000 evaluations/s per core here (about 2.9 ns per instruction).

Prints one JSON line per (interpreter, program kind). Run:
``.venv/bin/python bench/interpreters.py`` (a cold numba cache adds about 35 s of compiling).
"""

from __future__ import annotations

import json
import time

import numpy as np

from primeval.algorithms.config import DEMO_OPS
from primeval.algorithms.interpret.compiled import CompiledInterpreter
from primeval.algorithms.interpret.reference import ReferenceInterpreter, run_task
from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Function, Program
from primeval.algorithms.tasks.base import TaskSet
from primeval.algorithms.tasks.synthetic import linear_regression_tasks

SIZES = (10, 2, 8)
BANKS = Banks(4, 3, 1)


def random_program(rng: np.random.Generator, banks: Banks = BANKS) -> Program:
    """Random valid instructions over :data:`DEMO_OPS`, data uniform in (-1, 1)."""
    specs = [REGISTRY[name] for name in DEMO_OPS]
    functions = []
    for size in SIZES:
        rows = []
        for _ in range(size):
            spec = specs[rng.integers(len(specs))]
            ins = [int(rng.choice(banks.in_range(kind))) for kind in spec.inputs]
            ins += [0] * (2 - len(ins))
            out = int(rng.choice(banks.out_range(spec.output))) if spec.output else 0
            rows.append((spec.code, ins[0], ins[1], out, list(rng.uniform(-1, 1, 3))))
        functions.append(Function.from_instructions(rows))
    setup, predict, learn = functions
    return Program(setup, predict, learn, banks)


def solution(lr: float = 0.01, banks: Banks = BANKS) -> Program:
    """Setup s2 = lr; Predict s1 = dot(v0, v1); Learn: SGD step on the squared error."""
    code = {name: REGISTRY[name].code for name in DEMO_OPS}
    return Program(
        Function.from_instructions([(code["SCALAR_CONST_SET"], 0, 0, 2, [lr])]),
        Function.from_instructions([(code["VECTOR_INNER_PRODUCT"], 0, 1, 1, [])]),
        Function.from_instructions(
            [
                (code["SCALAR_DIFF"], 0, 1, 3, []),  # s3 = s0 - s1
                (code["SCALAR_PRODUCT"], 3, 2, 3, []),  # s3 = s3 * s2
                (code["SCALAR_VECTOR_PRODUCT"], 3, 0, 2, []),  # v2 = s3 * v0
                (code["VECTOR_SUM"], 1, 2, 1, []),  # v1 = v1 + v2
            ]
        ),
        banks=banks,
    )


def executed_instructions(program: Program, tasks: TaskSet) -> int:
    """Instructions one evaluation executes (training steps taken from the reference)."""
    setup, predict, learn = program.sizes()
    total = 0
    for task in tasks:
        steps = run_task(program, task, np.random.default_rng(0)).train_steps
        finished = steps == len(task.order) if task.order is not None else True
        total += setup + steps * (predict + learn) + (task.n_valid * predict if finished else 0)
    return total


def measure(
    interpreter: CompiledInterpreter | ReferenceInterpreter,
    programs: list[Program],
    tasks: TaskSet,
    seconds: float,
) -> tuple[int, float]:
    """(evaluations, elapsed seconds), cycling through ``programs`` for about ``seconds``."""
    rng = np.random.default_rng(0)
    n = 0
    start = time.perf_counter()
    while True:
        interpreter.fitnesses(programs[n % len(programs)], tasks, rng)
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= len(programs) // 4:
            return n, elapsed


def main() -> None:
    tasks = linear_regression_tasks(n_tasks=10, dim=4, n_train=100, n_valid=100, seed=0)
    rng = np.random.default_rng(2020)
    kinds = {"random": [random_program(rng) for _ in range(200)], "solution": [solution()]}
    compiled = CompiledInterpreter()
    start = time.perf_counter()
    compiled.fitnesses(kinds["solution"][0], tasks, np.random.default_rng(0))
    print(json.dumps({"compiled_first_call_s": round(time.perf_counter() - start, 3)}))
    budgets = {"compiled": 4.0, "reference": 3.0}
    for interpreter in (compiled, ReferenceInterpreter()):
        for kind, programs in kinds.items():
            pool = programs if interpreter.name == "compiled" else programs[:20]
            count = np.mean([executed_instructions(p, tasks) for p in pool[:20]])
            n, elapsed = measure(interpreter, pool, tasks, budgets[interpreter.name])
            per_eval = elapsed / n
            line = {
                "interpreter": interpreter.name,
                "programs": kind,
                "evals_per_s": round(1 / per_eval, 1),
                "us_per_eval": round(per_eval * 1e6, 2),
                "instructions_per_eval": round(float(count), 1),
                "ns_per_instruction": round(per_eval * 1e9 / count, 2),
                "evaluations": n,
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
