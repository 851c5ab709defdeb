"""Threads, devices and seeds for torch work.

Every torch process of primeval runs with a fixed number of intra-op threads
(:func:`set_threads`, one by default) so that several workers on a small machine do not
oversubscribe its cores, and draws its randomness from seeds passed in: a seed and a purpose
give a :class:`torch.Generator` (:func:`generator`) and the global generator that module
initialisation, dropout and stochastic depth use is forked and seeded around each use
(:func:`seeded`), so a run reproduces bit for bit on the same machine and thread count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch


def set_threads(n: int = 1) -> None:
    """Intra-op threads for this process (``torch.set_num_threads``); at least one."""
    torch.set_num_threads(max(1, int(n)))


def device(name: str = "cpu") -> torch.device:
    """``cpu`` or ``cuda`` (refused with one line when CUDA is not available)."""
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; use cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but this torch has no CUDA device")
    return torch.device(name)


def derive_seed(seed: int, *path: int) -> int:
    """A 63-bit seed for the purpose ``path`` of run ``seed`` (numpy's SeedSequence), so
    distinct purposes draw independent streams and a purpose's stream never depends on how many
    draws another made."""
    return (
        int(np.random.SeedSequence([int(seed), *map(int, path)]).generate_state(2, np.uint64)[0])
        >> 1
    )


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Within the block torch's global generator (module initialisation, dropout, stochastic
    depth) is seeded with ``seed``; the caller's generator state is restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield
