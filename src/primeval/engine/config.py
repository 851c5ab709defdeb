"""Settings every search shares: where its workers run, how often it checkpoints, its
budgets; and what may change when a run is resumed.

Apps embed these sections in their own configs (AutoML-Zero's ``workers`` and
``checkpoint``, NAS's ``workers`` and ``checkpoint``), so one YAML shape serves every search.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """A frozen settings section that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkersConfig(StrictModel):
    """``count`` workers; ``backend`` ``auto`` runs one worker in this process and several
    as local processes; ``ray`` runs them as Ray actors (on ``ray_address``, or a local Ray)."""

    count: int = Field(1, ge=1, le=256)
    backend: Literal["auto", "inline", "processes", "ray"] = "auto"
    ray_address: str | None = None

    def resolved_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        if self.ray_address is not None:
            return "ray"
        return "inline" if self.count == 1 else "processes"


class CheckpointConfig(StrictModel):
    """How often the run folder's checkpoint is rewritten."""

    every_seconds: float = Field(5.0, gt=0)


WHERE_WORKERS_RUN = ("workers.backend", "workers.ray_address")
"""Fields a resumed run may change freely: they do not change its results."""


@dataclass(frozen=True)
class Budgets:
    """When a run stops: ``max_evals`` candidates per experiment, ``time_budget`` seconds
    for the whole run, ``max_experiments`` experiments (None: no limit for each)."""

    max_evals: int | None = None
    time_budget: float | None = None
    max_experiments: int | None = None


def changed_field(saved: Any, given: Any, free: Collection[str] = (), at: str = "") -> str | None:
    """The first dotted field where two JSON-ready configs differ, fields in ``free`` left
    out; None if they agree. A list that differs is named as a whole."""
    if at in free:
        return None
    if isinstance(saved, dict) and isinstance(given, dict):
        for key in dict.fromkeys([*saved, *given]):
            name = f"{at}.{key}" if at else str(key)
            found = changed_field(saved.get(key), given.get(key), free, name)
            if found is not None:
                return found
        return None
    return None if saved == given else (at or "(the whole config)")
