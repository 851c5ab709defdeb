"""Search a layer for your own network, in this process.

:func:`search_layer` takes model builders (a function from a ``norm_act(channels, dims)``
factory to a fresh network, one per architecture the layer must work on) and data arrays
(:class:`~primeval.layers.evaluate.Arrays`; :func:`~primeval.layers.evaluate.loader_arrays`
turns a data loader into arrays), and runs the same strategies as ``primeval layers search``
(regularized evolution with the Pareto tournament over the architectures, or random search;
Liu et al., NeurIPS 2020) with the same rejection stages and an in-memory cache keyed by
canonical form and output fingerprint. It runs one candidate at a time, so that builders
need not be importable by worker processes.

Example::

    from primeval.layers.api import search_layer
    from primeval.layers.evaluate import Arrays, ProxySettings

    result = search_layer({"mine": lambda norm_act: MyNet(norm_act)}, Arrays(...),
                          candidates=200, settings=ProxySettings(steps=300))
    print(result.formula)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from primeval.engine.genome import Individual
from primeval.engine.strategies import RandomSearch, Strategy
from primeval.layers.evaluate import Arrays, Builder, Outcome, Proxy, ProxySettings, fingerprint
from primeval.layers.genome import LayerGraph, LayerSpace, formula
from primeval.layers.search import ArchParetoEvolution


@dataclass(frozen=True)
class LayerSearchResult:
    """The best layer found (None if every candidate was rejected) and every candidate's
    record: its graph, outcome status, accuracy per architecture and cache use."""

    best: LayerGraph | None
    best_accuracy: dict[str, float]
    records: list[dict[str, Any]]

    @property
    def formula(self) -> str | None:
        return None if self.best is None else formula(self.best)

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)


def search_layer(
    builders: Mapping[str, Builder],
    data: Arrays,
    candidates: int = 100,
    time_budget: float | None = None,
    strategy: str = "evolution",
    batch_independent: bool = False,
    population_size: int = 20,
    tournament_size: int = 5,
    settings: ProxySettings | None = None,
    seed: int = 0,
) -> LayerSearchResult:
    """Evolve (or randomly sample) up to ``candidates`` layers for ``builders``' networks."""
    if strategy not in ("evolution", "random"):
        raise ValueError(f"strategy must be evolution or random, got {strategy!r}")
    proxy = Proxy(builders, data, settings)
    space = LayerSpace(batch_independent=batch_independent)
    strat: Strategy[LayerGraph] = (
        ArchParetoEvolution(space, population_size, tournament_size)
        if strategy == "evolution"
        else RandomSearch(space)
    )
    rng = np.random.default_rng(seed)
    by_key: dict[str, Outcome] = {}
    by_print: dict[str, Outcome] = {}
    records: list[dict[str, Any]] = []
    archs = list(builders)
    start = time.perf_counter()
    best: tuple[float, LayerGraph, dict[str, float]] | None = None
    for i in range(candidates):
        if time_budget is not None and time.perf_counter() - start >= time_budget:
            break
        genome, parent, mutation = strat.ask(rng)
        key = genome.key()
        cache = "key" if key in by_key else None
        outcome = by_key.get(key)
        if outcome is None:
            fp = fingerprint(genome)
            outcome = by_print.get(fp)
            cache = "fingerprint" if outcome is not None else None
            if outcome is None:
                outcome = proxy.evaluate(genome)
                by_print[fp] = outcome
            by_key[key] = outcome
        fitness = outcome.fitness
        strat.tell(Individual(i, genome, fitness, parent, mutation, i + 1))
        if isinstance(strat, ArchParetoEvolution):
            vector = [outcome.accuracy.get(a, -math.inf) for a in archs]
            strat.set_vector(i, vector if outcome.status == "ok" else [-math.inf] * len(archs))
        records.append(
            {
                "layer": genome.to_json(),
                "formula": formula(genome),
                "status": outcome.status,
                "accuracy": dict(outcome.accuracy),
                "cache": cache,
            }
        )
        if math.isfinite(fitness) and (best is None or fitness > best[0]):
            best = (fitness, genome, dict(outcome.accuracy))
    if best is None:
        return LayerSearchResult(None, {}, records)
    return LayerSearchResult(best[1], best[2], records)
