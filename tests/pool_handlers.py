"""Worker classes for the pool and asynchronous-island tests.

They live in a module of their own, importable by name, because a pool builds its workers
from a class name in another process (a spawned process finds this folder on the path it
inherits; a Ray worker on ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from primeval.engine.async_island import EvaluationWorker

N_BITS = 16
#: seconds one synthetic evaluation takes (the stand-in for training a network)
EVALUATION_SECONDS = 0.2


class Echo:
    """Answers ``echo`` with its argument, ``count`` with how many it has answered (fresh
    after a restart), ``pid`` with its process, ``sleep`` after sleeping, ``raise`` by
    raising."""

    def __init__(self) -> None:
        self.count = 0

    def handle(self, command: str, argument: Any) -> Any:
        self.count += 1
        if command == "echo":
            return argument
        if command == "count":
            return self.count
        if command == "pid":
            return os.getpid()
        if command == "sleep":
            time.sleep(float(argument))
            return argument
        if command == "raise":
            raise ValueError(f"asked to fail: {argument}")
        raise ValueError(f"unknown command {command!r}")


class BitSpace:
    """Bit strings of ``N_BITS``; mutation flips one bit."""

    def initial(self, rng: np.random.Generator) -> tuple[int, ...]:
        return self.random(rng)

    def random(self, rng: np.random.Generator) -> tuple[int, ...]:
        return tuple(int(b) for b in rng.integers(0, 2, N_BITS))

    def mutate(self, g: tuple[int, ...], rng: np.random.Generator) -> tuple[tuple[int, ...], str]:
        i = int(rng.integers(N_BITS))
        return (*g[:i], 1 - g[i], *g[i + 1 :]), f"flip {i}"

    def to_json(self, g: tuple[int, ...]) -> list[int]:
        return list(g)

    def from_json(self, obj: Any) -> tuple[int, ...]:
        if not isinstance(obj, list) or len(obj) != N_BITS:
            raise ValueError(f"not a genome of {N_BITS} bits: {obj!r}")
        return tuple(int(b) for b in obj)


class SlowOneMax(EvaluationWorker):
    """OneMax (the fraction of ones) that takes ``EVALUATION_SECONDS``, reporting when it
    started and ended by its own clock and in which process."""

    space = BitSpace()

    def evaluate(self, genome: Any) -> dict[str, Any]:
        start = time.time()
        time.sleep(EVALUATION_SECONDS)
        end = time.time()
        return {"fitness": sum(genome) / N_BITS, "start": start, "end": end, "pid": os.getpid()}
