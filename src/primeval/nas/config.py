"""NAS comparison settings: a YAML file or command-line options, validated with pydantic.

Every section refuses unknown fields. Defaults are NAS-Bench-201's published protocol:
500 runs per strategy, a 12,000 s simulated budget, 12 training epochs charged per query,
regularized evolution with population 10 and sample 3, REINFORCE with Adam and an EMA
baseline of momentum 0.9; one worker, a checkpoint every 5 s. ``evaluate_on`` (empty by
default) names the data sets on which each run's final cell is also looked up, as
NAS-Bench-201 reports its CIFAR-10 searches. ``workers`` and ``checkpoint`` are the
engine's sections (:mod:`primeval.engine.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from primeval.engine.config import CheckpointConfig, WorkersConfig
from primeval.nas.strategies import STRATEGIES, EvolutionSettings, ReinforceSettings
from primeval.nas.table import BenchmarkError, dataset_name


class NasConfigError(ValueError):
    """Settings that cannot be used; the message names the source and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectiveSettings(_Strict):
    kind: Literal["accuracy", "mnasnet"] = "accuracy"
    latency_target_ms: float | None = Field(None, gt=0.0)  # None: the table's median latency
    weight: float = -0.07


class NasConfig(_Strict):
    name: str = "nas"
    benchmark: Literal["nb201"] = "nb201"
    dataset: str = "cifar10"
    strategies: list[str] = Field(default_factory=lambda: ["evolution", "reinforce", "random"])
    runs: int = Field(500, ge=1)
    budget_seconds: float = Field(12000.0, gt=0.0, allow_inf_nan=False)
    epochs: float = Field(12.0, gt=0.0, le=200.0)  # training epochs charged per query
    seed: int = 0
    evolution: EvolutionSettings = Field(default_factory=EvolutionSettings)
    reinforce: ReinforceSettings = Field(default_factory=ReinforceSettings)
    objective: ObjectiveSettings = Field(default_factory=ObjectiveSettings)
    # data sets on which each run's final cell is also looked up (NAS-Bench-201's transfer)
    evaluate_on: list[str] = Field(default_factory=list)
    # where the runs go (one run per worker at a time) and how often the run folder's
    # checkpoint is rewritten (the engine's sections)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        try:
            return dataset_name(v)
        except BenchmarkError as e:
            raise ValueError(str(e)) from None

    @field_validator("evaluate_on")
    @classmethod
    def _evaluate_on(cls, v: list[str]) -> list[str]:
        try:
            return list(dict.fromkeys(dataset_name(name) for name in v))
        except BenchmarkError as e:
            raise ValueError(str(e)) from None

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("name at least one strategy")
        unknown = [s for s in v if s not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown strategy {unknown}; choose from {STRATEGIES.names()}")
        return list(dict.fromkeys(v))

    def with_overrides(self, **values: Any) -> NasConfig:
        """A copy with top-level fields or ``section.field`` keys replaced, validated again."""
        data = self.model_dump()
        for key, value in values.items():
            node = data
            *path, leaf = key.split(".")
            for part in path:
                node = node[part]
            node[leaf] = value
        return parse_nas_config(data, "options")


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "(top level)"
    return f"{where}: {err['msg'].removeprefix('Value error, ')}"


def parse_nas_config(data: Any, source: str) -> NasConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise NasConfigError(f"{source}: a config must be a YAML mapping")
    try:
        return NasConfig.model_validate(data)
    except ValidationError as e:
        raise NasConfigError(f"{source}: {_first_error(e)}") from None


def load_nas_config(path: str | Path | None = None) -> NasConfig:
    """Read a YAML file (the defaults when ``path`` is None)."""
    if path is None:
        return NasConfig()
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise NasConfigError(f"{p}: no such config file") from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise NasConfigError(f"{p}: cannot read ({e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise NasConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    return parse_nas_config(data, str(p))


def dump_nas_config(config: NasConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
