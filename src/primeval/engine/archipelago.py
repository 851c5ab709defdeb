"""The archipelago: one experiment's islands over a worker pool, with migration and restarts.

Real et al. 2020 (AutoML-Zero, Sec. 4.2): each worker evolves its own population and every
so often sends part of it to a shared pool and takes as many members from it. Here
:class:`Archipelago`, in the coordinating process, keeps every worker of a
:class:`~primeval.engine.workers.WorkerPool` (inline, processes or Ray) busy with batches of
about ``batch_seconds`` of its :class:`~primeval.engine.island.Island`, runs the migration,
collects the islands' states into snapshots (for checkpoints) and restarts a worker that
died from its island's last collected state.

Migration every ``app.migration_interval`` evaluations of an island: the island sends
``app.emigrants`` members (sampled without replacement, copies) to the pool and receives as
many sampled from the pool, its own excluded; they are evaluated on the island first, then
join its population. Which members a worker takes depends on the order in which workers
reach the pool; apart from that, results do not depend on the back end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from primeval.engine.genome import Individual
from primeval.engine.island import IslandApp, IslandWorker, Rows, app_name
from primeval.engine.search import SearchProgress
from primeval.engine.seeds import derive_seed
from primeval.engine.workers import Reply, WorkerError, WorkerPool

MAX_RESTARTS = 20  # per island and experiment: a worker that keeps dying stops the run
FACTORY = IslandWorker.FACTORY


@dataclass
class IslandStatus:
    """What the coordinator knows of one island."""

    evaluations: int = 0
    full: int = 0
    finished: bool = False
    best_fitness: float = -math.inf
    best_id: int = -1
    best: Any = None  # the best genome
    mean_fitness: float = -math.inf
    stats: dict[str, float] = field(default_factory=dict)
    next_migration: int = 0
    migrations: int = 0
    restarts: int = 0
    batch: int = 16
    in_flight: int = 0  # candidates sent and not reported yet
    peak_rss_mb: float = 0.0

    def meta(self, app: IslandApp) -> dict[str, Any]:
        """What a checkpoint records besides the island's arrays."""
        return {
            "evaluations": self.evaluations,
            "next_migration": self.next_migration,
            "migrations": self.migrations,
            "restarts": self.restarts,
            "best_id": self.best_id,
            "best_fitness": self.best_fitness if math.isfinite(self.best_fitness) else None,
            "best": app.genome_to_json(self.best) if self.best is not None else None,
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], app: IslandApp) -> IslandStatus:
        bf = meta.get("best_fitness")
        best = meta.get("best")
        return cls(
            evaluations=int(meta["evaluations"]),
            next_migration=int(meta["next_migration"]),
            migrations=int(meta["migrations"]),
            restarts=int(meta.get("restarts", 0)),
            best_id=int(meta.get("best_id", -1)),
            best_fitness=-math.inf if bf is None else float(bf),
            best=app.genome_from_json(best) if best is not None else None,
        )


@dataclass
class Snapshot:
    """Every island's state and status, and the migration pool, at one checkpoint."""

    states: list[dict[str, np.ndarray]]
    islands: list[dict[str, Any]]
    pool: dict[str, np.ndarray]  # rows and their island of ``origin``


def select_rows(rows: Mapping[str, np.ndarray], index: Any) -> dict[str, np.ndarray]:
    """The individuals ``index`` of ``rows`` (an index array, a mask or a slice)."""
    return {k: np.asarray(v)[index] for k, v in rows.items()}


def merge_stats(stats: list[dict[str, float]]) -> dict[str, float]:
    """The islands' counters as one: totals summed, rates averaged."""
    if len(stats) == 1:
        return dict(stats[0])
    keys = dict.fromkeys(k for s in stats for k in s)
    out: dict[str, float] = {}
    for k in keys:
        values = [s[k] for s in stats if k in s]
        total = k in ("full_evaluations", "over_budget", "fec_bypassed", "rejected")
        out[k] = float(sum(values)) if total else float(np.mean(values))
    return out


class Archipelago:
    """One experiment over ``islands`` islands (default ``pool.n``): batches, migration,
    states, restarts. Island ``i`` runs on worker ``i``."""

    def __init__(
        self,
        app: IslandApp,
        experiment: int,
        pool: WorkerPool,
        resume: Snapshot | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        batch_seconds: float = 0.25,
        islands: int | None = None,
    ) -> None:
        self.app = app
        self.experiment = experiment
        self.pool = pool
        self.n = pool.n if islands is None else islands
        if not 1 <= self.n <= pool.n:
            raise ValueError(f"{self.n} islands on {pool.n} workers")
        self.on_event = on_event or (lambda e: None)
        self.batch_seconds = batch_seconds
        self.interval = app.migration_interval if self.n > 1 else None
        self.emigrants = app.emigrants
        empty = {**app.empty_rows(), "origin": np.zeros(0, dtype=np.int64)}
        self.migration_pool: dict[str, np.ndarray] = (
            dict(resume.pool) if resume and resume.pool else empty
        )
        self.snapshot = resume
        self.status = [self._fresh_status() for _ in range(self.n)]
        self._want_state: set[int] = set()
        self._collecting = False
        self._states: dict[int, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}
        self._app_name = app_name(app)
        self._config_json = app.config_json()
        # Runs start once every island is built (a slow start would leave one island idle
        # while the others spend the budget); a restarted island does not hold the others.
        self._ready: set[int] = set()
        # Every island's payload is built before any is sent: the transients of building
        # (a class pair's pixels as float64) then meet workers that hold no island yet.
        payloads = [app.payload(experiment, i) for i in range(self.n)]
        for i in range(self.n):
            self._init(i, restart=False, payload=payloads[i])
            payloads[i] = None

    def _fresh_status(self) -> IslandStatus:
        return IslandStatus(next_migration=self.interval or 0)

    # --- workers -----------------------------------------------------------------------------

    def _init(self, i: int, restart: bool, payload: Any = None) -> None:
        """(Re)build island ``i`` on its worker from the last snapshot, if any (``payload``:
        its payload, when already built)."""
        snap = self.snapshot
        state = snap.states[i] if snap is not None else None
        restarts = self.status[i].restarts
        if snap is not None:
            self.status[i] = IslandStatus.from_meta(snap.islands[i], self.app)
        else:
            self.status[i] = self._fresh_status()
        self.status[i].restarts = restarts
        if restart:
            self.pool.start(i)
        self.pool.send(
            i,
            "init",
            {
                "app": self._app_name,
                "config": self._config_json,
                "experiment": self.experiment,
                "island": i,
                "state": state,
                # Built by the coordinator at each (re)start rather than kept: workers get
                # arrays (a few MB) and never read a data set.
                "payload": payload if payload is not None else self.app.payload(self.experiment, i),
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
        i = reply.worker
        if i >= self.n:  # a worker this experiment does not use (its drop was answered)
            return
        st = self.status[i]
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
            st.finished = bool(v["finished"])
            st.best_fitness, st.mean_fitness = float(v["best_fitness"]), float(v["mean_fitness"])
            st.stats = dict(v["stats"])
            st.peak_rss_mb = max(st.peak_rss_mb, float(v["peak_rss_mb"]))
            st.best_id = int(v["best_id"])
            if "best" in v:
                st.best = v["best"]
        elif reply.command == "emigrate":
            v = {**v, "origin": np.full(len(next(iter(v.values()))), i, dtype=np.int64)}
            pool = {k: np.concatenate([a, v[k]]) for k, a in self.migration_pool.items()}
            drop = max(0, len(pool["origin"]) - self.n * self.emigrants)  # the oldest first
            self.migration_pool = select_rows(pool, slice(drop, None))
        elif reply.command == "state":
            self._states[i] = (v, st.meta(self.app))

    def _dispatch(self, i: int, budget_left: int | None, stopping: bool) -> None:
        """Give idle worker ``i`` its next commands."""
        st = self.status[i]
        if i in self._want_state and i not in self._states:
            self.pool.send(i, "state")
            self._want_state.discard(i)
        if stopping or len(self._ready) < self.n or st.finished:
            return
        if self.interval is not None and st.evaluations >= st.next_migration:
            self._migrate(i)
        n = st.batch
        if budget_left is not None:
            n = min(n, budget_left)
        if self.interval is not None:
            n = min(n, st.next_migration - st.evaluations)
        if n > 0:
            st.in_flight = n
            self.pool.send(i, "run", n)

    def _migrate(self, i: int) -> None:
        st = self.status[i]
        assert self.interval is not None
        seed = self.app.seed
        label = (self.experiment, i, st.migrations)
        self.pool.send(i, "emigrate", (self.emigrants, derive_seed(seed, "emigrate", *label)))
        others = np.flatnonzero(self.migration_pool["origin"] != i)
        if len(others):
            rng = np.random.default_rng(derive_seed(seed, "immigrate", *label))
            picks = others[rng.choice(len(others), min(self.emigrants, len(others)), False)]
            chosen: Rows = select_rows(self.migration_pool, picks)
            del chosen["origin"]
            keep = np.ones(len(self.migration_pool["origin"]), dtype=bool)
            keep[picks] = False
            self.migration_pool = select_rows(self.migration_pool, keep)
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

    @property
    def finished(self) -> bool:
        """Whether every island's own budget has run out."""
        return all(s.finished for s in self.status)

    def best(self) -> tuple[int, Individual[Any]] | None:
        """The island and the fittest candidate seen on any island (the first of equals)."""
        found: tuple[int, Individual[Any]] | None = None
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
            stats=merge_stats([s.stats for s in self.status]),
        )

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
        checkpoint_every_seconds: float | None,
    ) -> str:
        """Until ``max_evals`` candidates over all islands, every island finished, the
        ``deadline`` (a ``time.perf_counter`` value), ``on_tick`` returning True, or
        ``stop_requested``. Returns why it stopped: max_evals, finished, time_budget,
        callback or interrupted. ``checkpoint_every_seconds`` None: no snapshots."""
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
                elif self.finished and len(self._ready) == self.n:
                    stopped = "finished"
            if stopped is not None and not self.busy():
                break
            snap = self.step(max_evals, stopping=stopped is not None)
            if snap is not None:
                on_snapshot(snap)
            now = time.perf_counter() - t0
            if (
                next_checkpoint is not None
                and checkpoint_every_seconds is not None
                and now >= next_checkpoint
                and not self._collecting
                and stopped is None
            ):
                next_checkpoint = now + checkpoint_every_seconds
                self.request_snapshot()
            if now >= next_tick and stopped is None:
                next_tick = now + progress_every_seconds
                if tick():
                    stopped = "callback"
        if stopped != "callback" and tick():
            stopped = "callback"
        return stopped

    def ask(self, i: int, command: str) -> Any:
        """Island ``i``'s answer to ``command`` (e.g. ``lineage``), asked when no run is in
        flight; None if its worker died meanwhile."""
        self.pool.send(i, command)
        while True:
            for reply in self.pool.receive(0.2):
                if reply.worker == i and reply.command == command:
                    if reply.dead:
                        self._restart(i)
                        return None
                    if reply.error is not None:
                        self._take(reply)  # raises WorkerError
                    return reply.value
                self._take(reply)

    def lineage(self, i: int) -> list[str] | None:
        """Island ``i``'s best and its ancestors (a JSON text each, oldest first); None if
        its worker died meanwhile."""
        links = self.ask(i, "lineage")
        return None if links is None else list(links)

    def release(self) -> None:
        """Have every worker free its island (no run in flight), e.g. before the coordinator
        builds the next experiment's payloads, so that its transient memory does not add to
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
