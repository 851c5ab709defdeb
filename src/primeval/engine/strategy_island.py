"""An island of the engine's ask / evaluate / tell loop: any strategy, any evaluator.

:class:`StrategyIsland` makes a :class:`~primeval.engine.search.Search` (a strategy such as
regularized evolution, Real et al. 2019, and an evaluator) an
:class:`~primeval.engine.island.Island`: it advances the search step by step, stops for good
when a simulated clock's budget runs out, migrates genomes as JSON texts and saves its state
through :mod:`primeval.engine.snapshot` (the evaluator's too, when it keeps one). Immigrants
are evaluated on the island first, then told to the strategy like its own candidates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from primeval.engine.genome import GenomeSpace, Individual
from primeval.engine.island import Rows
from primeval.engine.search import Search, SearchProgress
from primeval.engine.snapshot import restore_search, search_state

G = TypeVar("G")
META = "search.meta"


@runtime_checkable
class StatefulEvaluator(Protocol):
    """An evaluator whose answers depend on state a checkpoint must keep (a generator)."""

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: Mapping[str, Any]) -> None: ...


def genome_rows(texts: list[str]) -> Rows:
    """Genomes as migration rows: one JSON text each."""
    return {"genome": np.array(texts, dtype=str)}


class StrategyIsland(Generic[G]):
    """An :class:`~primeval.engine.island.Island` over ``search``; see the module docstring.

    ``full_evaluations``: how many candidates were evaluated in full (default: all).
    """

    def __init__(
        self,
        search: Search[G],
        space: GenomeSpace[G],
        full_evaluations: Callable[[], int] | None = None,
    ) -> None:
        self.search = search
        self.space = space
        self._full = full_evaluations
        self._finished = False
        self._immigrants: list[G] = []

    @property
    def evaluations(self) -> int:
        return self.search.evaluations

    @property
    def full_evaluations(self) -> int:
        return self._full() if self._full is not None else self.search.evaluations

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def best(self) -> Individual[G] | None:
        return self.search.strategy.best

    def warm(self) -> None:
        return None

    def advance(self, n: int) -> None:
        s = self.search
        for _ in range(n):
            if self._immigrants:
                self._settle(self._immigrants.pop(0))
            elif s.step() is None:
                self._finished = True
                return

    def _settle(self, genome: G) -> None:
        """Evaluate an immigrant and tell it to the strategy (it has no parent here)."""
        s = self.search
        fitness = s.evaluator.evaluate(genome)
        if s.clock is not None and s.clock.overrun:
            self._finished = True
            return
        s.evaluations += 1
        ind = Individual(s.next_id, genome, fitness, None, "immigrant", s.evaluations)
        s.next_id += 1
        s.strategy.tell(ind)
        if s.on_individual is not None:
            s.on_individual(ind)

    def progress(self) -> SearchProgress:
        return self.search.progress()

    def emigrants(self, n: int, rng: np.random.Generator) -> Rows:
        members = self.search.strategy.members()
        picks = rng.choice(len(members), size=min(n, len(members)), replace=False)
        return genome_rows([json.dumps(self.space.to_json(members[int(k)].genome)) for k in picks])

    def immigrate(self, rows: Rows) -> int:
        genomes = [self.space.from_json(json.loads(str(t))) for t in rows["genome"]]
        self._immigrants.extend(genomes)
        return len(genomes)

    def state(self) -> dict[str, np.ndarray]:
        evaluator = self.search.evaluator
        extra: dict[str, Any] = {
            "finished": self._finished,
            "immigrants": [self.space.to_json(g) for g in self._immigrants],
        }
        if isinstance(evaluator, StatefulEvaluator):
            extra["evaluator"] = evaluator.state()
        arrays, meta = search_state(self.search, self.space, extra)
        return {**arrays, META: np.array(json.dumps(meta))}

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        arrays = {k: np.asarray(v) for k, v in state.items() if k != META}
        meta = json.loads(str(state[META]))
        extra = restore_search("island state", self.search, self.space, arrays, meta)
        self._finished = bool(extra["finished"])
        self._immigrants = [self.space.from_json(g) for g in extra["immigrants"]]
        evaluator = self.search.evaluator
        if isinstance(evaluator, StatefulEvaluator):
            evaluator.load_state(extra["evaluator"])

    def lineage(self) -> list[str]:
        """Only the best (the ask / tell loop keeps no archive of ancestors)."""
        best = self.best
        if best is None:
            return []
        link = {
            "id": best.id,
            "parent": best.parent,
            "mutation": best.mutation,
            "fitness": best.fitness,
            "genome": self.space.to_json(best.genome),
        }
        return [json.dumps(link, separators=(",", ":"))]
