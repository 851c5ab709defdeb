"""The NAS strategies by name: each builds an engine strategy over cells from the settings.

The registry refuses a second strategy of the same name, and the tests hold every
registered strategy to the whole contract (runs on the table, stops at the budget, beats
or ties random search on a synthetic landscape).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from primeval.engine.strategies import RandomSearch, RegularizedEvolution, Strategy
from primeval.nas.reinforce import Reinforce
from primeval.nas.space import Cell, CellSpace


class EvolutionSettings(BaseModel):
    """Regularized evolution's settings (NAS-Bench-201's: population 10, sample 3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    population: int = Field(10, ge=1)
    sample: int = Field(3, ge=1)  # tournament size
    mutate_prob: float = Field(1.0, ge=0.0, le=1.0)


class ReinforceSettings(BaseModel):
    """REINFORCE's settings: Adam's step size and the EMA baseline's momentum."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    learning_rate: float = Field(0.01, gt=0.0)
    ema_momentum: float = Field(0.9, ge=0.0, lt=1.0)


class StrategySettings(Protocol):
    """The sections of a NAS config the strategies read."""

    @property
    def evolution(self) -> EvolutionSettings: ...

    @property
    def reinforce(self) -> ReinforceSettings: ...


@dataclass(frozen=True)
class StrategySpec:
    name: str
    label: str  # for tables and plot legends
    paper: str
    build: Callable[[CellSpace, StrategySettings], Strategy[Cell]]


class StrategyRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, StrategySpec] = {}

    def register(self, spec: StrategySpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"strategy {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def __getitem__(self, name: str) -> StrategySpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"unknown strategy {name!r}; choose from {self.names()}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[StrategySpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return list(self._specs)


STRATEGIES = StrategyRegistry()

STRATEGIES.register(
    StrategySpec(
        "evolution",
        "regularized evolution",
        "Real, Aggarwal, Huang, Le, AAAI 2019",
        lambda space, c: RegularizedEvolution(
            space, c.evolution.population, c.evolution.sample, c.evolution.mutate_prob, "oldest"
        ),
    )
)
STRATEGIES.register(
    StrategySpec(
        "evolution-worst",
        "non-regularized evolution (remove the worst)",
        "Real et al., AAAI 2019 (the non-aging ablation)",
        lambda space, c: RegularizedEvolution(
            space, c.evolution.population, c.evolution.sample, c.evolution.mutate_prob, "worst"
        ),
    )
)
STRATEGIES.register(
    StrategySpec(
        "reinforce",
        "REINFORCE",
        "Williams 1992; Zoph & Le, ICLR 2017",
        lambda space, c: Reinforce(space, c.reinforce.learning_rate, c.reinforce.ema_momentum),
    )
)
STRATEGIES.register(
    StrategySpec(
        "random",
        "random search",
        "Bergstra & Bengio, JMLR 2012; Li & Talwalkar, UAI 2019",
        lambda space, c: RandomSearch(space),
    )
)
