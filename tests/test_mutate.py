"""Mutations and random programs: validity, size limits, locality, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from primeval.algorithms.config import DEMO_OPS
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import MutationType, Mutator, ProgramSpace
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import Component

DEMO = DEMO_OPS


def test_random_programs_are_valid_and_sized(
    all_ops_mutator: Mutator, rng: np.random.Generator
) -> None:
    for _ in range(300):
        p = all_ops_mutator.random_program(rng)
        p.validate()
        assert p.sizes() == (3, 3, 3)


@pytest.mark.parametrize("kind", list(MutationType))
def test_each_mutation_type_keeps_programs_valid_and_within_limits(
    kind: MutationType, rng: np.random.Generator
) -> None:
    space = ProgramSpace.uniform(Banks(5, 4, 2), REGISTRY.names(), (2, 2, 2), (1, 1, 1), (4, 4, 4))
    m = Mutator(space, [kind])
    p = m.random_program(rng)
    changed = 0
    for _ in range(300):
        q, desc = m.mutate(p, rng)
        q.validate()
        assert all(1 <= n <= 4 for n in q.sizes()), desc
        if kind is MutationType.TRADE or kind in (
            MutationType.ALTER_PARAM,
            MutationType.RANDOMIZE_INSTRUCTION,
        ):
            assert q.sizes() == p.sizes()
        changed += q != p
        p = q
    if kind is MutationType.IDENTITY:
        assert changed == 0
    elif kind is MutationType.INSERT:
        assert changed == 3 * (4 - 2)  # every insert lands until each component is full
    elif kind is MutationType.REMOVE:
        assert changed == 3 * (2 - 1)
    else:
        assert changed > 150


def test_mutation_touches_one_component_at_most(rng: np.random.Generator) -> None:
    space = ProgramSpace.uniform(Banks(), DEMO, (10, 2, 8))
    m = Mutator(
        space,
        [
            MutationType.ALTER_PARAM,
            MutationType.RANDOMIZE_INSTRUCTION,
            MutationType.RANDOMIZE_FUNCTION,
        ],
    )
    p = m.random_program(rng)
    for _ in range(200):
        q, _ = m.mutate(p, rng)
        differing = [c for c in Component if q.function(c) != p.function(c)]
        assert len(differing) <= 1
        p = q


def test_components_without_ops_are_never_mutated(rng: np.random.Generator) -> None:
    ops = tuple(REGISTRY[n] for n in DEMO)
    space = ProgramSpace(Banks(), ((), ops, ops), (3, 2, 2), (3, 2, 2), (3, 2, 2))
    m = Mutator(space, list(MutationType))
    p = m.random_program(rng)
    assert all(i.op.name == "NO_OP" for i in p.setup)
    for _ in range(200):
        p, _ = m.mutate(p, rng)
        assert all(i.op.name == "NO_OP" for i in p.setup)


def test_uniform_set_bounds_stay_sorted_after_data_mutation(rng: np.random.Generator) -> None:
    space = ProgramSpace.uniform(Banks(), ["SCALAR_UNIFORM_SET"], (1, 1, 1))
    m = Mutator(space, [MutationType.ALTER_PARAM])
    p = m.random_program(rng)
    for _ in range(300):
        p, desc = m.mutate(p, rng)
        if "low" in desc or "high" in desc:
            for fn in p.functions:
                for ins in fn:
                    assert ins.data[0] <= ins.data[1]


def test_mutation_is_reproducible_from_the_seed(all_ops_mutator: Mutator) -> None:
    def chain(seed: int) -> list[str]:
        r = np.random.default_rng(seed)
        p = all_ops_mutator.random_program(r)
        out = []
        for _ in range(50):
            p, _ = all_ops_mutator.mutate(p, r)
            out.append(p.fingerprint())
        return out

    assert chain(7) == chain(7)
    assert chain(7) != chain(8)


def test_empty_program_is_no_ops() -> None:
    space = ProgramSpace.uniform(Banks(), DEMO, (2, 1, 3), (0, 0, 0), (5, 5, 5))
    p = Mutator(space).empty_program()
    assert p.sizes() == (2, 1, 3)
    assert all(i.op.is_noop for fn in p.functions for i in fn)


def test_space_rejects_ops_that_need_missing_memory() -> None:
    with pytest.raises(ValueError, match="matrix"):
        ProgramSpace.uniform(Banks(4, 3, 0), ["MATRIX_SUM"], (1, 1, 1))
    with pytest.raises(ValueError, match="sizes"):
        ProgramSpace.uniform(Banks(), DEMO, (3, 1, 1), (4, 0, 0), (5, 5, 5))
