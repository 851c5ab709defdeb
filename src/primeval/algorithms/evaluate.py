"""Fitness of an algorithm on a task set, with the reference's work avoidance.

- **Functional equivalence checking** (FEC, Real et al. 2020, Sec. 4.2): run the
  candidate on the first few training and validation examples of every task,
  hash the errors, and reuse the fitness of a program that behaved identically.
- **Hurdles**: evaluate on a first subset of tasks; only candidates at or above a
  rolling percentile of those scores, or of the population's unique fitnesses (the
  paper's rule, Suppl. S9), are evaluated on the rest.
- **Pre-check** (optional): a program whose live Learn never reads the label, or whose
  live Predict never reads the features, gets fitness 0 without running
  (:func:`~primeval.algorithms.precheck.learns_from_data`; static validity checks as
  Co-Reyes et al., "Evolving Reinforcement Learning Algorithms", ICLR 2021).
- **Compute budget**: a candidate whose per-example cost (Predict + Learn, in
  multiply-adds from the op registry) exceeds a multiple of a plain 2-layer
  network's gets fitness 0 without running.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np

from primeval.algorithms.baselines import two_layer_relu_net
from primeval.algorithms.interpret.reference import combine
from primeval.algorithms.ops import REGISTRY
from primeval.algorithms.precheck import learns_from_data
from primeval.algorithms.program import Component, Program
from primeval.algorithms.tasks.base import TaskSet
from primeval.engine.cache import LRUCache
from primeval.engine.genome import clean_fitness
from primeval.engine.hurdles import PopulationHurdle, RollingPercentileHurdle

FEC_SEED = 235732282  # the reference's fixed seed for FEC probes


class Interpreter(Protocol):
    name: str

    def fitnesses(
        self,
        program: Program,
        tasks: TaskSet,
        rng: np.random.Generator,
        n_train: int | None = None,
        n_valid: int | None = None,
    ) -> np.ndarray: ...

    def probe(
        self, program: Program, tasks: TaskSet, n_train: int, n_valid: int, seed: int
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class FECSettings:
    n_train: int = 10
    n_valid: int = 10
    cache_size: int = 100_000
    decimals: int = 10  # errors are rounded to this many decimals before hashing


@dataclass(frozen=True)
class HurdleSettings:
    tasks: int = 1  # the first this many tasks make the cheap evaluation
    percentile: float = 75.0
    window: int = 1000
    warmup: int = 100
    rule: str = "rolling"  # "rolling": of the last window scores; "population": the paper's

    def __post_init__(self) -> None:
        if self.rule not in ("rolling", "population"):
            raise ValueError(f"unknown hurdle rule {self.rule!r}")


def per_example_cost(program: Program, dim: int) -> int:
    """Multiply-adds per training example (one Predict and one Learn)."""
    total = 0
    for comp in (Component.PREDICT, Component.LEARN):
        for code in program.function(comp).ops:
            total += REGISTRY[int(code)].cost.flops(dim)
    return total


@cache
def two_layer_net_cost(dim: int) -> int:
    """Per-example cost of the hand-written 2-layer ReLU net with backprop."""
    return per_example_cost(two_layer_relu_net(), dim)


class AlgorithmEvaluator:
    """Evaluates programs on a fixed task set; fitness is the mean or median over tasks."""

    def __init__(
        self,
        tasks: TaskSet,
        interpreter: Interpreter,
        rng: np.random.Generator,
        combine_mode: str = "mean",
        fec: FECSettings | None = FECSettings(),
        hurdle: HurdleSettings | None = None,
        max_cost_ratio: float | None = None,
        precheck: bool = False,
    ) -> None:
        self.tasks = tasks
        self.interpreter = interpreter
        self.rng = rng
        combine(np.zeros(1), combine_mode)  # rejects an unknown mode now, not mid-search
        self.combine_mode = combine_mode
        self.fec = fec
        self.cache: LRUCache[bytes, float] | None = LRUCache(fec.cache_size) if fec else None
        self.hurdle_settings = hurdle
        self.hurdle: RollingPercentileHurdle | PopulationHurdle | None = None
        self.population: Callable[[], Iterable[float]] = tuple
        if hurdle is not None:
            if not 0 < hurdle.tasks < len(tasks):
                raise ValueError("hurdle tasks must be between 1 and the number of tasks - 1")
            if hurdle.rule == "population":
                self.hurdle = PopulationHurdle(hurdle.percentile, hurdle.warmup)
            else:
                self.hurdle = RollingPercentileHurdle(
                    hurdle.percentile, hurdle.window, hurdle.warmup
                )
            self._first = tasks.subset(range(hurdle.tasks))
            self._rest = tasks.subset(range(hurdle.tasks, len(tasks)))
        self.max_cost = (
            max_cost_ratio * two_layer_net_cost(tasks.dim) if max_cost_ratio is not None else None
        )
        self.precheck = precheck
        self.evaluations = 0
        self.full_evaluations = 0
        self.over_budget = 0
        self.rejected = 0

    def watch(self, members: Callable[[], Iterable[Any]]) -> None:
        """Read the population's fitnesses from ``members`` (a strategy's ``members``), for
        the population hurdle rule."""
        self.population = lambda: (clean_fitness(m.fitness) for m in members())

    def _fingerprint(self, program: Program) -> bytes:
        assert self.fec is not None
        errors = self.interpreter.probe(
            program, self.tasks, self.fec.n_train, self.fec.n_valid, FEC_SEED
        )
        rounded = np.round(errors, self.fec.decimals) + 0.0  # + 0.0 folds -0.0 into 0.0
        return hashlib.blake2b(rounded.tobytes(), digest_size=16).digest()

    def evaluate(self, program: Program) -> float:
        self.evaluations += 1
        if self.max_cost is not None and per_example_cost(program, self.tasks.dim) > self.max_cost:
            self.over_budget += 1
            return 0.0
        if self.precheck and not learns_from_data(program):
            self.rejected += 1
            return 0.0
        key = None
        if self.cache is not None:
            key = self._fingerprint(program)
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        fitness = self._evaluate(program)
        if self.cache is not None and key is not None:
            self.cache.put(key, fitness)
        return fitness

    def _evaluate(self, program: Program) -> float:
        self.full_evaluations += 1
        if self.hurdle is None:
            return combine(
                self.interpreter.fitnesses(program, self.tasks, self.rng), self.combine_mode
            )
        first = self.interpreter.fitnesses(program, self._first, self.rng)
        score = combine(first, self.combine_mode)
        if isinstance(self.hurdle, PopulationHurdle):
            ok = self.hurdle.check(score, self.population())
        else:
            ok = self.hurdle.check(score)
        if not ok:
            return combine(first, self.combine_mode)
        rest = self.interpreter.fitnesses(program, self._rest, self.rng)
        return combine(np.concatenate([first, rest]), self.combine_mode)

    def stats(self) -> Mapping[str, float]:
        out: dict[str, float] = {}
        if self.cache is not None:
            out["fec_hit_rate"] = self.cache.hit_rate
        if self.hurdle is not None:
            n = self.hurdle.passed + self.hurdle.failed
            out["hurdle_pass_rate"] = self.hurdle.passed / n if n else 1.0
        if self.max_cost is not None:
            out["over_budget"] = float(self.over_budget)
        if self.precheck:
            out["rejected"] = float(self.rejected)
        return out
