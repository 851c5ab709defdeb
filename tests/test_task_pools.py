"""Task pools (Real et al. 2020, Sec. 4.2: the search draws its tasks from 36 class pairs x 100
random projections; Sec. 4.1: D teachers): draws are reproducible from the seed, every
experiment draws anew from one fixed pool, and select and final tasks stay held out."""

from __future__ import annotations

import numpy as np
import pytest

from primeval.algorithms.builders import build_tasks
from primeval.algorithms.config import (
    Config,
    ConfigError,
    TaskConfig,
    load_config,
    parse_config,
    with_data_path,
)
from primeval.algorithms.islands import build_island_tasks
from primeval.algorithms.tasks import (
    SELECTION_PAIRS,
    TaskSet,
    load_digits,
    pooled_binary_tasks,
    search_pairs,
)

ARRAYS = ("train_x", "train_y", "valid_x", "valid_y", "order", "test_x", "test_y")


def same_task(a: object, b: object) -> bool:
    for name in ARRAYS:
        va, vb = getattr(a, name), getattr(b, name)
        if (va is None) != (vb is None) or (va is not None and not np.array_equal(va, vb)):
            return False
    return True


def same_tasks(a: TaskSet, b: TaskSet) -> bool:
    return len(a) == len(b) and all(same_task(ta, tb) for ta, tb in zip(a, b, strict=True))


def by_name(tasks: TaskSet) -> dict[str, object]:
    return {t.name: t for t in tasks}


SIZES = {"dim": 8, "n_train": 100, "n_valid": 40, "n_test": 20}


def digits_pool(pool_seed: int, draw_seed: int, n_tasks: int = 12) -> TaskSet:
    x, y = load_digits()
    return pooled_binary_tasks(
        x, y, search_pairs(), 5, n_tasks, pool_seed, draw_seed, name="digits", **SIZES
    )


def test_a_pool_draw_is_reproducible_from_its_seeds() -> None:
    assert same_tasks(digits_pool(1, 2), digits_pool(1, 2))


def test_draws_differ_but_a_member_is_the_same_task_in_every_draw() -> None:
    a, b = by_name(digits_pool(1, 2, 60)), by_name(digits_pool(1, 3, 60))
    assert set(a) != set(b)
    shared = set(a) & set(b)
    assert shared  # 60 of 180 members twice: some in both
    assert all(same_task(a[name], b[name]) for name in shared)


def test_the_pool_seed_fixes_the_projections() -> None:
    a, b = digits_pool(1, 2), digits_pool(7, 2)
    assert [t.name for t in a] == [t.name for t in b]  # the same members drawn ...
    assert not any(same_task(ta, tb) for ta, tb in zip(a, b, strict=True))  # ... other data


def test_members_are_distinct_pairs_and_projections_of_the_pool() -> None:
    tasks = digits_pool(1, 2, 180)  # the whole pool: 36 pairs x 5 projections
    names = [t.name for t in tasks]
    assert len(set(names)) == 180
    expected = {f"digits({a},{b})#{k}" for a, b in search_pairs() for k in range(5)}
    assert set(names) == expected
    with pytest.raises(ValueError, match="pool of 180"):
        digits_pool(1, 2, 181)


def pooled_config(**task_fields: object) -> Config:
    tasks = {"kind": "projected", "dataset": "digits", "n_tasks": 6, "projections": 100}
    tasks |= SIZES | task_fields
    held_out = {"kind": "projected", "dataset": "digits", "pairs": "selection", "n_tasks": 9}
    held_out |= SIZES
    return parse_config(
        {
            "seed": 5,
            "memory": {"scalars": 4, "vectors": 3, "matrices": 1},
            "tasks": tasks,
            "select": {"tasks": held_out},
            "final": {"tasks": {**held_out, "seed": 1_000_000}},
        },
        "test",
    )


def test_every_experiment_draws_anew_from_one_pool_reproducibly() -> None:
    config = pooled_config()
    e0, e1 = build_island_tasks(config, 0, 0), build_island_tasks(config, 1, 0)
    assert same_tasks(e0, build_island_tasks(config, 0, 0))
    assert [t.name for t in e0] != [t.name for t in e1]
    # The pool is the run's: a member drawn by two experiments is the same task.
    big = pooled_config(n_tasks=400)
    a, b = by_name(build_island_tasks(big, 0, 0)), by_name(build_island_tasks(big, 1, 0))
    shared = set(a) & set(b)
    assert shared and all(same_task(a[n], b[n]) for n in shared)


def test_pool_tasks_use_only_search_pairs_and_select_tasks_are_held_out() -> None:
    config = pooled_config(n_tasks=200)
    searched = {t.name.split("#")[0] for e in range(3) for t in build_island_tasks(config, e, 0)}
    held_out = {f"digits({a},{b})" for a, b in SELECTION_PAIRS}
    assert searched <= {f"digits({a},{b})" for a, b in search_pairs()}
    select = build_tasks(config.select.tasks, 11)
    assert {t.name for t in select} <= held_out
    assert not searched & held_out


def test_a_fixed_tasks_seed_fixes_the_pool_not_the_draw() -> None:
    config = pooled_config(seed=3)
    e0, e1 = build_island_tasks(config, 0, 0), build_island_tasks(config, 1, 0)
    assert [t.name for t in e0] != [t.name for t in e1]
    other = pooled_config(seed=4)
    assert [t.name for t in build_island_tasks(other, 0, 0)] == [t.name for t in e0]
    assert not same_tasks(build_island_tasks(other, 0, 0), e0)


def test_teachers_are_redrawn_every_experiment_reproducibly() -> None:
    fig5 = load_config("fig5").with_overrides(**{"tasks.n_tasks": 3})
    e0, e1 = build_island_tasks(fig5, 0, 0), build_island_tasks(fig5, 1, 0)
    assert same_tasks(e0, build_island_tasks(fig5, 0, 0))
    for t0, t1 in zip(e0, e1, strict=True):
        assert not np.array_equal(t0.train_y, t1.train_y)
    assert load_config("fig5").tasks.n_tasks == 100  # the paper's D = 100 teachers


def test_without_projections_tasks_are_built_as_before() -> None:
    """The default (no pool) keeps the fixed tasks of earlier versions: a task per pair,
    seeded by the experiment, the first cycle of pairs named without a projection."""
    config = pooled_config(projections=None)
    tasks = build_island_tasks(config, 0, 0)
    assert all("#" not in t.name for t in tasks)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "linear", "projections": 3}, "projections make a pool"),
        ({"kind": "projected", "projections": 2, "n_tasks": 73}, "more than the pool's 72"),
        ({"kind": "projected", "pairs": [[0, 1]], "projections": 1, "n_tasks": 2}, "pool's 1"),
        ({"kind": "projected", "projections": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_pools_are_config_errors(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TaskConfig.model_validate(fields)
    with pytest.raises(ConfigError, match=message):
        parse_config({"tasks": fields}, "test")


def test_data_path_goes_to_the_search_data_set_and_islands_keep_theirs() -> None:
    """Sec. 4.2 mixed CIFAR-10 and MNIST workers: ``--data-path`` names CIFAR-10's files."""
    cifar = {"kind": "projected", "dataset": "cifar10", "n_tasks": 4}
    config = parse_config(
        {
            "tasks": cifar,
            "select": {"tasks": {**cifar, "pairs": "selection"}},
            "final": {"tasks": {**cifar, "pairs": "selection", "seed": 1}},
            "workers": {"island_tasks": [cifar, {**cifar, "dataset": "mnist"}]},
        },
        "test",
    )
    moved = with_data_path(config, "/data/cifar-10-batches-py")
    assert moved.final.tasks is not None
    for tc in (moved.tasks, moved.select.tasks, moved.final.tasks, moved.workers.island_tasks[0]):
        assert tc.path == "/data/cifar-10-batches-py"
    assert moved.workers.island_tasks[1].path is None  # MNIST from its package copy
