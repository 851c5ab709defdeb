"""Configs: the embedded default, shipped configs, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from primeval.config import DEMO_OPS, ConfigError, load_config


def test_default_is_the_reference_demo() -> None:
    c = load_config(None)
    assert c.tasks.kind == "linear" and c.tasks.dim == 4
    assert (c.tasks.n_tasks, c.tasks.n_train, c.tasks.n_valid) == (10, 100, 100)
    assert c.program.ops == DEMO_OPS
    assert c.program.sizes.as_tuple() == (10, 2, 8)
    assert (c.memory.scalars, c.memory.vectors, c.memory.matrices) == (4, 3, 1)
    assert (c.search.population, c.search.tournament) == (1000, 10)
    assert c.fec.enabled and c.mutation.prob == 0.9
    assert c.select.tasks.n_tasks == 100 and c.select.sufficient_fitness == 0.9999


@pytest.mark.parametrize("name", ["demo", "nonlinear", "digits", "mnist", "cifar10", "projected16"])
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
