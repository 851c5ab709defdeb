"""Islands: one search experiment run by several asynchronous workers, with migration.

Real et al. 2020 (AutoML-Zero, Sec. 4.2) run the search on many workers, each evolving its
own population; every so often a worker sends half its population to a shared pool and
takes as many programs sampled from it. Here an *island* is a
:class:`~primeval.algorithms.evolve.CompiledSearch` built from the config for island ``i``
(island 0 with the seeds a single-process run uses, so one worker reproduces it exactly);
:class:`IslandWorker` serves it over the command protocol of :mod:`primeval.engine.workers`,
and :class:`Archipelago`, in the main process, keeps every worker busy with batches of about
``batch_seconds``, runs the migration, collects the islands' states for checkpoints and
restarts a worker that died from its island's last collected state.

Migration every ``workers.migration_interval`` evaluations of an island: the island sends
``migration_fraction`` of its population (sampled without replacement, copies) to the pool
and receives as many programs sampled from the pool, its own excluded; they are evaluated on
the island first, then join its population (see ``CompiledSearch.immigrate``). Which
programs a worker takes depends on the order in which workers reach the pool; apart from
that, results do not depend on the back end.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from primeval.algorithms.program import Program, program_from_json, program_to_json
from primeval.config import Config, TaskConfig, parse_config
from primeval.engine.genome import Individual
from primeval.engine.search import SearchProgress
from primeval.engine.workers import Reply, WorkerError, WorkerPool, peak_rss_mb

FACTORY = "primeval.algorithms.islands.IslandWorker"
MAX_RESTARTS = 20  # per island and experiment: a worker that keeps dying stops the run


def island_label(experiment: int, island: int) -> tuple[object, ...]:
    """Seed labels of an island: island 0 uses those of a single-process run."""
    return (experiment,) if island == 0 else (experiment, island)


def island_tasks(config: Config, island: int) -> TaskConfig:
    """The search tasks of island ``island``: ``workers.island_tasks`` round-robin."""
    it = config.workers.island_tasks
    return it[island % len(it)] if it else config.tasks


def row_sizes(config: Config) -> tuple[int, int, int]:
    """The most instructions a program of this config has, per component."""
    return config.size_bounds(config.program.start())[2]


_PACKED = ("ops", "args", "data", "lens")


def pack(programs: list[Program], sizes: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Programs as fixed-width rows (component ``c`` at ``sum(sizes[:c])``): cheap to send,
    sample and checkpoint, unlike program objects or JSON."""
    width, k = sum(sizes), len(programs)
    ops = np.zeros((k, width), dtype=np.int16)
    args = np.zeros((k, width, 3), dtype=np.int16)
    data = np.zeros((k, width, 3))
    lens = np.zeros((k, 3), dtype=np.int64)
    for r, program in enumerate(programs):
        lo = 0
        for c, fn in enumerate(program.functions):
            n = len(fn)
            ops[r, lo : lo + n], args[r, lo : lo + n], data[r, lo : lo + n] = (
                fn.ops,
                fn.args,
                fn.data,
            )
            lens[r, c] = n
            lo += sizes[c]
    return {"ops": ops, "args": args, "data": data, "lens": lens}


def _select(rows: Mapping[str, np.ndarray], index: Any) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[index] for k, v in rows.items()}


def build_island_tasks(config: Config, experiment: int, island: int) -> Any:
    """The search tasks of island ``island`` in experiment ``experiment``."""
    from primeval.algorithms.experiment import build_tasks, derive_seed

    label = island_label(experiment, island)
    return build_tasks(island_tasks(config, island), derive_seed(config.seed, "tasks", *label))


def build_island(config: Config, experiment: int, island: int, tasks: Any = None) -> Any:
    """The compiled search of island ``island`` in experiment ``experiment``.

    ``tasks``: its task set, built by the coordinator (so that a worker process never loads
    an image data set); built here when ``None``.
    """
    from primeval.algorithms.experiment import (
        build_search,
        build_space,
        derive_seed,
        make_interpreter,
    )

    label = island_label(experiment, island)
    rng = np.random.default_rng(derive_seed(config.seed, "search", *label))
    if tasks is None:
        tasks = build_island_tasks(config, experiment, island)
    return build_search(config, build_space(config), tasks, make_interpreter("compiled"), rng)


class IslandWorker:
    """One island, served command by command (in a worker process, an actor or inline).

    Commands: ``init`` ({config, experiment, island, state, tasks}), ``run`` (n candidates),
    ``drop`` (free the island),
    ``ancestry`` (the island best's ancestors, a JSON text each, oldest first),
    ``emigrate`` ((n, seed): packed programs), ``immigrate`` (packed programs: how many
    were queued),
    ``state`` (arrays for ``CompiledSearch.load_state``).
    """

    def __init__(self) -> None:
        self.search: Any = None
        self.sent_best = -1
        self.sizes = (0, 0, 0)

    def handle(self, command: str, argument: Any) -> Any:
        if command == "init":
            config = parse_config(argument["config"], "worker config")
            self.search = None  # the last experiment's island goes before the next is built
            self.search = build_island(
                config, argument["experiment"], argument["island"], argument.get("tasks")
            )
            self.sizes = row_sizes(config)
            if argument.get("state") is not None:
                self.search.load_state(argument["state"])
            self.search.warm()  # ready to run when the coordinator hears back
            self.sent_best = -1
            return self._report(0.0)
        if command == "run":
            start = time.perf_counter()
            self.search.step(int(argument))
            return self._report(time.perf_counter() - start)
        if command == "emigrate":
            n, seed = argument
            return self.search.emigrant_rows(int(n), np.random.default_rng(int(seed)), self.sizes)
        if command == "immigrate":
            return self.search.immigrate_rows(argument, self.sizes)
        if command == "state":
            return self.search.state()
        if command == "drop":  # the experiment is over: free its island before the next
            self.search = None
            return None
        if command == "ancestry":
            # One compact JSON text per link: a long chain as dicts would cost ~10x its text.
            return [json.dumps(a.to_json(), separators=(",", ":")) for a in self.search.ancestry()]
        raise ValueError(f"unknown command {command!r}")

    def _report(self, took: float) -> dict[str, Any]:
        s = self.search
        p = s.progress(0.0)
        best = s.best
        out: dict[str, Any] = {
            "evaluations": s.evaluations,
            "full": s.full_evaluations,
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


@dataclass
class IslandStatus:
    """What the coordinator knows of one island."""

    evaluations: int = 0
    full: int = 0
    best_fitness: float = -math.inf
    best_id: int = -1
    best: Program | None = None
    mean_fitness: float = -math.inf
    stats: dict[str, float] = field(default_factory=dict)
    next_migration: int = 0
    migrations: int = 0
    restarts: int = 0
    batch: int = 16
    in_flight: int = 0  # candidates sent and not reported yet
    peak_rss_mb: float = 0.0

    def meta(self) -> dict[str, Any]:
        """What a checkpoint records besides the island's arrays."""
        return {
            "evaluations": self.evaluations,
            "next_migration": self.next_migration,
            "migrations": self.migrations,
            "restarts": self.restarts,
            "best_id": self.best_id,
            "best_fitness": self.best_fitness if math.isfinite(self.best_fitness) else None,
            "best": program_to_json(self.best) if self.best is not None else None,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> IslandStatus:
        bf = meta.get("best_fitness")
        best = meta.get("best")
        return cls(
            evaluations=int(meta["evaluations"]),
            next_migration=int(meta["next_migration"]),
            migrations=int(meta["migrations"]),
            restarts=int(meta.get("restarts", 0)),
            best_id=int(meta.get("best_id", -1)),
            best_fitness=-math.inf if bf is None else float(bf),
            best=program_from_json(best) if best is not None else None,
        )


@dataclass
class Snapshot:
    """Every island's state and status, and the migration pool, at one checkpoint."""

    states: list[dict[str, np.ndarray]]
    islands: list[dict[str, Any]]
    pool: dict[str, np.ndarray]  # packed programs and their island of ``origin``


def _merge_stats(stats: list[dict[str, float]]) -> dict[str, float]:
    if len(stats) == 1:
        return dict(stats[0])
    keys = dict.fromkeys(k for s in stats for k in s)
    out: dict[str, float] = {}
    for k in keys:
        values = [s[k] for s in stats if k in s]
        total = k in ("full_evaluations", "over_budget", "fec_bypassed")
        out[k] = float(sum(values)) if total else float(np.mean(values))
    return out


class Archipelago:
    """One experiment over ``pool.n`` islands: batches, migration, states, restarts."""

    def __init__(
        self,
        config: Config,
        experiment: int,
        pool: WorkerPool,
        resume: Snapshot | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        batch_seconds: float = 0.25,
    ) -> None:
        self.config = config
        self.experiment = experiment
        self.pool = pool
        self.n = pool.n
        self.on_event = on_event or (lambda e: None)
        self.batch_seconds = batch_seconds
        wc = config.workers
        self.interval = wc.migration_interval
        self.emigrants = max(1, round(wc.migration_fraction * config.search.population))
        self.sizes = row_sizes(config)
        empty = {**pack([], self.sizes), "origin": np.zeros(0, dtype=np.int64)}
        self.migration_pool: dict[str, np.ndarray] = (
            dict(resume.pool) if resume and resume.pool else empty
        )
        self.snapshot = resume
        self.status = [IslandStatus(next_migration=self.interval) for _ in range(self.n)]
        self._want_state: set[int] = set()
        self._collecting = False
        self._states: dict[int, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}
        self._config_json = config.model_dump(mode="json")
        # Runs start once every island is built (a slow start would leave one island idle
        # while the others spend the budget); a restarted island does not hold the others.
        self._ready: set[int] = set()
        # Every island's tasks are built before any is sent: the transients of building
        # (a class pair's pixels as float64) then meet workers that hold no island yet.
        tasks = [build_island_tasks(config, experiment, i) for i in range(self.n)]
        for i in range(self.n):
            self._init(i, restart=False, tasks=tasks[i])
            tasks[i] = None

    # --- workers -----------------------------------------------------------------------------

    def _init(self, i: int, restart: bool, tasks: Any = None) -> None:
        """(Re)build island ``i`` on its worker from the last snapshot, if any (``tasks``:
        its task set, when already built)."""
        snap = self.snapshot
        state = snap.states[i] if snap is not None else None
        restarts = self.status[i].restarts
        if snap is not None:
            self.status[i] = IslandStatus.from_meta(snap.islands[i])
        else:
            self.status[i] = IslandStatus(next_migration=self.interval)
        self.status[i].restarts = restarts
        if restart:
            self.pool.start(i)
        self.pool.send(
            i,
            "init",
            {
                "config": self._config_json,
                "experiment": self.experiment,
                "island": i,
                "state": state,
                # Built by the coordinator at each (re)start rather than kept: workers get
                # arrays (a few MB) and never read an image data set.
                "tasks": tasks
                if tasks is not None
                else build_island_tasks(self.config, self.experiment, i),
            },
        )

    def _restart(self, i: int) -> None:
        st = self.status[i]
        lost = st.evaluations - (
            int(self.snapshot.islands[i]["evaluations"]) if self.snapshot else 0
        )
        st.restarts += 1
        if st.restarts > MAX_RESTARTS:
            raise WorkerError(f"island {i}: its worker died {st.restarts} times; giving up")
        self._states.pop(i, None)
        if self._collecting:
            self._want_state.add(i)
        self._init(i, restart=True)
        self.on_event(
            {
                "event": "worker_restarted",
                "experiment": self.experiment,
                "island": i,
                "restarts": st.restarts,
                "evaluations_lost": lost,
                "pid": self.pool.pids()[i],
            }
        )

    def _take(self, reply: Reply) -> None:
        i, st = reply.worker, self.status[reply.worker]
        if reply.dead:
            self._restart(i)
            return
        if reply.error is not None:
            last = reply.error.strip().splitlines()[-1]
            raise WorkerError(f"island {i}: {reply.command} failed in its worker: {last}")
        v = reply.value
        if reply.command == "init":
            self._ready.add(i)
        if reply.command in ("init", "run"):
            if reply.command == "run":
                st.in_flight = 0
                took = float(v["took"])
                if took < self.batch_seconds / 2:
                    st.batch = min(st.batch * 2, 1 << 20)
                elif took > self.batch_seconds * 2 and st.batch > 1:
                    st.batch //= 2
            st.evaluations, st.full = int(v["evaluations"]), int(v["full"])
            st.best_fitness, st.mean_fitness = float(v["best_fitness"]), float(v["mean_fitness"])
            st.stats = dict(v["stats"])
            st.peak_rss_mb = max(st.peak_rss_mb, float(v["peak_rss_mb"]))
            st.best_id = int(v["best_id"])
            if "best" in v:
                st.best = v["best"]
        elif reply.command == "emigrate":
            v = {**v, "origin": np.full(len(v["lens"]), i, dtype=np.int64)}
            pool = {k: np.concatenate([a, v[k]]) for k, a in self.migration_pool.items()}
            drop = max(0, len(pool["origin"]) - self.n * self.emigrants)  # the oldest first
            self.migration_pool = _select(pool, slice(drop, None))
        elif reply.command == "state":
            self._states[i] = (v, st.meta())

    def _dispatch(self, i: int, budget_left: int | None, stopping: bool) -> None:
        """Give idle worker ``i`` its next commands."""
        st = self.status[i]
        if i in self._want_state and i not in self._states:
            self.pool.send(i, "state")
            self._want_state.discard(i)
        if stopping or len(self._ready) < self.n:
            return
        if self.n > 1 and st.evaluations >= st.next_migration:
            self._migrate(i)
        n = st.batch
        if budget_left is not None:
            n = min(n, budget_left)
        if self.n > 1:
            n = min(n, st.next_migration - st.evaluations)
        if n > 0:
            st.in_flight = n
            self.pool.send(i, "run", n)

    def _migrate(self, i: int) -> None:
        from primeval.algorithms.experiment import derive_seed

        st = self.status[i]
        seed = self.config.seed
        label = (self.experiment, i, st.migrations)
        self.pool.send(i, "emigrate", (self.emigrants, derive_seed(seed, "emigrate", *label)))
        others = np.flatnonzero(self.migration_pool["origin"] != i)
        if len(others):
            rng = np.random.default_rng(derive_seed(seed, "immigrate", *label))
            picks = others[rng.choice(len(others), min(self.emigrants, len(others)), False)]
            chosen = _select(self.migration_pool, picks)
            del chosen["origin"]
            keep = np.ones(len(self.migration_pool["origin"]), dtype=bool)
            keep[picks] = False
            self.migration_pool = _select(self.migration_pool, keep)
            self.pool.send(i, "immigrate", chosen)
        st.migrations += 1
        st.next_migration += self.interval

    # --- reading -----------------------------------------------------------------------------

    @property
    def evaluations(self) -> int:
        return sum(s.evaluations for s in self.status)

    @property
    def full_evaluations(self) -> int:
        return sum(s.full for s in self.status)

    def best(self) -> tuple[int, Individual[Program]] | None:
        """The island and the fittest candidate seen on any island (the first of equals)."""
        found: tuple[int, Individual[Program]] | None = None
        for i, s in enumerate(self.status):
            if s.best is None:
                continue
            if found is None or s.best_fitness > found[1].fitness:
                found = (i, Individual(s.best_id, s.best, s.best_fitness, None, "", 0))
        return found

    def progress(self, now: float, t_prev: float, n_prev: int) -> SearchProgress:
        n = self.evaluations
        means = [s.mean_fitness for s in self.status if math.isfinite(s.mean_fitness)]
        return SearchProgress(
            evaluations=n,
            elapsed_seconds=now,
            evals_per_second=max(0.0, (n - n_prev) / (now - t_prev)) if now > t_prev else 0.0,
            best_fitness=max(s.best_fitness for s in self.status),
            mean_fitness=float(np.mean(means)) if means else -math.inf,
            stats=_merge_stats([s.stats for s in self.status]),
        )

    def peak_rss_mb(self) -> list[float]:
        return [s.peak_rss_mb for s in self.status]

    # --- running -----------------------------------------------------------------------------

    def request_snapshot(self) -> None:
        """Ask every island for its state; :meth:`step` returns the snapshot once complete."""
        self._want_state = set(range(self.n))
        self._states = {}
        self._collecting = True

    def _snapshot_ready(self) -> Snapshot | None:
        if not self._collecting or len(self._states) < self.n:
            return None
        order = range(self.n)
        snap = Snapshot(
            states=[self._states[i][0] for i in order],
            islands=[self._states[i][1] for i in order],
            pool=dict(self.migration_pool),
        )
        self._states = {}
        self._collecting = False
        self.snapshot = snap
        return snap

    def busy(self) -> bool:
        return any(self.pool.pending(i) for i in range(self.n))

    def step(self, budget: int | None, stopping: bool, timeout: float = 0.2) -> Snapshot | None:
        """Hand out work and take replies once; returns a snapshot when one completes.

        ``budget``: candidates still allowed in this experiment (None: no limit);
        ``stopping``: send no more runs (replies still come in).
        """
        for i in range(self.n):
            if self.pool.pending(i) == 0:
                left = None
                if budget is not None:
                    left = budget - self.evaluations - sum(s.in_flight for s in self.status)
                self._dispatch(i, left, stopping)
        for reply in self.pool.receive(timeout):
            self._take(reply)
        return self._snapshot_ready()

    def run(
        self,
        max_evals: int | None,
        deadline: float | None,
        on_tick: Callable[[SearchProgress], bool],
        on_snapshot: Callable[[Snapshot], None],
        stop_requested: Callable[[], bool],
        progress_every_seconds: float,
        checkpoint_every_seconds: float,
    ) -> str:
        """Until ``max_evals`` candidates over all islands, the ``deadline`` (a
        ``time.perf_counter`` value), ``on_tick`` returning True, or ``stop_requested``.
        Returns why it stopped: max_evals, time_budget, callback or interrupted."""
        t0 = time.perf_counter()
        last = (0.0, self.evaluations)
        next_tick = progress_every_seconds
        next_checkpoint = checkpoint_every_seconds
        stopped: str | None = None

        def tick() -> bool:
            nonlocal last
            now = time.perf_counter() - t0
            p = self.progress(now, *last)
            last = (now, p.evaluations)
            return on_tick(p)

        while True:
            if stopped is None:
                if stop_requested():
                    stopped = "interrupted"
                elif deadline is not None and time.perf_counter() >= deadline:
                    stopped = "time_budget"
                elif max_evals is not None and self.evaluations >= max_evals:
                    stopped = "max_evals"
            if stopped is not None and not self.busy():
                break
            snap = self.step(max_evals, stopping=stopped is not None)
            if snap is not None:
                on_snapshot(snap)
            now = time.perf_counter() - t0
            if now >= next_checkpoint and not self._collecting and stopped is None:
                next_checkpoint = now + checkpoint_every_seconds
                self.request_snapshot()
            if now >= next_tick and stopped is None:
                next_tick = now + progress_every_seconds
                if tick():
                    stopped = "callback"
        if stopped != "callback" and tick():
            stopped = "callback"
        return stopped

    def ancestry(self, i: int) -> list[str] | None:
        """Island ``i``'s best and its ancestors (a JSON text each, oldest first), asked when
        no run is in flight; None if its worker died meanwhile."""
        self.pool.send(i, "ancestry")
        while True:
            for reply in self.pool.receive(0.2):
                if reply.worker == i and reply.command == "ancestry":
                    if reply.dead:
                        self._restart(i)
                        return None
                    if reply.error is not None:
                        self._take(reply)  # raises WorkerError
                    return list(reply.value)
                self._take(reply)

    def release(self) -> None:
        """Have every worker free its island (no run in flight), e.g. before the coordinator
        builds the next experiment's tasks, so that its transient memory does not add to
        theirs. A worker that died meanwhile is started afresh for the next experiment."""
        for i in range(self.n):
            self.pool.send(i, "drop")
        while self.busy():
            for reply in self.pool.receive(0.2):
                if reply.dead:
                    self.pool.start(reply.worker)
                elif reply.error is not None:
                    self._take(reply)  # raises WorkerError

    def collect_snapshot(self) -> Snapshot:
        """Every island's current state (no run in flight): for a final checkpoint."""
        self.request_snapshot()
        while True:
            snap = self.step(None, stopping=True)
            if snap is not None:
                return snap
