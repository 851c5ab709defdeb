"""The op registry: every AutoML-Zero op is one function plus one registration.

An op is written once, as an in-place kernel over one task's memory banks
``(s, v, m)`` with the signature ``kernel(s, v, m, in1, in2, out, d, rng)``:
``s`` is the scalar bank ``(n_s,)``, ``v`` the vector bank ``(n_v, F)``, ``m``
the matrix bank ``(n_m, F, F)``, ``in1``/``in2``/``out`` addresses, ``d`` the
instruction's three data slots and ``rng`` a ``numpy.random.Generator``.
Kernels use only numpy constructs that numba also compiles, so the same
function serves the reference interpreter (plain Python + numpy) and the
compiled one (numba), and the compiled dispatch is generated from this table.

Everything else about an op (arity, which bank each argument lives in, address
sampling, data initialisation and mutation, printing, serialisation by stable
name, compute cost) derives from its :class:`OpSpec`.

Reference: Real et al., "AutoML-Zero: Evolving Machine Learning Algorithms From
Scratch", ICML 2020, Supplementary Table S1 (op ids are the reference's).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Kernel = Callable[..., None]


class Kind(enum.Enum):
    """A memory bank: scalars, vectors of length F, or F x F matrices."""

    SCALAR = "s"
    VECTOR = "v"
    MATRIX = "m"

    @property
    def prefix(self) -> str:
        return self.value


_KINDS = {k.value: k for k in Kind}


class DataInit(enum.Enum):
    """How a data slot is drawn when an instruction is randomized."""

    UNIT = "unit"  # U(0, 1): an index stored as a float, used as int(F * f)
    SIGNED = "signed"  # U(-1, 1): a value, a mean or a bound


class DataMutation(enum.Enum):
    """How a data slot changes under the alter-argument mutation."""

    RESAMPLE_UNIT = "resample_unit"  # a new U(0, 1) index
    LOG_SCALE_OR_FLIP = "log_scale_or_flip"  # p=0.1 flip sign, else x * exp(N(0,1))
    LOG_SCALE = "log_scale"  # x * exp(N(0,1)), keeping the sign (a standard deviation)


@dataclass(frozen=True)
class DataField:
    """One data slot of an instruction (the reference's activation / float data)."""

    name: str
    init: DataInit
    mutation: DataMutation


class Cost(enum.Enum):
    """Per-execution cost class of an op, in multiply-adds as a function of F."""

    SCALAR = "scalar"  # 1
    VECTOR = "vector"  # F
    MATRIX = "matrix"  # F^2
    CUBIC = "cubic"  # F^3 (matrix-matrix product)

    def flops(self, dim: int) -> int:
        return {"scalar": 1, "vector": dim, "matrix": dim * dim, "cubic": dim**3}[self.value]


@dataclass(frozen=True)
class OpSpec:
    """Everything known about one op; the kernel is its single definition."""

    code: int
    name: str
    inputs: tuple[Kind, ...]
    output: Kind | None
    data: tuple[DataField, ...]
    template: str
    kernel: Kernel
    cost: Cost
    stochastic: bool = False
    sorted_data: bool = False  # data slots 0 and 1 are kept as (low, high)

    @property
    def arity(self) -> int:
        return len(self.inputs)

    @property
    def is_noop(self) -> bool:
        return self.output is None

    def describe(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "inputs": [k.value for k in self.inputs],
            "output": self.output.value if self.output else None,
            "data": [f.name for f in self.data],
            "stochastic": self.stochastic,
        }


class RegistryError(ValueError):
    """A registration that would make the op table ambiguous."""


class OpRegistry:
    """An explicit table of ops that refuses name and code collisions."""

    def __init__(self) -> None:
        self._by_name: dict[str, OpSpec] = {}
        self._by_code: dict[int, OpSpec] = {}

    def add(self, spec: OpSpec) -> OpSpec:
        if spec.name in self._by_name:
            raise RegistryError(f"op name {spec.name!r} is already registered")
        if spec.code in self._by_code:
            raise RegistryError(
                f"op code {spec.code} is already used by {self._by_code[spec.code].name}"
            )
        if spec.code < 0 or spec.code > 127:
            raise RegistryError(f"op code {spec.code} is outside 0..127")
        self._by_name[spec.name] = spec
        self._by_code[spec.code] = spec
        return spec

    def __getitem__(self, key: str | int) -> OpSpec:
        try:
            if isinstance(key, str):
                return self._by_name[key]
            return self._by_code[int(key)]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise KeyError(f"unknown op {key!r}; known ops: {known}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._by_name or key in self._by_code

    def __iter__(self) -> Iterator[OpSpec]:
        return iter(sorted(self._by_code.values(), key=lambda s: s.code))

    def __len__(self) -> int:
        return len(self._by_code)

    def names(self) -> list[str]:
        return [s.name for s in self]

    def max_code(self) -> int:
        return max(self._by_code)


REGISTRY = OpRegistry()


def _parse_signature(sig: str) -> tuple[tuple[Kind, ...], Kind | None]:
    """Parse ``"ss>s"`` (two scalar inputs, scalar output); ``">"`` is a no-op."""
    ins, _, out = sig.partition(">")
    return tuple(_KINDS[c] for c in ins), (_KINDS[out] if out else None)


def register(
    code: int,
    name: str,
    sig: str,
    template: str,
    cost: Cost = Cost.SCALAR,
    data: tuple[DataField, ...] = (),
    stochastic: bool = False,
    sorted_data: bool = False,
    registry: OpRegistry = REGISTRY,
) -> Callable[[Kernel], Kernel]:
    """Register ``kernel`` as op ``name`` with reference id ``code``.

    ``sig`` gives input kinds then ``>`` then the output kind; ``template`` is a
    numpy expression using ``{out}``, ``{in1}``, ``{in2}`` and data names in braces.
    """
    inputs, output = _parse_signature(sig)

    def decorate(kernel: Kernel) -> Kernel:
        registry.add(
            OpSpec(
                code=code,
                name=name,
                inputs=inputs,
                output=output,
                data=data,
                template=template,
                kernel=kernel,
                cost=cost,
                stochastic=stochastic,
                sorted_data=sorted_data,
            )
        )
        return kernel

    return decorate


# The data slots the reference uses, named once.
CONSTANT = DataField("value", DataInit.SIGNED, DataMutation.LOG_SCALE_OR_FLIP)
INDEX_I = DataField("i", DataInit.UNIT, DataMutation.RESAMPLE_UNIT)
INDEX_J = DataField("j", DataInit.UNIT, DataMutation.RESAMPLE_UNIT)
MEAN = DataField("mean", DataInit.SIGNED, DataMutation.LOG_SCALE_OR_FLIP)
STD = DataField("std", DataInit.UNIT, DataMutation.LOG_SCALE)
LOW = DataField("low", DataInit.SIGNED, DataMutation.LOG_SCALE_OR_FLIP)
HIGH = DataField("high", DataInit.SIGNED, DataMutation.LOG_SCALE_OR_FLIP)
