"""REINFORCE over categorical genomes: a learned policy with an exponential-moving-average
baseline (Williams, "Simple statistical gradient-following algorithms for connectionist
reinforcement learning", 1992; for architectures Zoph & Le, "Neural Architecture Search
with Reinforcement Learning", ICLR 2017).

The policy is the one NAS-Bench-201 benchmarks (Dong & Yang, ICLR 2020): independent
softmax distributions over the choices at each position (for a cell, the op on each of its
6 edges), logits initialised to ``1e-3 * N(0, 1)``, trained with Adam on
``-log p(genome) * (reward - baseline)`` after every evaluation, the baseline an EMA of the
rewards (momentum 0.9) updated before the advantage is taken. A few numpy arrays suffice.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

import numpy as np

from primeval.engine.genome import GenomeSpace, Individual
from primeval.engine.strategies import Strategy

G = TypeVar("G")


class CategoricalSpace(GenomeSpace[G], Protocol[G]):
    """A genome space whose genomes are one choice per position."""

    choices: tuple[int, ...]  # how many options each position has

    def encode(self, genome: G) -> np.ndarray:
        """The genome's choices, one integer per position."""

    def decode(self, actions: np.ndarray) -> G:
        """Inverse of :meth:`encode`."""


class Reinforce(Strategy[G]):
    """Samples genomes from the policy; each told fitness is one policy-gradient step."""

    BETAS = (0.9, 0.999)  # Adam's defaults, as in the reference implementation
    EPS = 1e-8

    def __init__(
        self,
        space: CategoricalSpace[G],
        learning_rate: float = 0.01,
        ema_momentum: float = 0.9,
        init_scale: float = 1e-3,
        window: int = 100,
    ) -> None:
        super().__init__(space)
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be positive: {learning_rate}")
        if not 0 <= ema_momentum < 1:
            raise ValueError(f"ema_momentum must be in [0, 1): {ema_momentum}")
        self.cspace = space
        self.learning_rate = learning_rate
        self.ema_momentum = ema_momentum
        self.init_scale = init_scale
        choices = np.asarray(space.choices, dtype=np.intp)
        if choices.ndim != 1 or choices.size == 0 or choices.min() < 1:
            raise ValueError("a categorical space needs at least one option at each position")
        self.choices = choices
        self._valid = np.arange(choices.max())[None, :] < choices[:, None]
        self.logits: np.ndarray | None = None  # drawn from the search generator at first ask
        self._m = np.zeros(self._valid.shape)
        self._v = np.zeros(self._valid.shape)
        self._steps = 0
        self._ema = (0.0, 0.0)  # numerator, denominator (a debiased EMA)
        self.window: collections.deque[Individual[G]] = collections.deque(maxlen=window)

    def probabilities(self) -> np.ndarray:
        """The policy, one row per position (zeros past a position's options)."""
        logits = self.logits if self.logits is not None else np.zeros(self._valid.shape)
        z = np.where(self._valid, logits, -np.inf)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return p

    def ask(self, rng: np.random.Generator) -> tuple[G, int | None, str]:
        if self.logits is None:
            self.logits = np.where(
                self._valid, self.init_scale * rng.standard_normal(self._valid.shape), 0.0
            )
        cdf = np.cumsum(self.probabilities(), axis=1)
        u = rng.random(len(self.choices))
        actions = np.minimum((cdf < u[:, None]).sum(axis=1), self.choices - 1)
        return self.cspace.decode(actions), None, "policy"

    @property
    def baseline(self) -> float:
        num, den = self._ema
        return num / den if den > 0 else math.nan

    def _tell(self, individual: Individual[G]) -> None:
        self.window.append(individual)
        reward = individual.fitness
        if reward is None or not math.isfinite(reward) or self.logits is None:
            return  # nothing to learn from a failed evaluation
        m = self.ema_momentum
        num, den = self._ema
        self._ema = (m * num + (1 - m) * reward, m * den + (1 - m))
        advantage = reward - self.baseline
        actions = self.cspace.encode(individual.genome)
        grad = self.probabilities()  # d(-log p(actions))/d logits = p - onehot(actions)
        grad[np.arange(len(actions)), actions] -= 1.0
        grad *= advantage
        b1, b2 = self.BETAS
        self._steps += 1
        self._m = b1 * self._m + (1 - b1) * grad
        self._v = b2 * self._v + (1 - b2) * grad * grad
        m_hat = self._m / (1 - b1**self._steps)
        v_hat = self._v / (1 - b2**self._steps)
        self.logits = self.logits - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.EPS)

    def most_likely(self) -> G:
        """The policy's mode (what the first NAS-Bench-201 runs reported as the result)."""
        return self.cspace.decode(np.argmax(self.probabilities(), axis=1))

    def members(self) -> list[Individual[G]]:
        return list(self.window)

    def restore(self, members: Iterable[Individual[G]], best: Individual[G] | None) -> None:
        """The window only: the policy comes back through :meth:`load_state`."""
        self.best = best
        self.window.extend(members)

    def state(self) -> dict[str, Any]:
        return {
            "logits": None if self.logits is None else self.logits.tolist(),
            "adam_m": self._m.tolist(),
            "adam_v": self._v.tolist(),
            "steps": self._steps,
            "ema": list(self._ema),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        logits = state["logits"]
        self.logits = None if logits is None else np.array(logits, dtype=float)
        self._m = np.array(state["adam_m"], dtype=float)
        self._v = np.array(state["adam_v"], dtype=float)
        self._steps = int(state["steps"])
        num, den = state["ema"]
        self._ema = (float(num), float(den))

    def describe(self) -> dict[str, Any]:
        return {
            "strategy": "reinforce",
            "learning_rate": self.learning_rate,
            "ema_momentum": self.ema_momentum,
        }
