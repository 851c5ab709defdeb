"""Configs: the embedded default, shipped configs, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from primeval.algorithms.baselines import neural_net
from primeval.algorithms.config import DEMO_OPS, ConfigError, load_config
from primeval.algorithms.program import Component, save_program


def test_default_is_the_reference_demo() -> None:
    c = load_config(None)
    assert c.tasks.kind == "linear" and c.tasks.dim == 4
    assert (c.tasks.n_tasks, c.tasks.n_train, c.tasks.n_valid) == (10, 100, 100)
    assert c.program.ops == DEMO_OPS
    assert c.program.initial_sizes() == (10, 2, 8)
    assert (c.memory.scalars, c.memory.vectors, c.memory.matrices) == (4, 3, 1)
    assert (c.search.population, c.search.tournament) == (1000, 10)
    assert c.fec.enabled and c.mutation.prob == 0.9
    assert c.select.tasks.n_tasks == 100 and c.select.sufficient_fitness == 0.9999


@pytest.mark.parametrize(
    "name", ["demo", "nonlinear", "nonlinear_setup", "digits", "mnist", "cifar10", "projected16"]
)
def test_shipped_configs_load_by_name(name: str) -> None:
    assert load_config(name).name == name


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("search: {populaton: 10}", r"search\.populaton: Extra inputs are not permitted"),
        ("search: {population: -3}", r"search\.population: Input should be greater than"),
        ("program: {ops: [SCALAR_SUM, NOT_AN_OP]}", r"unknown op\(s\) \['NOT_AN_OP'\]"),
        ("tasks: {kind: quadratic}", r"tasks\.kind"),
        ("search: [1, 2", "not valid YAML"),
        ("- just a list", "must be a YAML mapping"),
        ("mutation: {types: [teleport]}", r"mutation\.types\.0"),
        ("hurdles: {enabled: true, tasks: 10}", "hurdles.tasks must be smaller"),
        ("mutation: {functions: [setup, predcit]}", r"mutation\.functions\.1: Input should be"),
        ("mutation: {functions: []}", r"mutation\.functions: List should have at least 1"),
        ("mutation: {functions: [learn, learn]}", "lists a function twice"),
        ("mutation: {weights: [1, 2]}", r"mutation: .*weights has 2 entries for 3 types"),
        ("mutation: {weights: [1, -1, 1]}", "weights must be finite, non-negative"),
        ("mutation: {weights: [0, 0, 0]}", "weights must be finite, non-negative"),
        ("mutation: {constants: gaussian}", r"mutation\.constants: Input should be"),
        ("hurdles: {rule: window}", r"hurdles\.rule: Input should be"),
        ("program: {initial: grandom}", r"program\.initial: .*'grandom' is neither random"),
        ("program: {initial: nowhere.json}", r"program\.initial: .*no such algorithm file"),
        ("program: {initial: neural_net}", r"uses memory .* but memory is"),
        (
            "{memory: {scalars: 5, vectors: 9, matrices: 2}, program: {initial: neural_net, "
            "sizes: {setup: 3, predict: 5, learn: 10}}}",
            "differ from the sizes of program.initial",
        ),
        (
            "{memory: {scalars: 5, vectors: 9, matrices: 2}, program: {initial: neural_net, "
            "max_sizes: {setup: 2, predict: 9, learn: 20}}}",
            r"has 3 setup instructions, outside min_sizes\.\.max_sizes \(3\.\.2\)",
        ),
        (
            "{mutation: {functions: [predict]}, program: {predict_ops: []}}",
            "no function in mutation.functions has any allowed op",
        ),
        (
            "{search: {strategy: random}, mutation: {functions: [setup, learn]}}",
            "cannot start from program.initial or keep functions out",
        ),
    ],
)
def test_bad_configs_name_the_bad_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        load_config(write(tmp_path, text))
    assert "\n" not in str(e.value)
    assert "c.yaml" in str(e.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_are_validated() -> None:
    c = load_config(None).with_overrides(**{"search.max_evals": 50, "seed": 3})
    assert c.search.max_evals == 50 and c.seed == 3
    with pytest.raises(ConfigError, match="max_evals"):
        load_config(None).with_overrides(**{"search.max_evals": 0})


def test_setup_only_config_freezes_predict_and_learn() -> None:
    c = load_config("nonlinear_setup")
    assert c.mutation.frozen() == (Component.PREDICT, Component.LEARN)
    start = c.program.start()
    assert start is not None and start.sizes() == (1, 5, 11)
    assert load_config("nonlinear").program.start() is None


def test_initial_algorithm_file_is_relative_to_the_config(tmp_path: Path) -> None:
    """A relative ``program.initial`` names a file next to the config, wherever the run starts;
    the validated config holds its absolute path (the run folder's copy names the same file)."""
    (tmp_path / "algos").mkdir()
    save_program(neural_net(), tmp_path / "algos" / "net.json")
    cfg = write(
        tmp_path,
        "memory: {scalars: 5, vectors: 9, matrices: 2}\n"
        "program: {initial: algos/net.json, max_sizes: {setup: 6, predict: 5, learn: 11}}\n"
        "mutation: {functions: [setup]}\n",
    )
    c = load_config(cfg)
    assert Path(c.program.initial) == (tmp_path / "algos" / "net.json").resolve()
    assert c.program.start() == neural_net()
    assert load_config(None).with_overrides(**{"seed": 1}).program.initial == "random"
