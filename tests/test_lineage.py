"""Lineage: keeping ancestors changes nothing in the search, and every ancestry is exact."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from primeval.algorithms.config import DEMO_OPS, parse_config
from primeval.algorithms.evolve import CompiledSearch
from primeval.algorithms.experiment import run_experiments
from primeval.algorithms.interpret.compiled import CompiledInterpreter
from primeval.algorithms.lineage import Ancestor, needed
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import MutationType, ProgramSpace
from primeval.algorithms.program import load_program
from primeval.algorithms.tasks import linear_regression_tasks
from primeval.engine.lineage import ANCESTRY, LINEAGE_FOLDER, chain_document, select_chain
from primeval.engine.runs import RunFolder


def _search(lineage: bool, seed: int = 4, population: int = 30) -> CompiledSearch:
    space = ProgramSpace.uniform(Banks(4, 3, 1), DEMO_OPS, (10, 2, 8))
    tasks = linear_regression_tasks(4, 4, 30, 20, seed=2)
    types = [MutationType.ALTER_PARAM, MutationType.RANDOMIZE_INSTRUCTION]
    return CompiledSearch(space, types, tasks, np.random.default_rng(seed),
                          population=population, tournament=4, lineage=lineage)  # fmt: skip


def test_needed_marks_seeds_and_their_ancestors_only() -> None:
    ids = np.array([5, 1, 3, 2, 7, 4])
    parents = np.array([3, -1, 1, 1, 4, 2])
    keep = needed(ids, parents, np.array([5, 99]))
    assert dict(zip(ids.tolist(), keep.tolist(), strict=True)) == {
        5: True, 3: True, 1: True, 2: False, 7: False, 4: False,
    }  # fmt: skip
    assert not needed(ids, parents, np.array([-1])).any()


def test_lineage_does_not_change_the_search() -> None:
    plain, kept = _search(False), _search(True)
    for n in (7, 500, 9000, 1):
        a, b = plain.step(n), kept.step(n)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    assert plain.best is not None and kept.best is not None
    assert plain.best.genome == kept.best.genome


@pytest.mark.slow
def test_the_best_ancestry_is_complete_and_exact() -> None:
    s = _search(True)
    s.step(20_000)
    chain = s.ancestry()
    best = s.best
    assert best is not None and chain[-1].id == best.id and chain[-1].program == best.genome
    assert chain[0].parent is None and chain[0].mutation == "initial"
    for parent, child in itertools.pairwise(chain):
        assert child.parent == parent.id and child.id > parent.id
        assert child.mutation.split()[0] in ("alter_param", "randomize_instruction", "copy")
    interp = CompiledInterpreter()
    for a in chain:  # recorded fitness is the program's fitness
        want = float(np.mean(interp.fitnesses(a.program, s.tasks, np.random.default_rng(0))))
        assert a.fitness == want
    # Every living member's ancestry reaches an initial program.
    for m in s.members():
        assert s.ancestry(m.id)[0].mutation == "initial"
    assert s.ancestry(10**9) == []
    assert Ancestor.from_json(chain[-1].to_json()) == chain[-1]


def test_the_archive_holds_the_ancestry_tree_not_every_parent() -> None:
    """Rows kept: about the population's ancestry tree, whose trunk grows a row or two per
    generation (population size candidates), not a row per candidate or per parent."""
    s = _search(True, population=20)
    for _ in range(10):
        s.step(10_000)
    kept = int(s.state()["archive.ids"].shape[0])
    generations = 100_000 // 20
    assert kept < 20 + 2.5 * generations  # of 100,000 candidates
    assert s.ancestry()[0].mutation == "initial"


def _steps(chain: list[Ancestor]) -> list[float]:
    return [a.fitness for k, a in enumerate(chain) if k == 0 or a.fitness != chain[k - 1].fitness]


def test_thinning_bounds_the_archive_and_keeps_chains_whole() -> None:
    """Thinning (what a search does when its ancestry outgrows ``lineage_max_mb``) keeps at
    most the target rows, changes nothing in the search, and leaves every chain running from
    an initial program through every remaining fitness change to its member."""
    plain, thinned = _search(True, population=20), _search(True, population=20)
    for _ in range(6):
        for s in (plain, thinned):
            s.step(10_000)
        before = thinned.ancestry()
        # Without a row to spare beyond the neutral ones, only flat steps go: the staircase
        # (the chain's fitness values, repeats merged) is unchanged.
        thinned._thin(10**9)
        neutral_only = thinned.ancestry()
        assert _steps(neutral_only) == _steps(before)
        assert thinned._thin(200) <= 200
        after = thinned.ancestry()
        assert after[0].mutation == "initial"
        assert (after[-1].id, after[-1].program) == (before[-1].id, before[-1].program)
        assert all(b.parent == a.id for a, b in itertools.pairwise(after))
        assert {a.id for a in after} <= {a.id for a in before}
        for m in thinned.members():
            assert thinned.ancestry(m.id)[0].mutation == "initial"
    assert any(a.mutation == "several" for a in thinned.ancestry())
    np.testing.assert_array_equal(plain.step(2000).fitness, thinned.step(2000).fitness)
    assert plain.best is not None and thinned.best is not None
    assert plain.best.genome == thinned.best.genome


@pytest.mark.slow
def test_the_archive_stays_within_its_bound() -> None:
    space = ProgramSpace.uniform(Banks(4, 3, 1), DEMO_OPS, (10, 2, 8))
    tasks = linear_regression_tasks(4, 4, 30, 20, seed=2)
    types = [MutationType.ALTER_PARAM, MutationType.RANDOMIZE_INSTRUCTION]
    s = CompiledSearch(space, types, tasks, np.random.default_rng(3), population=10,
                       tournament=3, lineage=True, lineage_max_mb=1e-6)  # fmt: skip
    limit = 2 * 1024  # the floor: two compiled calls' worth of rows
    for _ in range(30):
        s.step(10_000)
        assert int(s.state()["archive.ids"].shape[0]) <= limit
        assert len(s._archive.ids) <= limit + 1024
    assert s.ancestry()[0].mutation == "initial"


def test_state_keeps_the_archive() -> None:
    s = _search(True)
    s.step(5000)
    saved = s.state()
    t = _search(True, seed=9)
    t.load_state(saved)
    assert t.ancestry() == s.ancestry()
    np.testing.assert_array_equal(t.step(3000).fitness, s.step(3000).fitness)
    assert t.ancestry() == s.ancestry()


def test_a_run_folder_keeps_the_selected_algorithms_ancestry(tmp_path: Path) -> None:
    config = parse_config(
        {
            "seed": 1,
            "tasks": {"kind": "linear", "dim": 4, "n_tasks": 4, "n_train": 40, "n_valid": 20},
            "search": {"population": 50, "tournament": 5, "max_evals": 20_000},
            "select": {
                "tasks": {"kind": "linear", "dim": 4, "n_tasks": 4, "n_train": 50, "n_valid": 20},
                "sufficient_fitness": None,
                "max_experiments": 2,
            },
            "final": {"tasks": None},
        },
        "test",
    )
    folder = RunFolder.create(tmp_path / "run")
    run_experiments(config, folder)
    saved = folder.read_json(ANCESTRY)
    assert sorted(p.name for p in folder.file(LINEAGE_FOLDER).iterdir()) == [
        "experiment_0001.json",
        "experiment_0002.json",
    ]
    chain = [Ancestor.from_json(a) for a in saved["chain"]]
    assert chain[0].mutation == "initial" and len(chain) > 1
    assert all(b.parent == a.id for a, b in itertools.pairwise(chain))
    if saved["selected"]:
        assert chain[-1].program == load_program(folder.file(RunFolder.BEST))


def test_lineage_documents_are_json_and_selection_reads_only_the_last_link(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path / "run")
    folder.file(LINEAGE_FOLDER).mkdir()
    links = ['{"id":3,"parent":null}', '{"id":7,"parent":3}']
    folder.write_text(
        f"{LINEAGE_FOLDER}/experiment_0002.json",
        chain_document({"experiment": 2, "island": 1}, links),
    )
    folder.write_text(
        f"{LINEAGE_FOLDER}/experiment_0003.json",
        chain_document({"experiment": 3, "island": 0}, []),
    )
    expected = {
        "experiment": 2,
        "island": 1,
        "chain": [{"id": 3, "parent": None}, {"id": 7, "parent": 3}],
    }
    assert folder.read_json(f"{LINEAGE_FOLDER}/experiment_0002.json") == expected
    for key, selected in [((2, 1, 7), True), ((2, 1, 3), False), ((2, 0, 7), False)]:
        select_chain(folder, key)
        assert folder.read_json(ANCESTRY) == {**expected, "selected": selected}
    select_chain(folder, (3, 0, 5))
    assert folder.read_json(ANCESTRY) == {
        "experiment": 3,
        "island": 0,
        "chain": [],
        "selected": False,
    }
