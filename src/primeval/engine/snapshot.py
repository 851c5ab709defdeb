"""Checkpoints of a search run by the engine's Python loop (:class:`Search`).

A snapshot holds what continues the run exactly: the strategy's members (genomes through
the space's ``to_json``, never pickled) and any further state (:meth:`Strategy.state`, e.g.
a learned policy), the best individual, the counters, the search generator's state, the
simulated clock, and whatever the caller adds (an evaluator's generator). It is written
with :mod:`primeval.engine.checkpoint` (atomic, checksummed, previous one kept). Loading
into a freshly built search with the same settings and continuing gives the same run as
never stopping.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from primeval.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from primeval.engine.genome import GenomeSpace, Individual
from primeval.engine.search import Search

G = TypeVar("G")
KIND = "primeval.search/1"


def _row(space: GenomeSpace[G], ind: Individual[G]) -> dict[str, Any]:
    return {
        "id": ind.id,
        "genome": space.to_json(ind.genome),
        "parent": ind.parent,
        "mutation": ind.mutation,
        "evaluation": ind.evaluation,
    }


def _individual(space: GenomeSpace[G], row: dict[str, Any], fitness: float) -> Individual[G]:
    return Individual(
        int(row["id"]),
        space.from_json(row["genome"]),
        fitness,
        None if row["parent"] is None else int(row["parent"]),
        str(row["mutation"]),
        int(row["evaluation"]),
    )


def search_state(
    search: Search[G], space: GenomeSpace[G], extra: dict[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``search``'s state (between two steps) and JSON-ready ``extra``: arrays (the
    fitnesses, NaN and inf kept exactly) and JSON-ready metadata."""
    members = search.strategy.members()
    best = search.strategy.best
    fitness = np.array([m.fitness for m in members], dtype=float)
    meta = {
        "kind": KIND,
        "strategy": search.strategy.describe(),
        "strategy_state": search.strategy.state(),
        "members": [_row(space, m) for m in members],
        "best": None if best is None else _row(space, best),
        "evaluations": search.evaluations,
        "next_id": search.next_id,
        "rng": search.rng.bit_generator.state,
        "clock": None if search.clock is None else search.clock.elapsed,
        "extra": extra or {},
    }
    best_fitness = np.array([math.nan if best is None else best.fitness])
    return {"fitness": fitness, "best_fitness": best_fitness}, meta


def restore_search(
    where: str, search: Search[G], space: GenomeSpace[G], arrays: dict[str, np.ndarray], meta: Any
) -> dict[str, Any]:
    """Put :func:`search_state`'s output into a freshly built ``search``; returns the
    caller's ``extra``. ``where`` names the source in errors."""
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise CheckpointError(f"{where}: not a search checkpoint")
    if meta["strategy"] != search.strategy.describe():
        raise CheckpointError(
            f"{where}: saved with {meta['strategy']}, not {search.strategy.describe()}"
        )
    if (meta["clock"] is None) != (search.clock is None):
        raise CheckpointError(f"{where}: the simulated clock does not match the search's")
    try:
        fitness = arrays["fitness"]
        members = [
            _individual(space, r, float(f)) for r, f in zip(meta["members"], fitness, strict=True)
        ]
        best = meta["best"]
        top = None if best is None else _individual(space, best, float(arrays["best_fitness"][0]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{where}: malformed search checkpoint ({e})") from None
    search.strategy.restore(members, top)
    search.strategy.load_state(meta["strategy_state"])
    search.rng.bit_generator.state = meta["rng"]
    search.evaluations = int(meta["evaluations"])
    search.next_id = int(meta["next_id"])
    if search.clock is not None:
        search.clock.elapsed = float(meta["clock"])
    return dict(meta["extra"])


def save_search(
    path: str | Path,
    search: Search[G],
    space: GenomeSpace[G],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write ``search``'s state (between two steps) and JSON-ready ``extra`` to ``path``."""
    arrays, meta = search_state(search, space, extra)
    save_checkpoint(path, arrays, meta)


def load_search(
    path: str | Path, search: Search[G], space: GenomeSpace[G]
) -> tuple[dict[str, Any], list[str]]:
    """Put a saved state into a freshly built ``search``; returns the caller's ``extra`` and
    warnings (e.g. the newest checkpoint was corrupt and the previous one was used)."""
    arrays, meta, warnings = load_checkpoint(path)
    return restore_search(str(path), search, space, arrays, meta), warnings
