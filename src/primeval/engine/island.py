"""Islands: one population each, advanced a batch of evaluations at a time on a worker.

Real et al. 2020 (AutoML-Zero, Sec. 4.2) run a search on many workers, each evolving its own
population, exchanging members through a shared pool now and then. An :class:`Island` is one
such population behind a small protocol the engine drives without knowing what it searches:
advance ``n`` evaluations, give emigrants and take immigrants (as *rows*: a mapping of
arrays whose first axis is the individual, cheap to send, sample and checkpoint), save and
restore its state (arrays), name its best, and tell the best's ancestry (lineage records).

An app (AutoML-Zero, NAS) supplies an :class:`IslandApp`: built from its JSON config in
the coordinator and again in every worker (a spawned process or a Ray actor imports it by
name), it makes the island of experiment ``e`` and index ``i`` from a *payload* the
coordinator prepares (e.g. the island's task set, so that workers never read a data set).
:class:`IslandWorker` serves an island over the command protocol of
:mod:`primeval.engine.workers`; :class:`~primeval.engine.archipelago.Archipelago` runs them.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from primeval.engine.genome import Individual
from primeval.engine.search import SearchProgress
from primeval.engine.workers import peak_rss_mb

Rows = dict[str, np.ndarray]
"""Individuals as arrays sharing their first axis (one row per individual)."""


class Island(Protocol):
    """One population on one worker; see the module docstring."""

    @property
    def evaluations(self) -> int:
        """Candidates evaluated so far (immigrants included)."""

    @property
    def full_evaluations(self) -> int:
        """Candidates evaluated in full (not answered by a cache or a cost cap)."""

    @property
    def finished(self) -> bool:
        """Whether the island's own budget (e.g. a simulated clock) has run out."""

    @property
    def best(self) -> Individual[Any] | None: ...

    def warm(self) -> None:
        """Get ready to run (e.g. load compiled code), changing nothing."""

    def advance(self, n: int) -> None:
        """Make, evaluate and place up to ``n`` candidates (fewer only when finished)."""

    def progress(self) -> SearchProgress:
        """Best and mean fitness and counters (``evaluations``; times are the caller's)."""

    def emigrants(self, n: int, rng: np.random.Generator) -> Rows:
        """Copies of ``n`` members drawn without replacement (all of them if fewer)."""

    def immigrate(self, rows: Rows) -> int:
        """Queue members of other islands to be evaluated here and join; how many."""

    def state(self) -> dict[str, np.ndarray]:
        """Everything that continues the island exactly, as arrays."""

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        """Continue from :meth:`state`'s output (into a freshly built island)."""

    def lineage(self) -> list[str]:
        """The best's ancestors, oldest first, one compact JSON text each."""


class IslandApp(Protocol):
    """What an app gives the engine to run its islands; see the module docstring."""

    seed: int
    migration_interval: int | None  # evaluations between migrations; None: none
    emigrants: int  # how many members an island sends per migration
    checkpoints: bool  # whether its islands' states can be saved and restored

    def config_json(self) -> Any:
        """The JSON-ready config :func:`build_app` rebuilds the app from."""

    def payload(self, experiment: int, island: int) -> Any:
        """What the coordinator builds for an island before it is sent (e.g. its tasks)."""

    def build(self, experiment: int, island: int, payload: Any) -> Island:
        """The island (in the worker)."""

    def empty_rows(self) -> Rows:
        """Zero individuals in the layout of :meth:`Island.emigrants`."""

    def genome_to_json(self, genome: Any) -> Any: ...

    def genome_from_json(self, obj: Any) -> Any: ...


def app_name(app: IslandApp) -> str:
    """The importable name of ``app``'s class, ``module.Class``."""
    cls = type(app)
    return f"{cls.__module__}.{cls.__qualname__}"


def build_app(name: str, config: Any) -> IslandApp:
    """The app ``name`` (``module.Class``) made from its JSON config (``Class.from_json``)."""
    module, _, cls_name = name.rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    app: IslandApp = cls.from_json(config)
    return app


class IslandWorker:
    """One island, served command by command (in a worker process, an actor or inline).

    Commands: ``init`` ({app, config, experiment, island, state, payload}), ``run`` (n
    candidates), ``drop`` (free the island), ``lineage`` (the best's ancestry), ``emigrate``
    ((n, seed): rows), ``immigrate`` (rows: how many were queued), ``state`` (arrays).
    The replies to ``init`` and ``run`` are reports (see :meth:`report`); a report carries the
    best genome only when it changed since the last one.
    """

    FACTORY = "primeval.engine.island.IslandWorker"

    def __init__(self) -> None:
        self.island: Island | None = None
        self.sent_best = -1
        self.apps: dict[tuple[str, str], IslandApp] = {}

    def _app(self, name: str, config: Any) -> IslandApp:
        key = (name, json.dumps(config, sort_keys=True))
        if key not in self.apps:
            self.apps = {key: build_app(name, config)}
        return self.apps[key]

    def handle(self, command: str, argument: Any) -> Any:
        if command == "init":
            app = self._app(argument["app"], argument["config"])
            self.island = None  # the last experiment's island goes before the next is built
            built = app.build(argument["experiment"], argument["island"], argument["payload"])
            if argument.get("state") is not None:
                built.restore(argument["state"])
            built.warm()  # ready to run when the coordinator hears back
            self.island = built
            self.sent_best = -1
            return self.report(0.0)
        if command == "drop":  # the experiment is over: free its island before the next
            self.island = None
            return None
        island = self.island
        if island is None:
            raise ValueError(f"{command}: no island (send init first)")
        if command == "run":
            start = time.perf_counter()
            island.advance(int(argument))
            return self.report(time.perf_counter() - start)
        if command == "emigrate":
            n, seed = argument
            return island.emigrants(int(n), np.random.default_rng(int(seed)))
        if command == "immigrate":
            return island.immigrate(argument)
        if command == "state":
            return island.state()
        if command == "lineage":
            return island.lineage()
        raise ValueError(f"unknown command {command!r}")

    def report(self, took: float) -> dict[str, Any]:
        """The island's counters and fitness; ``took``: seconds the batch ran."""
        island = self.island
        assert island is not None
        p = island.progress()
        best = island.best
        out: dict[str, Any] = {
            "evaluations": island.evaluations,
            "full": island.full_evaluations,
            "finished": island.finished,
            "best_fitness": p.best_fitness,
            "mean_fitness": p.mean_fitness,
            "stats": dict(p.stats),
            "took": took,
            "peak_rss_mb": peak_rss_mb(),
            "best_id": best.id if best is not None else -1,
        }
        if best is not None and best.id != self.sent_best:
            out["best"] = best.genome
            self.sent_best = best.id
        return out
