"""The compiled search loop against the Python engine it reimplements.

Helpers are checked in plain Python (register_jitable leaves them callable) against the
modules they port; whole searches are checked compiled, step for step, against
``Search`` + ``RegularizedEvolution`` / ``RandomSearch`` + ``AlgorithmEvaluator``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from primeval.algorithms.baselines import damaged_neural_net, neural_net
from primeval.algorithms.dce import live_mask
from primeval.algorithms.evaluate import AlgorithmEvaluator, FECSettings, HurdleSettings
from primeval.algorithms.evolve import CompiledSearch
from primeval.algorithms.evolve_lineage import mutation_label
from primeval.algorithms.genome import AlgorithmSpace
from primeval.algorithms.interpret import search_fec, search_hurdle, search_rows, search_tables
from primeval.algorithms.interpret.compiled import CompiledInterpreter
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import (
    PAPER_TYPES,
    PAPER_WEIGHTS,
    ConstantRule,
    MutationType,
    Mutator,
    ProgramSpace,
)
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import (
    Component,
    Function,
    Program,
    program_from_json,
    program_to_json,
)
from primeval.algorithms.tasks.synthetic import linear_regression_tasks, nonlinear_teacher_tasks
from primeval.engine.cache import LRUCache
from primeval.engine.hurdles import PopulationHurdle, RollingPercentileHurdle
from primeval.engine.search import Search
from primeval.engine.strategies import RandomSearch, RegularizedEvolution

DEMO_OPS = [
    "SCALAR_CONST_SET",
    "VECTOR_INNER_PRODUCT",
    "SCALAR_DIFF",
    "SCALAR_PRODUCT",
    "SCALAR_VECTOR_PRODUCT",
    "VECTOR_SUM",
]
DEFAULT_FEC = FECSettings()
DETERMINISTIC_OPS = [spec.name for spec in REGISTRY if not spec.stochastic]


def _rows(space: ProgramSpace, program: Program) -> tuple[np.ndarray, ...]:
    """A program as a population row of ``space``'s tables."""
    t = search_tables.SearchTables.build(space, list(MutationType), 4)
    length = t.row_length
    ops = np.zeros(length, dtype=np.int64)
    args = np.zeros((length, 3), dtype=np.int64)
    data = np.zeros((length, 3))
    lens = np.zeros(3, dtype=np.int64)
    for c, fn in enumerate(program.functions):
        base = int(t.offsets[c])
        ops[base : base + len(fn)] = fn.ops
        args[base : base + len(fn)] = fn.args
        data[base : base + len(fn)] = fn.data
        lens[c] = len(fn)
    return ops, args, data, lens


def _program(space: ProgramSpace, rows: tuple[np.ndarray, ...]) -> Program:
    t = search_tables.SearchTables.build(space, list(MutationType), 4)
    ops, args, data, lens = rows
    fns = []
    for c in range(3):
        lo = int(t.offsets[c])
        fns.append(
            Function(ops[lo : lo + lens[c]], args[lo : lo + lens[c]], data[lo : lo + lens[c]])
        )
    return Program(fns[0], fns[1], fns[2], space.banks)


# --- helpers, in plain Python ---------------------------------------------------------------------


def test_mutations_equal_the_mutator(all_ops_mutator: Mutator) -> None:
    """Same generator state in, same program and generator state out, for every type."""
    space = all_ops_mutator.space
    t = search_tables.SearchTables.build(space, list(all_ops_mutator.types), 4)
    u, pos = np.zeros(32), np.zeros(1, dtype=np.int64)
    program = all_ops_mutator.random_program(np.random.default_rng(0))
    seen = set()
    for seed in range(400):
        rng_py, rng_cs = np.random.default_rng(seed), np.random.default_rng(seed)
        want, what = all_ops_mutator.mutate(program, rng_py)
        rows = [a.copy() for a in _rows(space, program)]
        code = search_rows.mutate_into(rng_cs, u, pos, t, *rows)
        got = _program(space, tuple(rows))
        assert got == want, (seed, what)
        assert rng_py.random() == rng_cs.random()
        assert mutation_label(code).split()[0] == what.split()[0]
        seen.add(what.split()[0])
        program = want
    assert seen == {m.value for m in MutationType}


def test_paper_mutations_equal_the_mutator(all_ops_mutator: Mutator) -> None:
    """Sec. 3.2's weighted types and constant rule, compiled and in Python."""
    space = all_ops_mutator.space
    types = list(MutationType)
    weights = [1.0 + k for k in range(len(types))]
    mutator = Mutator(space, types, weights, ConstantRule.PAPER)
    t = search_tables.SearchTables.build(space, types, 4, None, weights, ConstantRule.PAPER)
    u, pos = np.zeros(32), np.zeros(1, dtype=np.int64)
    program = mutator.random_program(np.random.default_rng(0))
    for seed in range(400):
        rng_py, rng_cs = np.random.default_rng(seed), np.random.default_rng(seed)
        want, what = mutator.mutate(program, rng_py)
        rows = [a.copy() for a in _rows(space, program)]
        search_rows.mutate_into(rng_cs, u, pos, t, *rows)
        assert _program(space, tuple(rows)) == want, (seed, what)
        assert rng_py.random() == rng_cs.random()
        program = want


def test_random_programs_equal_the_mutator(all_ops_mutator: Mutator) -> None:
    space = all_ops_mutator.space
    t = search_tables.SearchTables.build(space, list(all_ops_mutator.types), 4)
    u, pos = np.zeros(32), np.zeros(1, dtype=np.int64)
    for seed in range(50):
        want = all_ops_mutator.random_program(np.random.default_rng(seed))
        rows = [a.copy() for a in _rows(space, Program.empty(space.banks))]
        search_rows.random_program_into(np.random.default_rng(seed), u, pos, t, *rows)
        assert _program(space, tuple(rows)) == want


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), frozen=st.sets(st.sampled_from(list(Component)), max_size=2))
def test_frozen_functions_are_never_mutated(seed: int, frozen: set[Component]) -> None:
    """With some functions frozen, the compiled mutation still equals the Mutator's, and
    neither ever changes a frozen function, whatever the mutation type."""
    keep = tuple(sorted(frozen))
    space = ProgramSpace(
        Banks(5, 4, 3), tuple(tuple(REGISTRY) for _ in range(3)),  # type: ignore[arg-type]
        (3, 3, 3), (0, 0, 0), (8, 8, 8), keep,
    )  # fmt: skip
    assert space.mutable() == [c for c in Component if c not in frozen]
    mutator = Mutator(space, list(MutationType))
    t = search_tables.SearchTables.build(space, list(MutationType), 4)
    assert sorted(t.mutable.tolist()) == [int(c) for c in space.mutable()]
    u, pos = np.zeros(32), np.zeros(1, dtype=np.int64)
    program = start = mutator.random_program(np.random.default_rng(seed))
    for k in range(40):
        rng_py, rng_cs = np.random.default_rng([seed, k]), np.random.default_rng([seed, k])
        want, what = mutator.mutate(program, rng_py)
        rows = [a.copy() for a in _rows(space, program)]
        search_rows.mutate_into(rng_cs, u, pos, t, *rows)
        assert _program(space, tuple(rows)) == want, what
        for c in keep:
            assert want.function(c) == start.function(c), what
        program = want


def test_seeded_tables_copy_the_initial_program() -> None:
    space = ProgramSpace.uniform(Banks(5, 9, 2), ["MATRIX_GAUSSIAN_SET"], (1, 5, 11),
                                 (1, 5, 11), (4, 5, 11))  # fmt: skip
    t = search_tables.SearchTables.build(space, [MutationType.INSERT], 4, damaged_neural_net())
    rows = [a.copy() for a in _rows(space, Program.empty(space.banks))]
    search_rows.seed_program_into(t, *rows)
    assert _program(space, tuple(rows)) == damaged_neural_net()
    small = ProgramSpace.uniform(Banks(5, 9, 2), ["MATRIX_GAUSSIAN_SET"], (1, 1, 1))
    with pytest.raises(ValueError, match="predict exceeds max_sizes"):
        search_tables.SearchTables.build(small, [MutationType.INSERT], 4, damaged_neural_net())


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_live_mask_equals_dce(seed: int) -> None:
    space = ProgramSpace.uniform(Banks(4, 3, 2), REGISTRY.names(), (4, 3, 6), (0, 0, 0), (8, 8, 8))
    mutator = Mutator(space, list(MutationType))
    program = mutator.random_program(np.random.default_rng(seed))
    t = search_tables.SearchTables.build(space, list(MutationType), 4)
    ops, args, _, lens = _rows(space, program)
    mask = np.zeros(t.row_length, dtype=bool)
    work = np.zeros((4, 9), dtype=bool)
    draws = search_rows.live_mask_into(t, ops, args, lens, mask, work)
    want = live_mask(program)
    for c in range(3):
        lo = int(t.offsets[c])
        np.testing.assert_array_equal(mask[lo : lo + lens[c]], want[c])
    live_draws = any(
        (m & np.array([REGISTRY[int(o)].stochastic for o in fn.ops], dtype=bool)).any()
        for m, fn in zip(want, program.functions, strict=True)
    )
    assert draws == live_draws


def test_lru_equals_lru_cache() -> None:
    rng = np.random.default_rng(3)
    capacity = 37
    ref: LRUCache[int, float] = LRUCache(capacity)
    keys = np.zeros(capacity, dtype=np.uint64)
    values = np.zeros(capacity)
    prev = np.full(capacity, -1, dtype=np.int64)
    nxt = np.full(capacity, -1, dtype=np.int64)
    table = np.full(128, -1, dtype=np.int64)
    state = np.array([0, -1, -1], dtype=np.int64)
    out = np.zeros(1)
    for _ in range(5000):
        key = int(rng.integers(0, 120)) * 1_000_003  # collide on purpose in the table
        k = np.uint64(key)
        hit = search_fec.lru_get(keys, values, prev, nxt, table, state, k, out)
        want = ref.get(key)
        assert hit == (want is not None)
        if hit:
            assert out[0] == want
        else:
            value = float(rng.random())
            ref.put(key, value)
            search_fec.lru_put(keys, values, prev, nxt, table, state, k, value)
        assert state[0] == len(ref)
    # Same contents, same recency order.
    order, slot = [], state[1]
    while slot >= 0:
        order.append(int(keys[slot]))
        slot = nxt[slot]
    assert order == list(ref._data)


def test_percentile_equals_numpy() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 10, 999, 1000):
        x = rng.normal(size=n) * 10.0 ** rng.integers(-3, 4)
        for q in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 0.333):
            assert search_hurdle.percentile_linear(x, n, q) == np.percentile(x, 100 * q)


def test_hurdle_equals_rolling_percentile_hurdle() -> None:
    rng = np.random.default_rng(6)
    ref = RollingPercentileHurdle(70.0, window=50, warmup=10)
    window, finite = np.zeros(50), np.zeros(50)
    state = np.zeros(5, dtype=np.int64)
    params = np.array([0.7, 10, -np.inf, 0.0])
    for _ in range(400):
        score = float(rng.random()) if rng.random() > 0.1 else float("nan")
        got = search_hurdle.hurdle_check(window, finite, state, params, score, window, 0)
        assert got == ref.check(score)
    assert (state[3], state[4]) == (ref.passed, ref.failed)


def test_hurdle_equals_population_hurdle() -> None:
    """The paper's rule: the percentile of the population's unique finite fitnesses."""
    rng = np.random.default_rng(7)
    ref = PopulationHurdle(75.0, warmup=10)
    finite = np.zeros(30)
    state = np.zeros(5, dtype=np.int64)
    params = np.array([0.75, 10, -np.inf, 1.0])
    for _ in range(300):
        count = int(rng.integers(0, 31))
        pop = np.round(rng.random(30), 1)  # ties, so that unique values matter
        pop[rng.random(30) < 0.1] = -np.inf
        score = float(rng.random()) if rng.random() > 0.1 else float("nan")
        got = search_hurdle.hurdle_check(finite, finite, state, params, score, pop, count)
        assert got == ref.check(score, list(pop[:count]))
        assert params[2] == ref.threshold()
    assert (state[3], state[4]) == (ref.passed, ref.failed)
    assert ref.passed > 0 and ref.failed > 0


def test_fingerprint_classes_are_rounding_classes() -> None:
    rng = np.random.default_rng(8)
    bits = np.zeros(1)
    np.seterr(over="ignore")  # unsigned wrap-around is the point (numba ignores it too)
    base = rng.normal(size=(3, 5))
    base[0, 2] = np.nan
    h = search_fec.fingerprint(base, 1e10, bits)
    assert search_fec.fingerprint(base + 1e-13, 1e10, bits) == h  # rounds to the same
    nudged = base.copy()
    nudged[1, 1] += 1e-9
    assert search_fec.fingerprint(nudged, 1e10, bits) != h
    zeros = np.zeros((1, 2))
    assert search_fec.fingerprint(-zeros, 1e10, bits) == search_fec.fingerprint(zeros, 1e10, bits)


# --- whole searches, compiled ---------------------------------------------------------------


def _both(
    space: ProgramSpace,
    types: list[MutationType],
    tasks: Any,
    steps: int,
    strategy: str = "evolution",
    population: int = 40,
    tournament: int = 5,
    initial: str | Program = "random",
    remove: str = "oldest",
    combine_mode: str = "mean",
    fec: FECSettings | None = DEFAULT_FEC,
    hurdle: HurdleSettings | None = None,
    max_cost_ratio: float | None = None,
    mutate_prob: float = 0.9,
    weights: list[float] | None = None,
    constants: ConstantRule = ConstantRule.LOG_NORMAL,
    precheck: bool = False,
) -> tuple[Any, Any, CompiledSearch, AlgorithmEvaluator]:
    mutator = Mutator(space, types, weights, constants)
    genomes = AlgorithmSpace(mutator, initial)
    rng = np.random.default_rng(11)
    evaluator = AlgorithmEvaluator(
        tasks, CompiledInterpreter(), rng, combine_mode, fec, hurdle, max_cost_ratio, precheck
    )
    strat: Any = (
        RandomSearch(genomes)
        if strategy == "random"
        else RegularizedEvolution(genomes, population, tournament, mutate_prob, remove)
    )
    evaluator.watch(strat.members)
    want = Search(strat, evaluator, rng, max_evals=steps).run()
    fast = CompiledSearch(
        space, types, tasks, np.random.default_rng(11), strategy=strategy,
        population=population, tournament=tournament, mutate_prob=mutate_prob, remove=remove,
        initial=initial, combine_mode=combine_mode, fec=fec, hurdle=hurdle,
        max_cost_ratio=max_cost_ratio, weights=weights, constants=constants, precheck=precheck,
    )  # fmt: skip
    fast.run(max_evals=steps)
    return strat, want, fast, evaluator


def _assert_same(strat: Any, want: Any, fast: CompiledSearch, steps: int) -> None:
    assert fast.evaluations == want.evaluations == steps
    members, fast_members = strat.members(), fast.members()
    assert len(members) == len(fast_members)
    for a, b in zip(members, fast_members, strict=True):
        assert (a.id, a.parent) == (b.id, b.parent)
        assert a.genome == b.genome
        assert a.fitness == b.fitness or (np.isnan(a.fitness) and np.isnan(b.fitness))
    assert fast.best is not None
    assert (fast.best.id, fast.best.fitness) == (want.best.id, want.best.fitness)
    assert fast.best.genome == want.best.genome


def test_demo_search_equals_the_python_engine() -> None:
    space = ProgramSpace.uniform(Banks(4, 3, 1), DEMO_OPS, (10, 2, 8))
    tasks = linear_regression_tasks(5, 4, 30, 20, seed=2)
    types = [MutationType.ALTER_PARAM, MutationType.RANDOMIZE_INSTRUCTION,
             MutationType.RANDOMIZE_FUNCTION]  # fmt: skip
    strat, want, fast, evaluator = _both(space, types, tasks, 1500)
    _assert_same(strat, want, fast, 1500)
    assert fast.full_evaluations == evaluator.full_evaluations
    assert 0.0 < fast.stats()["fec_hit_rate"] == evaluator.stats()["fec_hit_rate"]


@pytest.mark.parametrize(
    "options",
    [
        {"remove": "worst", "combine_mode": "median", "initial": "empty", "mutate_prob": 1.0},
        {"hurdle": HurdleSettings(tasks=1, percentile=60.0, window=50, warmup=20)},
        {"max_cost_ratio": 0.5, "fec": None},
        {"strategy": "random"},
        {"hurdle": HurdleSettings(tasks=1, warmup=20, rule="population"), "initial": "empty"},
        {"weights": list(PAPER_WEIGHTS), "constants": ConstantRule.PAPER, "types": PAPER_TYPES},
        {"precheck": True},
    ],
    ids=[
        "worst-median-empty",
        "hurdles",
        "cost-cap-no-fec",
        "random-search",
        "population-hurdle",
        "paper-mutations",
        "precheck",
    ],
)
def test_variants_equal_the_python_engine(options: dict[str, Any]) -> None:
    """Growing programs over every deterministic op, with each optional mechanism."""
    space = ProgramSpace.uniform(Banks(5, 4, 2), DETERMINISTIC_OPS, (2, 1, 2), (0, 0, 0), (6, 4, 8))
    tasks = nonlinear_teacher_tasks(3, 4, 40, 20, seed=4)
    options = dict(options)
    types = list(options.pop("types", list(MutationType)))
    strat, want, fast, evaluator = _both(space, types, tasks, 600, **options)
    _assert_same(strat, want, fast, 600)
    assert fast.full_evaluations == evaluator.full_evaluations
    for key, value in evaluator.stats().items():
        assert fast.stats()[key] == value
    if options.get("precheck"):
        assert evaluator.rejected > 0
    if options.get("hurdle") is not None:
        assert 0.0 < evaluator.stats()["hurdle_pass_rate"] < 1.0


@pytest.mark.parametrize("fec", [FECSettings(), None], ids=["fec", "no-fec"])
def test_search_with_random_draws_equals_the_python_engine(fec: FECSettings | None) -> None:
    """Every op, random draws included: FEC probes reseed one generator per task, and dead
    draws still advance the search generator, as in the Python evaluator."""
    space = ProgramSpace.uniform(Banks(4, 3, 2), REGISTRY.names(), (3, 2, 3), (0, 0, 0), (6, 4, 6))
    tasks = linear_regression_tasks(3, 4, 30, 20, seed=5)
    strat, want, fast, evaluator = _both(space, list(MutationType), tasks, 800, fec=fec)
    _assert_same(strat, want, fast, 800)
    assert "fec_bypassed" not in fast.stats()
    assert fast.full_evaluations == evaluator.full_evaluations


def _setup_only_space() -> ProgramSpace:
    """The reference's Setup-only search (``configs/nonlinear_setup.yaml``), smaller."""
    gauss = tuple(REGISTRY[n] for n in ("VECTOR_GAUSSIAN_SET", "MATRIX_GAUSSIAN_SET"))
    frozen = (Component.PREDICT, Component.LEARN)
    return ProgramSpace(Banks(5, 9, 2), (gauss, gauss, gauss), (1, 5, 11), (1, 5, 11),
                        (4, 5, 11), frozen)  # fmt: skip


def test_setup_only_search_equals_the_python_engine_and_never_changes_predict_or_learn() -> None:
    """From copies of the damaged network with Predict and Learn frozen, both loops make the
    same candidates; every member, archived ancestor and the best keep the network's Predict
    and Learn, and evolution finds a Setup that beats the damaged one (a random init)."""
    space, start = _setup_only_space(), damaged_neural_net()
    tasks = nonlinear_teacher_tasks(2, 4, 60, 20, seed=3, zero_rows=(0, 2))
    types = [MutationType.ALTER_PARAM, MutationType.INSERT, MutationType.REMOVE,
             MutationType.TRADE]  # fmt: skip
    strat, want, fast, _ = _both(space, types, tasks, 500, initial=start, mutate_prob=1.0)
    _assert_same(strat, want, fast, 500)
    members = [m.genome for m in strat.members()] + [m.genome for m in fast.members()]
    assert any(m.setup != start.setup for m in members)
    for m in members:
        assert m.predict == start.predict and m.learn == start.learn
    assert fast.best is not None and fast.best.genome.learn == start.learn
    damaged = float(CompiledInterpreter().fitnesses(start, tasks, np.random.default_rng(0)).mean())
    assert fast.best.fitness > damaged + 0.05
    assert any(REGISTRY[int(op)].stochastic for op in fast.best.genome.setup.ops)


def test_setup_only_search_keeps_predict_and_learn_through_lineage() -> None:
    space, start = _setup_only_space(), damaged_neural_net()
    tasks = nonlinear_teacher_tasks(1, 4, 40, 20, seed=4, zero_rows=(0, 2))
    fast = CompiledSearch(space, [MutationType.INSERT, MutationType.REMOVE], tasks,
                          np.random.default_rng(5), population=20, tournament=4,
                          initial=start, lineage=True)  # fmt: skip
    log = fast.step(400)
    assert {mutation_label(int(m)) for m in log.mutations} <= {
        "initial", "copy", "insert setup", "remove setup"}  # fmt: skip
    chain = fast.ancestry()
    assert chain[0].mutation == "initial" and chain[0].program == start
    assert all(a.program.predict == start.predict and a.program.learn == start.learn for a in chain)
    with pytest.raises(ValueError, match="memory differs"):
        CompiledSearch(space, [MutationType.INSERT], tasks, np.random.default_rng(5),
                       initial=neural_net(Banks(5, 9, 3)))  # fmt: skip


@pytest.mark.slow
def test_programs_read_from_the_search_never_change_afterwards() -> None:
    """The best, members and ancestors are copies: the loop rewriting its rows in place
    must not change a program handed out earlier (e.g. the one the selection keeps)."""
    space = ProgramSpace.uniform(Banks(4, 3, 1), DEMO_OPS, (10, 2, 8))
    tasks = linear_regression_tasks(3, 4, 20, 10, seed=1)
    fast = CompiledSearch(space, [MutationType.ALTER_PARAM], tasks, np.random.default_rng(2),
                          population=20, tournament=3, lineage=True)  # fmt: skip
    fast.step(40)
    assert fast.best is not None
    kept = [fast.best.genome, *(m.genome for m in fast.members())]
    copies = [program_from_json(program_to_json(p)) for p in kept]
    fast.step(2000)
    assert fast.best.genome != kept[0]  # the loop's best row was rewritten ...
    assert kept == copies  # ... and the programs read before did not follow it


def test_lineage_records_every_candidate() -> None:
    space = ProgramSpace.uniform(Banks(4, 3, 1), DEMO_OPS, (10, 2, 8))
    tasks = linear_regression_tasks(3, 4, 20, 10, seed=1)
    fast = CompiledSearch(space, [MutationType.ALTER_PARAM], tasks, np.random.default_rng(2),
                          population=20, tournament=3)  # fmt: skip
    log = fast.step(100)
    assert list(log.ids) == list(range(100))
    assert np.all(log.parents[:20] == -1)
    assert np.all(log.parents[20:] >= 0) and np.all(log.parents[20:] < log.ids[20:])
    labels = {mutation_label(int(m)) for m in log.mutations}
    assert "initial" in labels
    assert labels <= {"initial", "copy", "alter_param setup", "alter_param predict",
                      "alter_param learn"}  # fmt: skip
    assert Component.SETUP == 0


def test_state_round_trip_continues_exactly() -> None:
    """A search restored from its state makes the same candidates as one never stopped."""
    space = ProgramSpace.uniform(Banks(4, 3, 2), REGISTRY.names(), (3, 2, 3), (0, 0, 0), (6, 4, 6))
    tasks = linear_regression_tasks(3, 4, 30, 20, seed=5)

    def make() -> CompiledSearch:
        return CompiledSearch(space, list(MutationType), tasks, np.random.default_rng(9),
                              population=30, tournament=4,
                              hurdle=HurdleSettings(1, 50.0, 40, 10))  # fmt: skip

    a = make()
    a.step(300)
    saved = a.state()
    log_a = a.step(300)
    b = make()
    b.load_state(saved)
    log_b = b.step(300)
    for x, y in zip(log_a, log_b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert [m.genome for m in a.members()] == [m.genome for m in b.members()]
    assert a.stats() == b.stats()
    with pytest.raises(ValueError, match="does not match"):
        CompiledSearch(space, list(MutationType), tasks, np.random.default_rng(9),
                       population=31).load_state(saved)  # fmt: skip


def test_migrants_are_evaluated_and_join_the_population() -> None:
    space = ProgramSpace.uniform(Banks(4, 3, 1), DEMO_OPS, (10, 2, 8))
    tasks = linear_regression_tasks(3, 4, 20, 10, seed=1)
    types = [MutationType.ALTER_PARAM, MutationType.RANDOMIZE_INSTRUCTION]
    a = CompiledSearch(space, types, tasks, np.random.default_rng(1), population=20,
                       tournament=3)  # fmt: skip
    b = CompiledSearch(space, types, tasks, np.random.default_rng(2), population=20,
                       tournament=3)  # fmt: skip
    a.step(60)
    b.step(60)
    travellers = a.emigrants(10, np.random.default_rng(0))
    assert len(travellers) == 10 and len({p.fingerprint() for p in travellers}) >= 1
    assert b.immigrate(travellers) == 10
    saved = b.state()
    log = b.step(15)
    assert [mutation_label(int(m)) for m in log.mutations[:10]] == ["migrant"] * 10
    assert "migrant" not in {mutation_label(int(m)) for m in log.mutations[10:]}
    newest = [m.genome for m in b.members()[-15:-5]]
    assert newest == travellers
    interp = CompiledInterpreter()
    for program, fitness in zip(travellers, log.fitness[:10], strict=True):
        want = float(np.mean(interp.fitnesses(program, tasks, np.random.default_rng(0))))
        assert fitness == pytest.approx(want, abs=1e-12)
    # A checkpoint taken with migrants waiting resumes with them.
    c = CompiledSearch(space, types, tasks, np.random.default_rng(2), population=20,
                       tournament=3)  # fmt: skip
    c.load_state(saved)
    np.testing.assert_array_equal(c.step(15).fitness, log.fitness)
    too_big = Program.empty(space.banks, (11, 2, 8))
    assert b.immigrate([too_big]) == 0


def test_packed_migration_equals_program_migration() -> None:
    """Islands exchange packed rows; they must carry exactly the programs ``emigrants`` gives."""
    space = ProgramSpace.uniform(Banks(4, 3, 1), DEMO_OPS, (10, 2, 8))
    tasks = linear_regression_tasks(3, 4, 20, 10, seed=1)
    types = [MutationType.ALTER_PARAM, MutationType.RANDOMIZE_INSTRUCTION]

    def search(seed: int) -> CompiledSearch:
        return CompiledSearch(space, types, tasks, np.random.default_rng(seed), population=20,
                              tournament=3)  # fmt: skip

    a = search(1)
    a.step(60)
    travellers = a.emigrants(10, np.random.default_rng(0))
    sizes = (12, 3, 9)  # wider than the space's (10, 2, 8): the layouts need not agree
    rows = a.emigrant_rows(10, np.random.default_rng(0), sizes)
    assert rows["ops"].shape == (10, sum(sizes))
    by_programs, by_rows = search(2), search(2)
    by_programs.step(30)
    by_rows.step(30)
    assert by_programs.immigrate(travellers) == by_rows.immigrate_rows(rows, sizes) == 10
    np.testing.assert_array_equal(by_programs.step(15).fitness, by_rows.step(15).fitness)
    assert [m.genome for m in by_rows.members()[-15:-5]] == travellers
    rows["lens"][0] = (11, 2, 8)  # too long for this space: skipped
    assert search(3).immigrate_rows(rows, sizes) == 9
