"""What a NAS search maximises: validation accuracy, or accuracy traded against latency.

The latency-aware reward is MnasNet's (Tan et al., "MnasNet: Platform-Aware Neural
Architecture Search for Mobile", CVPR 2019): ``ACC(m) * (LAT(m) / T) ** w`` with target
latency ``T`` and ``w = -0.07`` (the soft constraint: a model twice as slow as the target
must be about 5% more accurate to score the same). MobileNetV3 (Howard et al., ICCV 2019)
used ``w = -0.15`` for small models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from primeval.engine.pareto import tradeoff_front as pareto_front  # noqa: F401  (moved)


class Objective(Protocol):
    """Maps a cell's (validation accuracy, latency) to the fitness the search maximises."""

    @property
    def name(self) -> str: ...

    def __call__(self, accuracy: float, latency: float) -> float: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Accuracy:
    name: str = "accuracy"

    def __call__(self, accuracy: float, latency: float) -> float:
        return accuracy

    def describe(self) -> dict[str, Any]:
        return {"objective": self.name}


@dataclass(frozen=True)
class MnasNetReward:
    """``accuracy * (latency / target) ** weight``; ``target`` in the table's unit (seconds)."""

    target: float
    weight: float = -0.07
    name: str = "mnasnet"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target) and self.target > 0):
            raise ValueError(f"the latency target must be a positive time: {self.target}")
        if not math.isfinite(self.weight):
            raise ValueError(f"the latency weight must be finite: {self.weight}")

    def __call__(self, accuracy: float, latency: float) -> float:
        return float(accuracy * (latency / self.target) ** self.weight)

    def describe(self) -> dict[str, Any]:
        return {"objective": self.name, "latency_target": self.target, "weight": self.weight}
