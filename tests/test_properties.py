"""Properties of evaluation over random programs using every op."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from primeval.algorithms.evaluate import AlgorithmEvaluator, FECSettings
from primeval.algorithms.interpret.reference import ReferenceInterpreter
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import MutationType, Mutator, ProgramSpace
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.tasks import Task, TaskSet

SPACE = ProgramSpace.uniform(Banks(4, 3, 2), REGISTRY.names(), (2, 2, 2), (0, 0, 0), (7, 7, 7))
MUTATOR = Mutator(SPACE, list(MutationType))


def tiny_tasks(classification: bool, seed: int) -> TaskSet:
    rng = np.random.default_rng(seed)
    x, xv = rng.normal(size=(8, 3)) * 3, rng.normal(size=(4, 3)) * 3
    w = rng.normal(size=3)
    y, yv = x @ w, xv @ w
    if classification:
        y, yv = (y > 0).astype(float), (yv > 0).astype(float)
    return TaskSet.of([Task(x, y, xv, yv, classification=classification, epochs=2)])


TASKS = {c: tiny_tasks(c, 0) for c in (False, True)}


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    mutations=st.integers(0, 12),
    classification=st.booleans(),
    scale=st.sampled_from([1.0, 1e-300, 1e300, -7.0]),
)
def test_random_programs_never_raise_and_score_in_unit_interval(
    seed: int, mutations: int, classification: bool, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    p = MUTATOR.random_program(rng)
    for _ in range(mutations):
        p, _ = MUTATOR.mutate(p, rng)
    if scale != 1.0:  # push the data slots towards overflow, underflow and negatives
        p = type(p)(*(type(f)(f.ops, f.args, f.data * scale) for f in p.functions), banks=p.banks)
    evaluator = AlgorithmEvaluator(
        TASKS[classification], ReferenceInterpreter(), rng, fec=FECSettings(n_train=4, n_valid=2)
    )
    f = evaluator.evaluate(p)
    assert isinstance(f, float) and math.isfinite(f) and 0.0 <= f <= 1.0
