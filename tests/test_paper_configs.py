"""The shipped configs of the AutoML-Zero paper's search spaces (Real et al. 2020, Sections
4.1-4.3, Suppl. S5, S9, S10): each loads through the loader the command line uses, matches the
paper's table field by field, and runs a short search.

The expected values are written here from the paper's tables (op codes as printed there and
in the reference's ``instruction.proto``), never read back from the YAML files.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from primeval.algorithms import baselines
from primeval.algorithms.config import Config, TaskConfig, dump_config, load_config
from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import PAPER_TYPES, PAPER_WEIGHTS, ConstantRule
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.program import program_to_json
from primeval.cli import app

runner = CliRunner()

SEC3_2 = {"alter_param", "randomize_function", "insert", "remove"}  # Sec. 3.2's mutations
FIXED_SIZE = {"alter_param", "randomize_instruction", "randomize_function"}  # no insert / remove
DATA_OPS = set(range(56, 65))  # constant sets, uniform draws, Gaussian draws
NO_DATA_OPS = set(range(56))  # NO_OP and the 55 math ops

PAPER_CONFIGS = (
    "fig4",
    "fig5",
    "table_s5",
    "table_s5_cifar10",
    "table_s5_digits",
    "table_s5_linear16",
    "paper42",
    "adapt_few",
    "adapt_fast",
    "adapt_multiclass",
)
RESTRICTED = ("digits", "mnist", "projected16")
UNRESTRICTED = ("digits_unrestricted", "mnist_unrestricted")


def codes(*ops: int | range) -> set[int]:
    out: set[int] = set()
    for op in ops:
        out.update(op if isinstance(op, range) else (op,))
    return out


def space(cfg: Config) -> tuple[set[int], set[int], set[int]]:
    """The op codes allowed in Setup, Predict and Learn."""
    s, p, le = cfg.program.component_ops()
    return tuple({REGISTRY[n].code for n in names} for names in (s, p, le))  # type: ignore[return-value]


def banks(cfg: Config) -> tuple[int, int, int]:
    return (cfg.memory.scalars, cfg.memory.vectors, cfg.memory.matrices)


def sizes(cfg: Config) -> tuple[tuple[int, int, int], ...]:
    """Initial, least and most instructions per function."""
    return cfg.size_bounds(cfg.program.start())


def mutations(cfg: Config) -> set[str]:
    return {m.value for m in cfg.mutation.types}


def sec3_2_distribution(cfg: Config) -> bool:
    """Sec. 3.2: insert-or-remove, randomize a function and alter an argument equally often,
    removal twice as likely as insertion; constants x U[0.5, 2] with a sign flip."""
    weights = dict(zip(cfg.mutation.types, cfg.mutation.weights or [], strict=True))
    return (
        weights == dict(zip(PAPER_TYPES, PAPER_WEIGHTS, strict=True))
        and cfg.mutation.constants is ConstantRule.PAPER
    )


def shape(t: TaskConfig | None) -> tuple[object, ...]:
    assert t is not None
    return (t.kind, t.dim, t.n_tasks, t.n_train, t.n_valid, t.epochs)


def projected_on(cfg: Config, dataset: str) -> None:
    """Search on the 36 pairs the paper searches, select and report on its 9 held-out ones."""
    assert cfg.final.tasks is not None
    for t, pairs in ((cfg.tasks, "search"), (cfg.select.tasks, "selection")):
        assert (t.kind, t.dataset, t.pairs, t.dim) == ("projected", dataset, pairs, 16)
    f = cfg.final.tasks
    assert (f.kind, f.dataset, f.pairs, f.dim) == ("projected", dataset, "selection", 16)
    assert f.seed is not None and f.n_test > 0 and cfg.select.tasks.n_test > 0


def test_fig4_is_section_4_1s_linear_regressor_space() -> None:
    cfg = load_config("fig4")
    assert cfg.name == "fig4" and cfg.program.initial == "random"
    assert banks(cfg) == (4, 3, 1)
    assert sizes(cfg) == ((5, 1, 4), (5, 1, 4), (5, 1, 4))
    assert space(cfg) == (codes(56, 57), codes(27), codes(2, 3, 18, 23))
    assert shape(cfg.tasks) == ("linear", 8, 3, 1000, 100, 1)  # F = 8, D = 3
    assert (cfg.search.strategy, cfg.search.population, cfg.search.tournament) == (
        "evolution",
        1000,
        10,
    )
    assert cfg.search.max_evals is not None and 10_000 <= cfg.search.max_evals <= 100_000
    assert mutations(cfg) == FIXED_SIZE and cfg.mutation.constants is ConstantRule.PAPER
    assert not cfg.search.precheck  # it would distort the comparison with random search
    assert shape(cfg.select.tasks)[:2] == ("linear", 8)
    assert cfg.select.sufficient_fitness == 0.9999


def test_fig4_compares_with_random_search_by_one_override() -> None:
    cfg = load_config("fig4").with_overrides(**{"search.strategy": "random"})
    assert cfg.search.strategy == "random" and space(cfg) == space(load_config("fig4"))


def test_fig5_is_the_backprop_space_with_a_hundred_teachers() -> None:
    cfg = load_config("fig5")
    assert cfg.program.initial == "random"
    assert banks(cfg) == (4, 8, 2)
    assert sizes(cfg) == ((21, 3, 9), (21, 3, 9), (21, 3, 9))
    assert space(cfg) == (
        codes(56, 63, 64),
        codes(27, 31, 48),
        codes(2, 3, 16, 18, 23, 25, 28, 40),
    )
    assert REGISTRY[40].name == "MATRIX_DIFF"  # the paper's OP40
    assert shape(cfg.tasks) == ("nonlinear", 8, 100, 1000, 100, 1)  # D = 100 teachers
    assert cfg.tasks.zero_rows == []
    assert cfg.fec.enabled and cfg.fitness.combine == "median"
    assert mutations(cfg) == FIXED_SIZE and cfg.mutation.constants is ConstantRule.PAPER


TABLE_S5_SPACE = (
    codes(56, range(59, 65)),
    codes(1, 23, 27, 31, 48),
    codes(1, 2, 3, 16, 18, 23, 25, 28, 39),
)


@pytest.mark.parametrize(
    ("name", "dataset", "n_train", "n_valid"),
    [
        ("table_s5", "mnist", 8000, 1000),
        ("table_s5_cifar10", "cifar10", 8000, 1000),
        ("table_s5_digits", "digits", 190, 100),  # digits: ~180 images a class
    ],
)
def test_table_s5_is_run_baseline_sh(name: str, dataset: str, n_train: int, n_valid: int) -> None:
    cfg = load_config(name)
    assert cfg.name == name and cfg.program.initial == "empty"
    assert banks(cfg) == (5, 9, 2)
    assert sizes(cfg) == ((1, 1, 1), (1, 1, 1), (7, 11, 23))
    assert space(cfg) == TABLE_S5_SPACE
    assert REGISTRY[39].name == "MATRIX_SUM"
    assert mutations(cfg) == SEC3_2 and cfg.mutation.prob == 0.9
    assert cfg.mutation.weights is None  # run_baseline.sh draws its types uniformly
    assert (cfg.search.population, cfg.search.tournament) == (100, 10)
    assert not cfg.fec.enabled and not cfg.hurdles.enabled
    assert (cfg.fitness.combine, cfg.fitness.max_cost_ratio) == ("mean", 2.0)
    projected_on(cfg, dataset)
    assert shape(cfg.tasks) == ("projected", 16, 10, n_train, n_valid, 1)
    assert shape(cfg.select.tasks) == ("projected", 16, 10, n_train, n_valid, 1)


def test_table_s5_linear16_is_the_side_by_side_config() -> None:
    cfg = load_config("table_s5_linear16")
    assert banks(cfg) == (5, 9, 2)
    assert sizes(cfg) == ((1, 1, 1), (1, 1, 1), (7, 11, 23))
    assert space(cfg) == TABLE_S5_SPACE
    assert shape(cfg.tasks) == ("linear", 16, 10, 8000, 1000, 1)
    assert mutations(cfg) == SEC3_2 and cfg.mutation.prob == 0.9
    assert cfg.mutation.weights is None  # run_baseline.sh draws its types uniformly
    assert (cfg.search.population, cfg.search.tournament) == (100, 10)
    assert cfg.search.max_evals == 1_000_000_000
    assert not cfg.fec.enabled
    assert (cfg.fitness.combine, cfg.fitness.max_cost_ratio) == ("mean", 2.0)


PAPER42_SPACE = (DATA_OPS, NO_DATA_OPS | {60, 61}, NO_DATA_OPS | {60, 61})


def test_paper42_is_section_4_2s_space_and_proxies() -> None:
    cfg = load_config("paper42")
    assert cfg.program.initial == "empty"
    assert banks(cfg) == (8, 14, 3)
    assert sizes(cfg) == ((0, 0, 0), (0, 0, 0), (21, 21, 45))
    assert space(cfg) == PAPER42_SPACE
    assert {REGISTRY[c].name for c in (60, 61)} == {
        "VECTOR_UNIFORM_SET",
        "MATRIX_UNIFORM_SET",
    }
    assert mutations(cfg) == SEC3_2 and sec3_2_distribution(cfg)
    assert (cfg.search.population, cfg.search.tournament) == (100, 10)
    assert cfg.fec.enabled and cfg.hurdles.enabled and cfg.hurdles.percentile == 75
    assert cfg.hurdles.rule == "population"  # S9: the population's unique accuracies
    assert (cfg.fitness.combine, cfg.fitness.max_cost_ratio) == ("median", 4.0)
    projected_on(cfg, "cifar10")
    assert shape(cfg.tasks) == ("projected", 16, 10, 8000, 2000, 1)  # D = 10
    proxies = {(t.n_train, t.epochs) for t in cfg.workers.island_tasks}
    assert proxies == {(8000, 1), (800, 1), (800, 10)}
    assert {(t.dataset, t.pairs, t.dim) for t in cfg.workers.island_tasks} == {
        ("cifar10", "search", 16)
    }
    assert cfg.workers.migration_fraction == 0.5
    assert 100 <= cfg.workers.migration_interval <= 10_000


ADAPT_SPACE = (DATA_OPS, NO_DATA_OPS | {63, 64}, NO_DATA_OPS | {63, 64})


@pytest.mark.parametrize(
    ("name", "n_train", "epochs"),
    [
        ("adapt_few", 80, 100),
        ("adapt_fast", 800, 10),
        ("adapt_multiclass", 8000, 1),
    ],
)
def test_adapt_configs_start_from_the_two_layer_net(name: str, n_train: int, epochs: int) -> None:
    cfg = load_config(name)
    start = cfg.program.start()
    assert start is not None
    multiclass = name == "adapt_multiclass"  # ten classes: the net with a vector output
    build = baselines.two_layer_softmax_net if multiclass else baselines.two_layer_relu_net
    net = build(Banks(10, 16, 4))
    assert program_to_json(start) == program_to_json(net)
    assert banks(cfg) == (10, 16, 4)
    assert sizes(cfg) == (net.sizes(), (0, 0, 0), (21, 21, 45))
    assert space(cfg) == ADAPT_SPACE
    assert mutations(cfg) == SEC3_2 and sec3_2_distribution(cfg)
    assert (cfg.search.population, cfg.search.tournament) == (100, 10)
    assert cfg.fitness.combine == "median"
    assert cfg.hurdles.enabled and cfg.hurdles.rule == "population"
    if multiclass:
        for t in (cfg.tasks, cfg.select.tasks, cfg.final.tasks):
            assert t is not None and (t.kind, t.dataset, t.dim) == ("multiclass", "cifar10", 16)
    else:
        projected_on(cfg, "cifar10")
    for t in (cfg.tasks, cfg.select.tasks, cfg.final.tasks):
        assert t is not None and (t.n_train, t.epochs) == (n_train, epochs)
    assert cfg.tasks.n_tasks == 10  # D = 10


@pytest.mark.parametrize("name", RESTRICTED)
def test_projected_configs_use_section_4_2s_ops_per_function(name: str) -> None:
    cfg = load_config(name)
    assert not cfg.search.precheck  # off: it slowed the demo's search (experiment page)
    assert space(cfg) == PAPER42_SPACE
    assert banks(cfg) == (8, 14, 3)
    assert sizes(cfg)[2] == (21, 21, 45)


@pytest.mark.parametrize("name", UNRESTRICTED)
def test_unrestricted_variants_differ_only_in_their_ops(name: str) -> None:
    cfg = load_config(name)
    every = set(range(65))
    assert space(cfg) == (every, every, every)
    restricted = load_config(name.removesuffix("_unrestricted"))
    program = {"ops": "all", "setup_ops": None, "predict_ops": None, "learn_ops": None}
    as_restricted = cfg.model_copy(
        update={"name": restricted.name, "program": cfg.program.model_copy(update=program)}
    )
    restricted = restricted.model_copy(
        update={"program": restricted.program.model_copy(update=program)}
    )
    assert as_restricted == restricted


def test_no_other_shipped_config_gives_every_op_to_every_function() -> None:
    shipped = importlib.resources.files("primeval") / "configs"
    names = sorted(
        p.name.removesuffix(".yaml") for p in shipped.iterdir() if p.name.endswith(".yaml")
    )
    assert set(PAPER_CONFIGS) | set(RESTRICTED) | set(UNRESTRICTED) <= set(names)
    every = set(range(65))
    open_space = {n for n in names if every in space(load_config(n))}
    assert open_space <= set(UNRESTRICTED) | {"cifar10", "nonlinear"}


# -- each config runs a short search (compiled interpreter) ------------------------------

CIFAR = {"table_s5_cifar10", "paper42", "adapt_few", "adapt_fast", "adapt_multiclass"}
FAST = {  # under 10 s each on a loaded 2-core machine; the others read MNIST or run longer
    "fig4",
    "table_s5_digits",
    "table_s5_linear16",
    "digits",
    "digits_unrestricted",
    *(CIFAR - {"adapt_few"}),
}


def _tiny_cifar(name: str, tmp_path: Path) -> Path:
    """The config with its CIFAR-10 tasks cut to the tiny test file (72 images a pair)."""
    cfg = load_config(name)
    changes: dict[str, object] = {}
    sections = ["tasks", "select.tasks", "final.tasks"]
    for section in sections:
        changes.update({f"{section}.n_train": 40, f"{section}.n_valid": 16})
        changes[f"{section}.n_test"] = 0 if section == "tasks" else 16
    if cfg.workers.island_tasks:
        islands = [
            t.model_copy(update={"n_train": 40, "n_valid": 16}).model_dump(mode="json")
            for t in cfg.workers.island_tasks
        ]
        changes["workers.island_tasks"] = islands
    p = tmp_path / f"{name}.yaml"
    p.write_text(dump_config(cfg.with_overrides(**changes)))
    return p


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if n in FAST else pytest.mark.slow)
        for n in (*PAPER_CONFIGS, *RESTRICTED, *UNRESTRICTED)
    ],
)
def test_each_config_runs_a_short_compiled_search(
    name: str, tmp_path: Path, cifar_folder: Path
) -> None:
    args = ["search", name]
    if name in CIFAR:
        args = ["search", str(_tiny_cifar(name, tmp_path)), "--data-path", str(cifar_folder)]
    out = tmp_path / "run"
    r = runner.invoke(
        app, [*args, "--max-evals", "300", "--max-experiments", "1", "-q", "--out", str(out)]
    )
    assert r.exit_code == 0, r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interpreter"] == "compiled"
    assert summary["evaluations"] == 300 and summary["experiments"] == 1
    assert 0.0 <= summary["select_fitness"] <= 1.0
