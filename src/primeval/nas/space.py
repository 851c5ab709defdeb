"""The NAS-Bench-201 cell as a genome (Dong & Yang, "NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search", ICLR 2020).

A cell is a DAG over 4 nodes; each of its 6 edges ``j -> i`` (``j < i``) carries one of 5
ops, so the space holds 5**6 = 15,625 cells. A cell is a tuple of 6 op indices in the
benchmark's edge order ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`` (the order of its arch
strings ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``). The standard mutation changes one edge's
op to one of the other four, uniformly (Real et al., AAAI 2019, as run on NAS-Bench-201).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from)
N_OPS = len(OPS)
N_EDGES = len(EDGES)
N_CELLS = N_OPS**N_EDGES

Cell = tuple[int, ...]

_PLACES = N_OPS ** np.arange(N_EDGES - 1, -1, -1)
_ARCH = re.compile(r"^\|(.+)\|\+\|(.+)\|(.+)\|\+\|(.+)\|(.+)\|(.+)\|$")


def cell_index(cell: Cell) -> int:
    """The cell's row in the benchmark tables: its ops read as a base-5 number, edge 0 first."""
    i = 0
    for op in cell:
        i = i * N_OPS + op
    return i


def cell_from_index(index: int) -> Cell:
    if not 0 <= index < N_CELLS:
        raise ValueError(f"a NAS-Bench-201 cell index is in [0, {N_CELLS}): {index}")
    return tuple(int(d) for d in (index // _PLACES) % N_OPS)


def arch_string(cell: Cell) -> str:
    """The benchmark's string, e.g. ``|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|...|``."""
    o = [OPS[k] for k in cell]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def parse_arch(text: str) -> Cell:
    """Inverse of :func:`arch_string`; raises ``ValueError`` on anything else."""
    m = _ARCH.match(text.strip())
    if m is None:
        raise ValueError(f"not a NAS-Bench-201 arch string: {text!r}")
    ops = []
    for part, (_, source) in zip(m.groups(), EDGES, strict=True):
        name, _, src = part.partition("~")
        if name not in OPS or src != str(source):
            raise ValueError(f"not a NAS-Bench-201 arch string: {text!r} (edge {part!r})")
        ops.append(OPS.index(name))
    return tuple(ops)


def check_cell(obj: Any) -> Cell:
    if (
        not isinstance(obj, (list, tuple))
        or len(obj) != N_EDGES
        or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < N_OPS for k in obj)
    ):
        raise ValueError(f"a NAS-Bench-201 cell is {N_EDGES} op indices in [0, {N_OPS}): {obj!r}")
    return tuple(obj)


class CellSpace:
    """Implements :class:`primeval.engine.genome.GenomeSpace` (and the categorical view
    REINFORCE samples from) for NAS-Bench-201 cells."""

    choices: tuple[int, ...] = (N_OPS,) * N_EDGES

    def initial(self, rng: np.random.Generator) -> Cell:
        return self.random(rng)

    def random(self, rng: np.random.Generator) -> Cell:
        return tuple(rng.integers(0, N_OPS, N_EDGES).tolist())

    def mutate(self, genome: Cell, rng: np.random.Generator) -> tuple[Cell, str]:
        edge = int(rng.integers(N_EDGES))
        old = genome[edge]
        new = (old + 1 + int(rng.integers(N_OPS - 1))) % N_OPS  # one of the other four
        child = (*genome[:edge], new, *genome[edge + 1 :])
        to, source = EDGES[edge]
        return child, f"edge {to}<-{source}: {OPS[old]} -> {OPS[new]}"

    def encode(self, genome: Cell) -> np.ndarray:
        return np.asarray(genome, dtype=np.intp)

    def decode(self, actions: np.ndarray) -> Cell:
        return tuple(int(a) for a in actions)

    def to_json(self, genome: Cell) -> Any:
        return arch_string(genome)

    def from_json(self, obj: Any) -> Cell:
        if isinstance(obj, str):
            return parse_arch(obj)
        return check_cell(obj)
