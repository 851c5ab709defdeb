"""Seeds for one purpose each, derived from a run's seed and labels."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, *labels: object) -> int:
    """A seed for one purpose (``"tasks", 3``), independent of the others."""
    key = [seed] + [zlib.crc32(str(x).encode()) for x in labels]
    return int(np.random.SeedSequence(key).generate_state(1)[0])
