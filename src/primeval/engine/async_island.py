"""An island for expensive candidates: steady-state asynchronous evolution over a worker pool.

When one evaluation trains a network for minutes, a generational loop that waits for a
whole batch leaves workers idle behind the slowest candidate. Steady-state evolution does
not wait (Real et al., "Regularized Evolution for Image Classifier Architecture Search",
AAAI 2019, ran hundreds of workers this way): as soon as a result arrives it is told to the
strategy and a new candidate is asked for, so every worker always has work. Each worker
holds up to ``per_worker`` candidates (the one it evaluates and the next ones, queued in
its pipe), so it starts the next one without waiting for the coordinator.

The island speaks the searcher interface of Ray Tune's search algorithms
(``ray.tune.search.Searcher``): :meth:`AsyncIsland.suggest` proposes a trial and
:meth:`AsyncIsland.on_trial_complete` reports its result; :meth:`AsyncIsland.advance` drives
them over a :class:`~primeval.engine.workers.WorkerPool`. Any ask/tell
:class:`~primeval.engine.strategies.Strategy` proposes the candidates; genomes travel to the
workers as JSON (:class:`~primeval.engine.genome.GenomeSpace`). A worker that dies takes its
candidates with it: they are queued again, up to ``max_attempts`` times each, after which
the candidate counts as a failed evaluation (NaN fitness, as the strategies expect: a
candidate that always kills its worker must not stall the search). :meth:`AsyncIsland.state`
and :meth:`AsyncIsland.restore` checkpoint the island, candidates in flight included.
"""

from __future__ import annotations

import abc
import collections
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from primeval.engine.genome import GenomeSpace, Individual, clean_fitness
from primeval.engine.strategies import Strategy
from primeval.engine.workers import Reply, WorkerPool

G = TypeVar("G")

#: the command a worker answers with the evaluation of ``{"trial": id, "genome": json}``
EVALUATE = "evaluate"


@dataclass(frozen=True)
class Trial(Generic[G]):
    """A candidate on its way to a worker: what to evaluate and where it came from."""

    id: int
    genome: G
    parent: int | None
    mutation: str
    attempts: int = 0  # how many workers died evaluating it


class EvaluationWorker(abc.ABC):
    """A worker (a pool's factory class) that evaluates genomes of one space.

    Subclasses set :attr:`space` and write :meth:`evaluate`; the result is a fitness, or a
    dict with a ``fitness`` entry and whatever else the caller wants back (e.g. timings).
    """

    space: GenomeSpace[Any]

    @abc.abstractmethod
    def evaluate(self, genome: Any) -> float | dict[str, Any]:
        """The fitness of ``genome`` (or a dict with a ``fitness`` entry)."""

    def handle(self, command: str, argument: Any) -> Any:
        if command != EVALUATE:
            raise ValueError(f"unknown command {command!r}")
        return self.evaluate(self.space.from_json(argument["genome"]))


def _fitness(value: Any) -> float:
    raw: Any = value.get("fitness") if isinstance(value, dict) else value
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _number(x: float) -> float | None:
    return x if math.isfinite(x) else None


class AsyncIsland(Generic[G]):
    """Asynchronous steady-state evolution of one population over ``pool``'s workers.

    ``on_result`` sees every evaluated individual with its worker's raw answer (lineage,
    logs, timings). The island starts the pool's workers on first use; :meth:`close` closes
    the pool.
    """

    def __init__(
        self,
        strategy: Strategy[G],
        pool: WorkerPool,
        rng: np.random.Generator,
        per_worker: int = 2,
        max_attempts: int = 3,
        on_result: Callable[[Individual[G], Any], None] | None = None,
    ) -> None:
        if per_worker < 1 or max_attempts < 1:
            raise ValueError("per_worker and max_attempts must be positive")
        self.strategy = strategy
        self.pool = pool
        self.rng = rng
        self.per_worker = per_worker
        self.max_attempts = max_attempts
        self.on_result = on_result
        self.evaluations = 0
        self.requeued = 0
        self.restarts = 0
        self.errors: list[str] = []
        self._next_id = 0
        self._trials: dict[int, Trial[G]] = {}  # suggested, not complete
        self._queue: collections.deque[int] = collections.deque()  # to send again first
        self._flight: list[collections.deque[int]] = [collections.deque() for _ in range(pool.n)]
        self._started = False

    @property
    def space(self) -> GenomeSpace[G]:
        return self.strategy.space

    @property
    def best(self) -> Individual[G] | None:
        return self.strategy.best

    # The searcher interface.

    def suggest(self) -> Trial[G]:
        """The next trial: a requeued candidate first, else a new one from the strategy."""
        if self._queue:
            return self._trials[self._queue.popleft()]
        genome, parent, mutation = self.strategy.ask(self.rng)
        trial = Trial(self._next_id, genome, parent, mutation)
        self._next_id += 1
        self._trials[trial.id] = trial
        return trial

    def on_trial_complete(self, trial_id: int, value: Any) -> Individual[G]:
        """Tell the strategy the result of trial ``trial_id`` (a fitness or a dict with one);
        ``None`` or a non-number is a failed evaluation (NaN fitness)."""
        trial = self._trials.pop(trial_id)
        self.evaluations += 1
        individual = Individual(
            trial.id,
            trial.genome,
            _fitness(value),
            trial.parent,
            trial.mutation,
            self.evaluations,
        )
        self.strategy.tell(individual)
        if self.on_result is not None:
            self.on_result(individual, value)
        return individual

    def requeue(self, trial_id: int) -> None:
        """Send trial ``trial_id`` again (its worker died), or fail it after too many tries."""
        trial = self._trials[trial_id]
        trial = Trial(trial.id, trial.genome, trial.parent, trial.mutation, trial.attempts + 1)
        self._trials[trial_id] = trial
        if trial.attempts >= self.max_attempts:
            self.errors.append(f"trial {trial_id}: {trial.attempts} workers died evaluating it")
            self.on_trial_complete(trial_id, None)
            return
        self.requeued += 1
        self._queue.append(trial_id)

    # Driving the pool.

    def in_flight(self, worker: int | None = None) -> list[int]:
        """Trials sent to ``worker`` (or to any worker) and not answered yet, oldest first."""
        flights = self._flight if worker is None else [self._flight[worker]]
        return [t for f in flights for t in f]

    def _fill(self) -> None:
        if not self._started:
            for i in range(self.pool.n):
                self.pool.start(i)
            self._started = True
        for i, flight in enumerate(self._flight):
            while len(flight) < self.per_worker:
                trial = self.suggest()
                flight.append(trial.id)
                genome = self.space.to_json(trial.genome)
                self.pool.send(i, EVALUATE, {"trial": trial.id, "genome": genome})

    def _answer(self, reply: Reply) -> Individual[G] | None:
        flight = self._flight[reply.worker]
        if reply.dead:
            # Every candidate on a dead worker is lost (the pool drops its pending commands).
            self.restarts += 1
            lost = list(flight)
            flight.clear()
            self.pool.start(reply.worker)
            for trial_id in lost:
                self.requeue(trial_id)
            return None
        trial_id = flight.popleft()
        if reply.error is not None:
            self.errors.append(reply.error)
            return self.on_trial_complete(trial_id, None)
        return self.on_trial_complete(trial_id, reply.value)

    def advance(self, n: int, timeout: float | None = None) -> list[Individual[G]]:
        """Evaluate until ``n`` more candidates are complete (or ``timeout`` seconds pass with
        no answer); returns them in the order they completed. Workers are kept busy
        throughout and after: when this returns, every worker holds ``per_worker``
        candidates (the caller may checkpoint or migrate meanwhile); their results arrive in
        the next call."""
        done: list[Individual[G]] = []
        while len(done) < n:
            self._fill()
            replies = self.pool.receive(timeout)
            if not replies:
                break
            for reply in replies:
                individual = self._answer(reply)
                if individual is not None:
                    done.append(individual)
        self._fill()
        return done

    def close(self) -> None:
        self.pool.close()
        self._started = False

    # Checkpoints.

    def _individual_json(self, ind: Individual[G]) -> dict[str, Any]:
        return {
            "id": ind.id,
            "genome": self.space.to_json(ind.genome),
            "fitness": _number(clean_fitness(ind.fitness)),
            "parent": ind.parent,
            "mutation": ind.mutation,
            "evaluation": ind.evaluation,
        }

    def _individual(self, obj: dict[str, Any]) -> Individual[G]:
        fitness = obj["fitness"]
        return Individual(
            int(obj["id"]),
            self.space.from_json(obj["genome"]),
            -math.inf if fitness is None else float(fitness),
            None if obj["parent"] is None else int(obj["parent"]),
            str(obj["mutation"]),
            int(obj["evaluation"]),
        )

    def state(self) -> dict[str, Any]:
        """A JSON-ready checkpoint: counters, random state, population, and every trial not
        complete (in flight or queued), which :meth:`restore` sends again."""
        best = self.strategy.best
        return {
            "evaluations": self.evaluations,
            "next_id": self._next_id,
            "requeued": self.requeued,
            "restarts": self.restarts,
            "rng": self.rng.bit_generator.state,
            "members": [self._individual_json(m) for m in self.strategy.members()],
            "best": None if best is None else self._individual_json(best),
            "strategy": self.strategy.state(),
            "pending": [
                {
                    "id": t.id,
                    "genome": self.space.to_json(t.genome),
                    "parent": t.parent,
                    "mutation": t.mutation,
                    "attempts": t.attempts,
                }
                for t in sorted(self._trials.values(), key=lambda t: t.id)
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state`, on a fresh island (same strategy kind, any pool)."""
        if self._trials or self.evaluations:
            raise ValueError("restore needs a fresh island")
        try:
            self.evaluations = int(state["evaluations"])
            self._next_id = int(state["next_id"])
            self.requeued = int(state["requeued"])
            self.restarts = int(state["restarts"])
            self.rng.bit_generator.state = state["rng"]
            members = [self._individual(m) for m in state["members"]]
            best = None if state["best"] is None else self._individual(state["best"])
            pending = [
                Trial(
                    int(t["id"]),
                    self.space.from_json(t["genome"]),
                    None if t["parent"] is None else int(t["parent"]),
                    str(t["mutation"]),
                    int(t["attempts"]),
                )
                for t in state["pending"]
            ]
        except (KeyError, TypeError) as e:
            raise ValueError(f"not an asynchronous island's state ({e!r})") from None
        self.strategy.restore(members, best)
        self.strategy.load_state(state["strategy"])
        for t in pending:
            self._trials[t.id] = t
            self._queue.append(t.id)
