"""A program space and mutation types as tables compiled code reads (:class:`SearchTables`),
and the codes of mutations in the lineage log (:func:`mutation_code`).

Op signatures, data fields, costs and partial writes come from the op registry, one row per
op code, so that the compiled search states no op fact of its own.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

from primeval.algorithms.mutate import (
    ConstantRule,
    MutationType,
    ProgramSpace,
    cumulative_weights,
)
from primeval.algorithms.ops import REGISTRY, DataInit, DataMutation, Kind
from primeval.algorithms.program import Component, Program

# --- tables derived from the registry -----------------------------------------------------------

KIND_CODE = {Kind.SCALAR: 0, Kind.VECTOR: 1, Kind.MATRIX: 2}
MUTATIONS = list(MutationType)
"""Mutation type codes: the index in this list."""
M_ALTER = MUTATIONS.index(MutationType.ALTER_PARAM)
M_RANDOM_INSTRUCTION = MUTATIONS.index(MutationType.RANDOMIZE_INSTRUCTION)
M_RANDOM_FUNCTION = MUTATIONS.index(MutationType.RANDOMIZE_FUNCTION)
M_INSERT = MUTATIONS.index(MutationType.INSERT)
M_REMOVE = MUTATIONS.index(MutationType.REMOVE)
M_TRADE = MUTATIONS.index(MutationType.TRADE)
M_RANDOM_ALGORITHM = MUTATIONS.index(MutationType.RANDOMIZE_ALGORITHM)
M_IDENTITY = MUTATIONS.index(MutationType.IDENTITY)
M_INITIAL = len(MUTATIONS)  # pseudo-codes for the lineage log
M_COPY = len(MUTATIONS) + 1
M_RANDOM = len(MUTATIONS) + 2
M_MIGRANT = len(MUTATIONS) + 3
M_SEVERAL = len(MUTATIONS) + 4  # a chain of mutations whose middle links were thinned out
WHOLE = 3
"""The component of a mutation that changes every component, or none."""
COMPONENT_SLOTS = 4  # Setup, Predict, Learn, WHOLE


def mutation_code(kind: int, component: int) -> int:
    """The lineage log's code of a mutation: its type's code and the component it changed."""
    return kind * COMPONENT_SLOTS + component


register_jitable(error_model="numpy", forceinline=True)(mutation_code)

# Columns of the op table (one row per op code).
ARITY, IN1, IN2, OUT, NDATA, INIT0, MUT0, SORTED, STOCHASTIC, PARTIAL, FLOPS = (
    0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 14,
)  # fmt: skip
N_COLUMNS = 15
_INIT = {DataInit.UNIT: 0, DataInit.SIGNED: 1}
_MUT = {DataMutation.RESAMPLE_UNIT: 0, DataMutation.LOG_SCALE_OR_FLIP: 1, DataMutation.LOG_SCALE: 2}
# Under ConstantRule.PAPER a data field's change is x U[0.5, 2] (then a flip for code 3).
_MUT_PAPER = {
    DataMutation.RESAMPLE_UNIT: 0,
    DataMutation.LOG_SCALE_OR_FLIP: 3,
    DataMutation.LOG_SCALE: 4,
}


def op_table(dim: int, constants: ConstantRule = ConstantRule.LOG_NORMAL) -> np.ndarray:
    """``(128, N_COLUMNS)`` int64: each registered op's signature, data fields and cost;
    the data fields' mutation codes follow ``constants``."""
    mut = _MUT_PAPER if constants is ConstantRule.PAPER else _MUT
    tab = np.zeros((128, N_COLUMNS), dtype=np.int64)
    tab[:, OUT] = -1
    for spec in REGISTRY:
        row = tab[spec.code]
        row[ARITY] = spec.arity
        for k, kind in enumerate(spec.inputs):
            row[IN1 + k] = KIND_CODE[kind]
        row[OUT] = KIND_CODE[spec.output] if spec.output is not None else -1
        row[NDATA] = len(spec.data)
        for k, field in enumerate(spec.data):
            row[INIT0 + k] = _INIT[field.init]
            row[MUT0 + k] = mut[field.mutation]
        row[SORTED] = spec.sorted_data
        row[STOCHASTIC] = spec.stochastic
        row[PARTIAL] = spec.partial_write
        row[FLOPS] = spec.cost.flops(dim)
    return tab


class SearchTables(NamedTuple):
    """A :class:`ProgramSpace` and mutation types as arrays compiled code can read."""

    ops: np.ndarray  # (128, N_COLUMNS) op table
    comp_ops: np.ndarray  # (3, K) allowed op codes per component
    comp_nops: np.ndarray  # (3,) how many of them
    init_sizes: np.ndarray  # (3,)
    min_sizes: np.ndarray  # (3,)
    max_sizes: np.ndarray  # (3,)
    offsets: np.ndarray  # (4,) where each component starts in a row; offsets[3] = row length
    mutable: np.ndarray  # components with allowed ops
    types: np.ndarray  # mutation type codes
    type_cum: np.ndarray  # their cumulative weights; empty: drawn uniformly by index
    banks: np.ndarray  # (3,) bank sizes (scalars, vectors, matrices)
    out_lo: np.ndarray  # (3,) first writable address per bank
    seed_ops: np.ndarray  # (L,) the program initial members copy (``S_SEEDED``), as a row
    seed_args: np.ndarray  # (L, 3)
    seed_data: np.ndarray  # (L, 3)
    seed_lens: np.ndarray  # (3,)

    @classmethod
    def build(
        cls,
        space: ProgramSpace,
        types: list[MutationType],
        dim: int,
        seed: Program | None = None,
        weights: list[float] | None = None,
        constants: ConstantRule = ConstantRule.LOG_NORMAL,
    ) -> SearchTables:
        """``seed`` (default: the empty program of the initial sizes) must fit ``max_sizes``;
        ``weights`` and ``constants`` as :class:`~primeval.algorithms.mutate.Mutator`'s."""
        width = max(1, max(len(ops) for ops in space.ops))
        comp_ops = np.zeros((3, width), dtype=np.int64)
        for c, ops in enumerate(space.ops):
            comp_ops[c, : len(ops)] = [spec.code for spec in ops]
        caps = np.array(space.max_sizes, dtype=np.int64) + 1
        offsets = np.concatenate([[0], np.cumsum(caps)]).astype(np.int64)
        b = space.banks
        seed = seed if seed is not None else Program.empty(b, space.init_sizes)
        length = int(offsets[3])
        seed_ops = np.zeros(length, dtype=np.int64)
        seed_args = np.zeros((length, 3), dtype=np.int64)
        seed_data = np.zeros((length, 3))
        for c, fn in enumerate(seed.functions):
            if len(fn) > space.max_sizes[c]:
                raise ValueError(f"the initial program's {Component(c).label} exceeds max_sizes")
            lo = int(offsets[c])
            seed_ops[lo : lo + len(fn)] = fn.ops
            seed_args[lo : lo + len(fn)] = fn.args
            seed_data[lo : lo + len(fn)] = fn.data
        return cls(
            ops=op_table(dim, ConstantRule(constants)),
            comp_ops=comp_ops,
            comp_nops=np.array([len(ops) for ops in space.ops], dtype=np.int64),
            init_sizes=np.array(space.init_sizes, dtype=np.int64),
            min_sizes=np.array(space.min_sizes, dtype=np.int64),
            max_sizes=np.array(space.max_sizes, dtype=np.int64),
            offsets=offsets,
            mutable=np.array([int(c) for c in space.mutable()], dtype=np.int64),
            types=np.array([MUTATIONS.index(MutationType(t)) for t in types], dtype=np.int64),
            type_cum=cumulative_weights(weights, len(types)),
            banks=np.array([b.scalars, b.vectors, b.matrices], dtype=np.int64),
            out_lo=np.array([1, 1, 0], dtype=np.int64),
            seed_ops=seed_ops,
            seed_args=seed_args,
            seed_data=seed_data,
            seed_lens=np.array(seed.sizes(), dtype=np.int64),
        )

    @property
    def row_length(self) -> int:
        return int(self.offsets[3])
