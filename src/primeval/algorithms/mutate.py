"""Random programs and mutations, derived from the op registry.

Mutation types follow the AutoML-Zero reference ``Mutator`` (Real et al. 2020,
Sec. 4.1): alter one argument of one instruction (an address, or a data value),
randomize one instruction, randomize one whole component function, insert an
instruction, remove one, trade (insert then remove), and randomize the whole
algorithm. Which argument slots and data fields an instruction has, how its
addresses are sampled and how its data mutates all come from its op's registration.

The type is drawn uniformly from the allowed ones (the reference), or with weights:
the paper's Sec. 3.2 draws insert-or-remove, randomize a component function and alter
one argument equally often, with removal twice as likely as insertion
(:data:`PAPER_TYPES`, :data:`PAPER_WEIGHTS`). A data value changes by a sign flip with
p = 0.1, otherwise a log-normal step (:attr:`ConstantRule.LOG_NORMAL`, the reference),
or, as Sec. 3.2, by a factor drawn from U[0.5, 2] and then a sign flip with p = 0.1
(:attr:`ConstantRule.PAPER`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from primeval.algorithms.memory import Banks
from primeval.algorithms.ops import REGISTRY, DataInit, DataMutation, OpSpec
from primeval.algorithms.program import Component, Function, Program, kinds_used

SIGN_FLIP_PROB = 0.1
T = TypeVar("T")


class ConstantRule(enum.StrEnum):
    """How alter_param changes a data value (a constant, a mean, a bound, a deviation)."""

    LOG_NORMAL = "log_normal"  # p = 0.1 a sign flip, else x * exp(N(0, 1)) (the reference)
    PAPER = "paper"  # x * U[0.5, 2], then a sign flip with p = 0.1 (Sec. 3.2)


class MutationType(enum.StrEnum):
    ALTER_PARAM = "alter_param"
    RANDOMIZE_INSTRUCTION = "randomize_instruction"
    RANDOMIZE_FUNCTION = "randomize_function"
    INSERT = "insert"
    REMOVE = "remove"
    TRADE = "trade"
    RANDOMIZE_ALGORITHM = "randomize_algorithm"
    IDENTITY = "identity"


PAPER_TYPES = (
    MutationType.INSERT,
    MutationType.REMOVE,
    MutationType.RANDOMIZE_FUNCTION,
    MutationType.ALTER_PARAM,
)
"""Sec. 3.2's mutation types, with :data:`PAPER_WEIGHTS`."""
PAPER_WEIGHTS = (1.0, 2.0, 3.0, 3.0)
"""Insert-or-remove, randomize a function and alter an argument equally often; removal
twice as likely as insertion (Real et al. 2020, Sec. 3.2)."""


def cumulative_weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    """The cumulative distribution of ``n`` mutation types' ``weights``, the last entry
    exactly 1; empty for None (uniform: drawn as the reference draws, by index)."""
    if weights is None:
        return np.zeros(0)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{len(w)} mutation weights for {n} mutation types")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("mutation weights must be finite, non-negative and not all zero")
    cum: np.ndarray = np.cumsum(w) / w.sum()
    cum[-1] = 1.0
    return cum


@dataclass(frozen=True)
class ProgramSpace:
    """What programs may look like: memory, allowed ops and sizes per component.

    A component with no allowed ops is never mutated (as in the reference), nor is one in
    ``frozen`` (it keeps what the initial program has, e.g. a hand-written Predict and Learn
    while Setup evolves). Sizes are ``(setup, predict, learn)``; ``max_sizes`` are inclusive.
    """

    banks: Banks
    ops: tuple[tuple[OpSpec, ...], tuple[OpSpec, ...], tuple[OpSpec, ...]]
    init_sizes: tuple[int, int, int]
    min_sizes: tuple[int, int, int]
    max_sizes: tuple[int, int, int]
    frozen: tuple[Component, ...] = ()

    def __post_init__(self) -> None:
        for c in Component:
            if not (0 <= self.min_sizes[c] <= self.init_sizes[c] <= self.max_sizes[c]):
                raise ValueError(
                    f"{c.label}: sizes must satisfy 0 <= min <= init <= max, got "
                    f"{self.min_sizes[c]} / {self.init_sizes[c]} / {self.max_sizes[c]}"
                )
        for c, ops in zip(Component, self.ops, strict=True):
            for spec in ops:
                for kind in kinds_used([spec]):
                    if spec.output == kind and not self.banks.out_range(kind):
                        raise ValueError(
                            f"{c.label}: op {spec.name} writes a {kind.name.lower()} but memory "
                            f"has no writable {kind.name.lower()} address"
                        )
                    if not self.banks.in_range(kind):
                        raise ValueError(
                            f"{c.label}: op {spec.name} needs {kind.name.lower()} memory, "
                            "which has size 0"
                        )

    @classmethod
    def uniform(
        cls,
        banks: Banks,
        op_names: Sequence[str],
        init_sizes: tuple[int, int, int],
        min_sizes: tuple[int, int, int] | None = None,
        max_sizes: tuple[int, int, int] | None = None,
    ) -> ProgramSpace:
        """The same op set in all three components."""
        ops = tuple(REGISTRY[n] for n in op_names)
        return cls(
            banks,
            (ops, ops, ops),
            init_sizes,
            min_sizes if min_sizes is not None else init_sizes,
            max_sizes if max_sizes is not None else init_sizes,
        )

    def mutable(self) -> list[Component]:
        return [c for c in Component if self.ops[c] and c not in self.frozen]


class _Draws:
    """Uniform draws taken from a generator in blocks (one numpy call, not dozens)."""

    __slots__ = ("_i", "_rng", "_u")

    def __init__(self, rng: np.random.Generator, n: int = 32) -> None:
        self._rng = rng
        self._u = rng.random(n)
        self._i = 0

    def uniform(self) -> float:
        if self._i == len(self._u):
            self._u = self._rng.random(len(self._u))
            self._i = 0
        u = float(self._u[self._i])
        self._i += 1
        return u

    def below(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        return min(int(self.uniform() * n), n - 1)

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.below(len(seq))]

    def weighted(self, cum: np.ndarray) -> int:
        """An index drawn with the cumulative probabilities ``cum``."""
        u = self.uniform()
        for k in range(len(cum)):
            if u < cum[k]:
                return k
        return len(cum) - 1

    def normal(self) -> float:
        # Box-Muller on two block draws; 1 - u keeps the log argument in (0, 1].
        u1, u2 = 1.0 - self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _init_data(kind: DataInit, draws: _Draws) -> float:
    u = draws.uniform()
    return u if kind is DataInit.UNIT else 2.0 * u - 1.0


def _mutate_data(
    value: float, how: DataMutation, draws: _Draws, rule: ConstantRule = ConstantRule.LOG_NORMAL
) -> float:
    if how is DataMutation.RESAMPLE_UNIT:
        return draws.uniform()
    if rule is ConstantRule.PAPER:
        value *= 0.5 + 1.5 * draws.uniform()
        if how is DataMutation.LOG_SCALE_OR_FLIP and draws.uniform() < SIGN_FLIP_PROB:
            return -value
        return value
    if how is DataMutation.LOG_SCALE_OR_FLIP and draws.uniform() < SIGN_FLIP_PROB:
        return -value
    # Log-scale step keeping the sign: x -> sign(x) * exp(log|x| + N(0, 1)).
    step = math.exp(draws.normal())
    return value * step if value > 0 else -((-value) * step)


class Mutator:
    """Makes random programs and mutates programs within a :class:`ProgramSpace`.

    ``weights`` (one per type; None: uniform) and ``constants`` set the mutation
    distribution (Sec. 3.2: :data:`PAPER_TYPES`, :data:`PAPER_WEIGHTS`,
    :attr:`ConstantRule.PAPER`).
    """

    def __init__(
        self,
        space: ProgramSpace,
        types: Sequence[MutationType] = (
            MutationType.ALTER_PARAM,
            MutationType.RANDOMIZE_INSTRUCTION,
            MutationType.RANDOMIZE_FUNCTION,
        ),
        weights: Sequence[float] | None = None,
        constants: ConstantRule = ConstantRule.LOG_NORMAL,
    ) -> None:
        if not types:
            raise ValueError("at least one mutation type is needed")
        if not space.mutable():
            raise ValueError("no component function that may mutate has any allowed op")
        self.space = space
        self.types = tuple(MutationType(t) for t in types)
        self.weights = tuple(float(w) for w in weights) if weights is not None else None
        self.cumulative = cumulative_weights(self.weights, len(self.types))
        self.constants = ConstantRule(constants)
        self._components = space.mutable()

    # --- instructions ---------------------------------------------------------------

    def _random_row(self, spec: OpSpec, draws: _Draws) -> tuple[int, list[int], list[float]]:
        banks = self.space.banks
        args = [0, 0, 0]
        for slot, kind in enumerate(spec.inputs):
            args[slot] = draws.below(banks.size(kind))
        if spec.output is not None:
            r = banks.out_range(spec.output)
            args[2] = r.start + draws.below(len(r))
        data = [0.0, 0.0, 0.0]
        for k, f in enumerate(spec.data):
            data[k] = _init_data(f.init, draws)
        if spec.sorted_data and data[0] > data[1]:
            data[0], data[1] = data[1], data[0]
        return spec.code, args, data

    def _random_function(self, component: Component, size: int, draws: _Draws) -> Function:
        ops = self.space.ops[component]
        if not ops:
            return Function.empty(size)
        rows = [self._random_row(draws.choice(ops), draws) for _ in range(size)]
        return Function.from_instructions([(op, a[0], a[1], a[2], d) for op, a, d in rows])

    # --- programs -------------------------------------------------------------------

    def random_program(self, rng: np.random.Generator) -> Program:
        """Every component of its initial size, each instruction random."""
        draws = _Draws(rng)
        fns = [self._random_function(c, self.space.init_sizes[c], draws) for c in Component]
        return Program(fns[0], fns[1], fns[2], self.space.banks)

    def empty_program(self) -> Program:
        """Every component of its initial size, all no-ops (the paper's "empty" start)."""
        return Program.empty(self.space.banks, self.space.init_sizes)

    def mutate(self, program: Program, rng: np.random.Generator) -> tuple[Program, str]:
        """One mutation of a type drawn uniformly or by weight; returns the child and
        what was done."""
        draws = _Draws(rng)
        if len(self.cumulative):
            kind = self.types[draws.weighted(self.cumulative)]
        else:
            kind = draws.choice(self.types)
        if kind is MutationType.IDENTITY:
            return program, kind.value
        if kind is MutationType.RANDOMIZE_ALGORITHM:
            child = program
            for c in self._components:
                child = child.replace(c, self._random_function(c, len(program.function(c)), draws))
            return child, kind.value
        comp = draws.choice(self._components)
        fn = program.function(comp)
        n = len(fn)
        where = comp.label
        if kind is MutationType.RANDOMIZE_FUNCTION:
            return program.replace(
                comp, self._random_function(comp, n, draws)
            ), f"{kind.value} {where}"
        ops, args, data = fn.ops.copy(), fn.args.copy(), fn.data.copy()
        if kind is MutationType.ALTER_PARAM or kind is MutationType.RANDOMIZE_INSTRUCTION:
            if n == 0:
                return program, f"{kind.value} {where} (empty: unchanged)"
            i = draws.below(n)
            if kind is MutationType.ALTER_PARAM:
                what = self._alter(int(ops[i]), args[i], data[i], draws)
                desc = f"{kind.value} {where}[{i}] {what}"
            else:
                code, a, d = self._random_row(draws.choice(self.space.ops[comp]), draws)
                ops[i], args[i], data[i] = code, a, d
                desc = f"{kind.value} {where}[{i}] -> {REGISTRY[code].name}"
            return program.replace(comp, Function(ops, args, data)), desc
        insert = kind in (MutationType.INSERT, MutationType.TRADE)
        remove = kind in (MutationType.REMOVE, MutationType.TRADE)
        if kind is MutationType.INSERT and n >= self.space.max_sizes[comp]:
            return program, f"{kind.value} {where} (at max size: unchanged)"
        if kind is MutationType.REMOVE and n <= self.space.min_sizes[comp]:
            return program, f"{kind.value} {where} (at min size: unchanged)"
        desc = kind.value + " " + where
        if insert:
            pos = draws.below(n + 1)
            code, a, d = self._random_row(draws.choice(self.space.ops[comp]), draws)
            ops = np.insert(ops, pos, code)
            args = np.insert(args, pos, a, axis=0)
            data = np.insert(data, pos, d, axis=0)
            desc += f" +[{pos}] {REGISTRY[code].name}"
        if remove:
            pos = draws.below(len(ops))
            ops = np.delete(ops, pos)
            args = np.delete(args, pos, axis=0)
            data = np.delete(data, pos, axis=0)
            desc += f" -[{pos}]"
        return program.replace(comp, Function(ops, args, data)), desc

    def _alter(self, code: int, args: np.ndarray, data: np.ndarray, draws: _Draws) -> str:
        """Change one argument slot (an address or the data) of one instruction in place."""
        spec = REGISTRY[code]
        if spec.is_noop:
            return "(no-op: unchanged)"
        slots = (
            [f"in{k + 1}" for k in range(spec.arity)] + ["out"] + (["data"] if spec.data else [])
        )
        slot = draws.choice(slots)
        banks = self.space.banks
        if slot == "out":
            assert spec.output is not None
            r = banks.out_range(spec.output)
            args[2] = r.start + draws.below(len(r))
        elif slot == "data":
            k = draws.below(len(spec.data))
            data[k] = _mutate_data(float(data[k]), spec.data[k].mutation, draws, self.constants)
            if spec.sorted_data:
                lo, hi = sorted((float(data[0]), float(data[1])))
                data[0], data[1] = lo, hi
            return f"{spec.data[k].name}"
        else:
            k = 0 if slot == "in1" else 1
            args[k] = draws.below(banks.size(spec.inputs[k]))
        return slot
