"""Progressive dynamic hurdles (So, Liang, Le, "The Evolved Transformer", ICML 2019; used by
AutoML-Zero, Real et al. 2020, Sec. 4.2).

A candidate first gets a cheap evaluation; only if that score reaches the given
percentile of recent cheap scores (:class:`RollingPercentileHurdle`) or of the
population's unique fitnesses (:class:`PopulationHurdle`, the paper's rule) does it get
the full one.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable

import numpy as np


class RollingPercentileHurdle:
    """Passes scores at or above the ``percentile`` of the last ``window`` scores seen.

    Until ``warmup`` scores have been seen everything passes.
    """

    def __init__(self, percentile: float = 75.0, window: int = 1000, warmup: int = 100) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError("percentile must be in [0, 100]")
        self.percentile = percentile
        self.warmup = warmup
        self._scores: collections.deque[float] = collections.deque(maxlen=window)
        self._threshold = -math.inf
        self._since_update = 0
        self.passed = 0
        self.failed = 0

    def threshold(self) -> float:
        return self._threshold

    def check(self, score: float) -> bool:
        """Record ``score`` and say whether it clears the hurdle."""
        s = score if math.isfinite(score) else -math.inf
        ok = len(self._scores) < self.warmup or s >= self._threshold
        self._scores.append(s)
        self._since_update += 1
        # Recomputing the percentile every call is O(window); every 16 calls is plenty.
        if self._since_update >= 16 or len(self._scores) <= self.warmup:
            self._since_update = 0
            finite = [x for x in self._scores if math.isfinite(x)]
            self._threshold = float(np.percentile(finite, self.percentile)) if finite else -math.inf
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


class PopulationHurdle:
    """Passes scores at or above the ``percentile`` of the population's unique finite
    fitnesses (Real et al. 2020, AutoML-Zero, Suppl. S9: "the 75th percentile of the
    population's unique accuracies"), read at each check.

    Until ``warmup`` checks have been made everything passes; so does everything while
    the population has no finite fitness.
    """

    def __init__(self, percentile: float = 75.0, warmup: int = 100) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError("percentile must be in [0, 100]")
        self.percentile = percentile
        self.warmup = warmup
        self._threshold = -math.inf
        self.passed = 0
        self.failed = 0

    def threshold(self) -> float:
        return self._threshold

    def check(self, score: float, population: Iterable[float]) -> bool:
        """Say whether ``score`` clears the hurdle set by ``population``'s fitnesses."""
        s = score if math.isfinite(score) else -math.inf
        if self.passed + self.failed < self.warmup:
            ok = True
        else:
            unique = np.unique([f for f in population if math.isfinite(f)])
            self._threshold = (
                float(np.percentile(unique, self.percentile)) if len(unique) else -math.inf
            )
            ok = s >= self._threshold
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok
