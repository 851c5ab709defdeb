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

from primeval.engine.registry import Registry, RegistryError, UnknownNameError

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


class Family(enum.Enum):
    """The algebra of an op, as the dataflow analysis (:mod:`primeval.algorithms.dataflow`)
    reads it: what the op's output is in terms of its inputs."""

    SUM = "sum"
    DIFF = "diff"
    PRODUCT = "product"  # elementwise, or a scalar times a value, or an outer product
    CONTRACTION = "contraction"  # a product summed over a shared axis
    DIVISION = "division"
    RECIPROCAL = "reciprocal"
    HEAVISIDE = "heaviside"
    MAX = "max"
    MIN = "min"
    LINEAR = "linear"  # a linear map of one input: broadcasts, transpose, means
    SCALE_STAT = "scale_stat"  # a measure of scale, never negative: norms, standard deviations


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
    partial_write: bool = False
    """Writes one slot of its output, so the output's other slots keep their value (dead-code
    elimination then keeps the instructions that wrote them)."""
    family: Family | None = None
    """Its algebra, where the dataflow analysis knows it (None: an opaque function)."""
    commutative: bool = False  # its two inputs can be swapped
    increasing: bool = False  # a scalar op increasing in its first input
    bilinear: bool = False  # a product that scalar factors of either input commute out of
    kernel_form: bool = False
    """Exported as its kernel's source rather than its one-line template (the kernel's order
    of operations is the one that gives the interpreters' bits)."""

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


class OpRegistry(Registry[OpSpec]):
    """The op table: a :class:`~primeval.engine.registry.Registry` of ops by name that also
    refuses a second op under a code already taken, and finds an op by its code."""

    def __init__(self) -> None:
        super().__init__("op")
        self._by_code: dict[int, OpSpec] = {}

    def add(self, name: str, entry: OpSpec) -> OpSpec:
        if name != entry.name:
            raise RegistryError(f"op {entry.name!r} registered under another name, {name!r}")
        if entry.code in self._by_code:
            raise RegistryError(
                f"op code {entry.code} is already used by {self._by_code[entry.code].name}"
            )
        if entry.code < 0 or entry.code > 127:
            raise RegistryError(f"op code {entry.code} is outside 0..127")
        super().add(name, entry)
        self._by_code[entry.code] = entry
        return entry

    def __getitem__(self, key: str | int) -> OpSpec:  # type: ignore[override]
        if isinstance(key, str):
            return super().__getitem__(key)
        try:
            return self._by_code[int(key)]
        except KeyError:
            known = ", ".join(sorted(self.names()))
            raise UnknownNameError(f"unknown op {key!r}; known: {known}") from None

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or key in self._by_code

    def __iter__(self) -> Iterator[OpSpec]:
        """The ops in code order."""
        return iter(sorted(self._by_code.values(), key=lambda s: s.code))

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
    partial_write: bool = False,
    family: Family | None = None,
    commutative: bool = False,
    increasing: bool = False,
    bilinear: bool = False,
    kernel_form: bool = False,
    registry: OpRegistry = REGISTRY,
) -> Callable[[Kernel], Kernel]:
    """Register ``kernel`` as op ``name`` with reference id ``code``.

    ``sig`` gives input kinds then ``>`` then the output kind; ``template`` is a
    numpy expression using ``{out}``, ``{in1}``, ``{in2}`` and data names in braces; the
    other arguments are the :class:`OpSpec` fields of the same names.
    """
    inputs, output = _parse_signature(sig)

    def decorate(kernel: Kernel) -> Kernel:
        registry.add(
            name,
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
                partial_write=partial_write,
                family=family,
                commutative=commutative,
                increasing=increasing,
                bilinear=bilinear,
                kernel_form=kernel_form,
            ),
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
