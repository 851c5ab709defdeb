"""A symbolic data-flow graph of an algorithm, for recognizing techniques in it.

Real et al. 2020 ("AutoML-Zero: Evolving Machine Learning Algorithms From Scratch",
ICML) read evolved algorithms by their data flow: which value the prediction is
computed from, what Learn writes back to memory, which constant scales which update
(Sec. 4.2, Fig. 6). :class:`Flow` makes that reading mechanical, for the detectors of
:mod:`primeval.algorithms.detectors`:

- only the instructions that can affect the prediction count (:func:`dce.live_mask`
  with ``keep_stochastic=False``), so dead code never shows up;
- every live instruction is a node whose operands are the nodes that last wrote the
  addresses it reads (value numbered: two instructions computing the same op of the
  same operands and data are one node, so ``x`` recomputed in Learn is the ``x`` of
  Predict; random draws are never merged). Products are also numbered by their
  *monomial*: scalar factors commute and associate out of scalar, scalar-vector and
  scalar-matrix products, inner, outer, matrix-vector and matrix-matrix products, so
  ``(a u) . w``, ``a (u . w)`` and ``u . (a w)`` are one node, the first computed
  (exact in real arithmetic; rounding is ignored). Setup runs from zeroed memory (leaf
  ``init``); one training *step* is Predict then Learn as one straight line, whose
  leaves are the features ``x`` (``v0``), the label ``y`` (``s0`` in Learn), zero
  (``s0`` in Predict) and ``state(loc)``: the memory a step starts from, which is
  Setup's value, the value a previous step left (Learn writes the weights that the
  next Predict reads) or the value a Predict-only pass (validation) left. The
  prediction is the node in ``s1`` after Predict;
- cross-step facts are fixed points over those ``state`` sources: which locations are
  *learned* (rewritten by Learn from the label, directly or through other learned
  locations), which nodes are *data-free* (never depend on ``x``, ``y`` or a random
  draw: constants and rates), the possible signs of every node (subsets of
  {-, 0, +}; NaN is ignored; a scalar computed from constants alone, not memory, has
  the sign of its folded value), the value of constant scalars (folded with the ops' own
  kernels) and each node as a polynomial in ``x`` (which degrees, and whether their
  coefficients depend on learned memory);
- within a step: a node as a product of factors (through products, divisions,
  reciprocals and scalar broadcasts), a location's update as ``state`` plus or minus
  increments, errors ``y - p`` / ``p - y``, and the sign of d prediction / d node.

The interpreter's sigmoid on ``s1`` for classification is monotone and ignored. A
program whose prediction is always zero (by the sign analysis) has an empty prediction
path and no error steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from primeval.algorithms.dce import PARTIAL_WRITES, live_mask
from primeval.algorithms.memory import FEATURES, LABEL, PREDICTION
from primeval.algorithms.ops import REGISTRY, Family, Kind
from primeval.algorithms.program import Component, Function, Program

Position = tuple[Component, int]
Loc = tuple[Kind, int]

MAX_FACTORS = 64
"""Products with more factors are not decomposed (their count can double per instruction)."""

Atom = tuple[int, ...]
"""A scalar factor of a monomial: ``(0, node)`` or ``(1, core, core)`` (an inner product)."""
Monomial = tuple[tuple[Atom, ...], int | None]
"""A value as its sorted scalar factors times a core (None for a scalar; see :meth:`Flow._op`)."""


def _family(family: Family) -> frozenset[str]:
    return frozenset(spec.name for spec in REGISTRY if spec.family is family)


# The op families, from each op's registration (:attr:`~primeval.algorithms.ops.OpSpec.family`).
SUMS = _family(Family.SUM)
DIFFS = _family(Family.DIFF)
PRODUCTS = _family(Family.PRODUCT)
CONTRACTIONS = _family(Family.CONTRACTION)
DIVISIONS = _family(Family.DIVISION)
RECIPROCALS = _family(Family.RECIPROCAL)
HEAVISIDES = _family(Family.HEAVISIDE)
MAXES = _family(Family.MAX)
MINS = _family(Family.MIN)
LINEAR_UNARY = _family(Family.LINEAR)
SCALE_STATS = _family(Family.SCALE_STAT)
"""Statistics that measure the scale of a value (never negative): what normalization divides by."""
SCALINGS = frozenset(s for s in PRODUCTS if REGISTRY[s].inputs[0] is Kind.SCALAR)
"""Products of a scalar and a value."""
BILINEAR_CORES = {spec.name: k + 1 for k, spec in enumerate(s for s in REGISTRY if s.bilinear)}
"""Products that scalar factors commute out of, with a tag for the core they leave."""
COMMUTATIVE = frozenset(spec.name for spec in REGISTRY if spec.commutative)

# --- signs: subsets of {-, 0, +} as bit masks ----------------------------------------------

NEG, ZER, POS = 1, 2, 4
ALL = NEG | ZER | POS
_BITS = ((NEG, -1), (ZER, 0), (POS, 1))


def _mask(signs: Iterable[int]) -> int:
    return sum({-1: NEG, 0: ZER, 1: POS}[s] for s in set(signs))


def _pairwise(a: int, b: int, f: Callable[[int, int], int]) -> int:
    out = 0
    for bit_a, sa in _BITS:
        if a & bit_a:
            for bit_b, sb in _BITS:
                if b & bit_b:
                    out |= f(sa, sb)
    return out


def mul_signs(a: int, b: int) -> int:
    """The signs of a product of values of signs ``a`` and ``b``."""
    return _pairwise(a, b, lambda x, y: _mask([x * y]))


def _add(a: int, b: int) -> int:
    return _pairwise(a, b, lambda x, y: ALL if x * y < 0 else _mask([(x + y > 0) - (x + y < 0)]))


def _neg(a: int) -> int:
    return (a & ZER) | (NEG if a & POS else 0) | (POS if a & NEG else 0)


def _recip(a: int) -> int:
    return ALL if a & ZER else a


def _reduce(a: int) -> int:
    """The sign of a sum or mean of elements of sign ``a``."""
    return ALL if a & NEG and a & POS else a


def _order(f: Callable[[int, int], int]) -> Callable[[int, int], int]:
    return lambda a, b: _pairwise(a, b, lambda x, y: _mask([f(x, y)]))


def _sign_of(x: float) -> int:
    if not np.isfinite(x):
        return ALL if np.isnan(x) else (POS if x > 0 else NEG)
    return POS if x > 0 else NEG if x < 0 else ZER


def _interval(lo: float, hi: float) -> int:
    lo, hi = min(lo, hi), max(lo, hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ALL
    return (NEG if lo < 0 else 0) | (POS if hi > 0 else 0) | (ZER if lo <= 0 <= hi else 0)


def _nonneg(a: int) -> int:
    return ZER if a == ZER else (POS | ZER if a else 0)


_UNARY_SIGN: dict[str, Callable[[int], int]] = {
    "SCALAR_ABS": lambda a: (POS if a & (NEG | POS) else 0) | (a & ZER),
    "VECTOR_ABS": lambda a: (POS if a & (NEG | POS) else 0) | (a & ZER),
    "MATRIX_ABS": lambda a: (POS if a & (NEG | POS) else 0) | (a & ZER),
    "SCALAR_RECIPROCAL": _recip,
    "VECTOR_RECIPROCAL": _recip,
    "MATRIX_RECIPROCAL": _recip,
    "SCALAR_SIN": lambda a: a if a in (0, ZER) else ALL,
    "SCALAR_TAN": lambda a: a if a in (0, ZER) else ALL,
    "SCALAR_COS": lambda a: POS if a == ZER else (ALL if a else 0),
    "SCALAR_ARCSIN": lambda a: a,
    "SCALAR_ARCTAN": lambda a: a,
    "SCALAR_ARCCOS": lambda a: POS | ZER if a else 0,
    "SCALAR_EXP": lambda a: POS | (ZER if a & NEG else 0),
    "SCALAR_LOG": lambda a: ALL if a else 0,
    "SCALAR_HEAVYSIDE": lambda a: (POS if a & (POS | ZER) else 0) | (ZER if a & NEG else 0),
    "VECTOR_HEAVYSIDE": lambda a: (POS if a & POS else 0) | (ZER if a & (NEG | ZER) else 0),
    "MATRIX_HEAVYSIDE": lambda a: (POS if a & POS else 0) | (ZER if a & (NEG | ZER) else 0),
    "VECTOR_MEAN": _reduce,
    "MATRIX_MEAN": _reduce,
    "MATRIX_ROW_MEAN": _reduce,
    **{name: _nonneg for name in SCALE_STATS},
    **{
        name: lambda a: a
        for name in LINEAR_UNARY - {"VECTOR_MEAN", "MATRIX_MEAN", "MATRIX_ROW_MEAN"}
    },
}
_BINARY_SIGN: dict[str, Callable[[int, int], int]] = {
    **{name: _add for name in SUMS},
    **{name: (lambda a, b: _add(a, _neg(b))) for name in DIFFS},
    **{name: mul_signs for name in PRODUCTS},
    **{name: (lambda a, b: mul_signs(a, _recip(b))) for name in DIVISIONS},
    **{name: (lambda a, b: _reduce(mul_signs(a, b))) for name in CONTRACTIONS},
    **{name: _order(max) for name in MAXES},
    **{name: _order(min) for name in MINS},
}


# --- the data-flow graph ------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A value: a leaf (``x``, ``y``, ``zero``, ``init``, ``state``) or an op of earlier nodes."""

    op: str
    kind: Kind
    args: tuple[int, ...] = ()
    data: tuple[float, ...] = ()
    loc: Loc | None = None  # the address of a ``state`` leaf
    stochastic: bool = False


@dataclass(frozen=True)
class Factor:
    """One factor of a product: its node, whether it divides, and the op nodes applying it."""

    node: int
    inverted: bool
    path: tuple[int, ...]


@dataclass(frozen=True)
class Increment:
    """``w_new = w_old + sign * delta`` at the op node ``acc``."""

    delta: int
    sign: int
    acc: int


@dataclass(frozen=True)
class ErrorStep:
    """An increment of ``loc`` that is a product with exactly one error factor."""

    loc: Loc
    increment: Increment
    factors: tuple[Factor, ...]
    error_index: int

    @property
    def error(self) -> Factor:
        return self.factors[self.error_index]

    def others(self) -> list[Factor]:
        """The factors besides the error."""
        return [fa for k, fa in enumerate(self.factors) if k != self.error_index]


class Flow:
    """The data-flow graph of a program's live instructions and the analyses detectors use.

    See the module docstring; build with :func:`dataflow` (cached per program).
    """

    def __init__(self, program: Program, training: bool = False) -> None:
        self.program = program
        self.training = training
        self.nodes: list[Node] = []
        self.anc: list[frozenset[int]] = []
        self.positions: list[list[Position]] = []
        self._keys: dict[tuple[object, ...], int] = {}
        self._mono: list[Monomial] = []
        self._cores: dict[tuple[int, ...], int] = {}
        self.state: dict[Loc, int] = {}
        init = {k: self._leaf(Node("init", k)) for k in Kind}
        self.x = self._leaf(Node("x", Kind.VECTOR))
        self.y = self._leaf(Node("y", Kind.SCALAR))
        self.zero = self._leaf(Node("zero", Kind.SCALAR))
        masks = live_mask(program, keep_stochastic=False)

        self._init = init
        self.setup_end: dict[Loc, int] = {}
        self._run(Component.SETUP, program.setup, masks[0], self.setup_end, lambda a: init[a[0]])
        step: dict[Loc, int] = {(Kind.VECTOR, FEATURES): self.x, (Kind.SCALAR, LABEL): self.zero}
        self._run(Component.PREDICT, program.predict, masks[1], step, self._state)
        self.prediction = self._read(step, (Kind.SCALAR, PREDICTION), self._state)
        self.predict_end = dict(step)
        step[(Kind.SCALAR, LABEL)] = self.y
        self._run(Component.LEARN, program.learn, masks[2], step, self._state)
        self.step_end = step
        self.prediction_path = self.anc[self.prediction] | {self.prediction}

        self.learned = self._learned()
        self.data_dependent, self._dd_node = self._data_dependent()
        self._consts = self._constants()
        self.sign = self._signs()
        if self.sign[self.prediction] == ZER:
            self.prediction_path = frozenset()  # always predicts 0: no technique matters
        self.poly = self._polys()

    # --- construction ---------------------------------------------------------------------

    def _leaf(self, node: Node) -> int:
        self.nodes.append(node)
        self.anc.append(frozenset())
        self.positions.append([])
        n = len(self.nodes) - 1
        self._mono.append(self._plain(n, node.kind))
        return n

    @staticmethod
    def _plain(n: int, kind: Kind) -> Monomial:
        return (((0, n),), None) if kind is Kind.SCALAR else ((), n)

    def _monomial(self, node: Node) -> Monomial | None:
        """``node`` as scalar factors times a core, when it is a product; else None.

        A scalar is its sorted factors (core None); a vector or matrix, its scalar
        factors times a core that is a node or (negative ids, hash-consed) a bilinear
        product of cores: ``(a u) . (b w)`` is ``[a, b, (u . w)]``, ``a (W (b v))`` is
        ``[a, b] * (W v)``. Products of more than :data:`MAX_FACTORS` factors are not
        monomials.
        """
        if node.op not in SCALINGS and node.op not in BILINEAR_CORES:
            return None
        (sa, ca), (sb, cb) = (self._mono[a] for a in node.args)
        atoms = sa + sb
        core: int | None
        if node.op in SCALINGS:
            core = cb if node.op != "SCALAR_PRODUCT" else None
        else:
            assert ca is not None and cb is not None
            tag = BILINEAR_CORES[node.op]
            pair = (min(ca, cb), max(ca, cb)) if tag == 1 else (ca, cb)
            if tag == 1:
                atoms = (*atoms, (1, *pair))
                core = None
            else:
                core = self._cores.setdefault((tag, *pair), -1 - len(self._cores))
        if len(atoms) > MAX_FACTORS:
            return None
        return tuple(sorted(atoms)), core

    def _state(self, loc: Loc) -> int:
        if loc not in self.state:
            self.state[loc] = self._leaf(Node("state", loc[0], loc=loc))
        return self.state[loc]

    @staticmethod
    def _read(cur: dict[Loc, int], loc: Loc, missing: Callable[[Loc], int]) -> int:
        if loc not in cur:
            cur[loc] = missing(loc)
        return cur[loc]

    def _run(
        self,
        comp: Component,
        fn: Function,
        mask: np.ndarray,
        cur: dict[Loc, int],
        missing: Callable[[Loc], int],
    ) -> None:
        for i, ins in enumerate(fn):
            spec = ins.op
            if not mask[i] or spec.output is None:
                continue
            out = (spec.output, ins.out)
            args = [
                self._read(cur, (kind, addr), missing)
                for kind, addr in zip(spec.inputs, (ins.in1, ins.in2), strict=False)
            ]
            if spec.name in PARTIAL_WRITES:
                args.append(self._read(cur, out, missing))
            data = tuple(float(d) for d in ins.data[: len(spec.data)])
            node = Node(spec.name, spec.output, tuple(args), data, stochastic=spec.stochastic)
            n = self._op(node, comp, i)
            cur[out] = n

    def _op(self, node: Node, comp: Component, index: int) -> int:
        args = tuple(sorted(node.args)) if node.op in COMMUTATIVE else node.args
        key = (node.op, args, np.asarray(node.data).tobytes())
        mono = self._monomial(node)
        canon = None if mono is None else ("monomial", node.kind, *mono)
        n = None if node.stochastic else self._keys.get(key)
        if n is None and canon is not None:
            n = self._keys.get(canon)
        if n is None:
            self.nodes.append(node)
            self.anc.append(frozenset().union(*(self.anc[a] | {a} for a in node.args)))
            self.positions.append([])
            n = len(self.nodes) - 1
            self._mono.append(mono or self._plain(n, node.kind))
        if not node.stochastic:
            self._keys.setdefault(key, n)
            if canon is not None:
                self._keys.setdefault(canon, n)
        self.positions[n].append((comp, index))
        return n

    # --- memory across steps ---------------------------------------------------------------

    def setup_value(self, loc: Loc) -> int:
        return self.setup_end.get(loc, self._init[loc[0]])

    def learn_writes(self, loc: Loc) -> bool:
        """Whether Learn makes the value ``loc`` holds after a step."""
        end = self.step_end.get(loc)
        return end is not None and end != self.predict_end.get(loc, self.state.get(loc))

    def sources(self, loc: Loc, steady: bool = False) -> list[int]:
        """Values ``state(loc)`` can hold: Setup's, or a previous step's or Predict pass's.

        ``steady=True``: from the second step on (Setup's only when no step rewrites it).
        """
        state = self.state[loc]
        later = [
            n
            for n in (
                self.step_end.get(loc),
                None if self.training else self.predict_end.get(loc),
            )
            if n is not None and n != state
        ]
        later = list(dict.fromkeys(later))
        if steady:
            return later or [self.setup_value(loc)]
        return list(dict.fromkeys([self.setup_value(loc), *later]))

    def _data_dependent(self) -> tuple[set[Loc], list[bool]]:
        """Memory and nodes computed from features, labels or draws (a least fixed point)."""
        tainted: set[Loc] = set()
        while True:
            hot = [False] * len(self.nodes)
            for n, node in enumerate(self.nodes):
                hot[n] = (
                    node.op in ("x", "y")
                    or node.stochastic
                    or (node.op == "state" and node.loc in tainted)
                    or any(hot[a] for a in node.args)
                )
            new = {loc for loc in self.state if any(hot[s] for s in self.sources(loc))}
            if new == tainted:
                return tainted, hot
            tainted = new

    def _learned(self) -> set[Loc]:
        learned: set[Loc] = set()
        while True:
            new = {
                loc
                for loc in self.state
                if self.learn_writes(loc)
                and self.depends(self.step_end[loc], self.y, *(self.state[w] for w in learned))
            }
            if new == learned:
                return learned
            learned = new

    def _signs(self) -> list[int]:
        """The possible signs of every node from the second step on.

        A fixed point over every value memory can hold (Setup's included) gives the
        signs at any step. From the second step on, memory a step rewrites holds what a
        step or Predict pass left, so one more pass from those gives the signs once
        Setup's values are overwritten: a rate set in Setup and reset by Learn is
        Learn's rate.

        A scalar computed from constants alone (no memory) has the sign of its folded
        value (:meth:`const`) at every step: ``0.11 - 0.55`` is negative.
        """
        exact = {
            n: _sign_of(value)
            for n, value in enumerate(self._consts)
            if value is not None and not any(self.nodes[m].op == "state" for m in self.anc[n] | {n})
        }
        sign = [0] * len(self.nodes)
        for _ in range(4 * len(self.state) + 2):
            changed = False
            for n, node in enumerate(self.nodes):
                new = exact.get(n) or sign[n] | self._sign_rule(node, sign, sign, steady=False)
                if new != sign[n]:
                    sign[n], changed = new, True
            if not changed:
                break
        steady = [0] * len(self.nodes)
        for n, node in enumerate(self.nodes):
            steady[n] = exact.get(n) or self._sign_rule(node, steady, sign, steady=True)
        return steady

    def _sign_rule(self, node: Node, sign: list[int], before: list[int], steady: bool) -> int:
        """``node``'s signs from its operands' ``sign`` (memory: its sources' ``before``)."""
        op, a = node.op, [sign[x] for x in node.args]
        if op in ("x", "y"):
            return ALL
        if op in ("zero", "init"):
            return ZER
        if op == "state":
            assert node.loc is not None
            out = 0
            for s in self.sources(node.loc, steady):
                out |= before[s]
            return out
        if op.endswith("_CONST_SET"):
            value = _sign_of(node.data[-1])
            return value | a[0] if op in PARTIAL_WRITES else value
        if op.endswith("_UNIFORM_SET"):
            return _interval(node.data[0], node.data[1])
        if op.endswith("_GAUSSIAN_SET"):
            return _sign_of(node.data[0]) if node.data[1] == 0 else ALL
        if len(a) == 1 and op in _UNARY_SIGN:
            return _UNARY_SIGN[op](a[0])
        if len(a) == 2 and op in _BINARY_SIGN:
            return _BINARY_SIGN[op](a[0], a[1])
        return ALL

    # --- queries ----------------------------------------------------------------------------

    def depends(self, n: int, *targets: int) -> bool:
        """Whether node ``n`` is, or is computed from, any of ``targets`` within its step."""
        return any(t == n or t in self.anc[n] for t in targets)

    def data_free(self, n: int) -> bool:
        """Whether ``n`` never depends on features, labels or random draws (a constant or rate)."""
        return not self._dd_node[n]

    def is_op(self, n: int) -> bool:
        return bool(self.positions[n])

    def in_step(self, n: int) -> bool:
        return any(c is not Component.SETUP for c, _ in self.positions[n])

    def where(self, nodes: Iterable[int], only: Component | None = None) -> set[Position]:
        """The instructions computing ``nodes`` (a ``state`` leaf: those writing its sources).

        Value numbering can make one node of instructions in several components; ``only``
        keeps those of one component.
        """
        out: set[Position] = set()
        for n in nodes:
            node = self.nodes[n]
            if node.op == "state" and node.loc is not None:
                for s in self.sources(node.loc):
                    out.update(self.positions[s])
            out.update(self.positions[n])
        return out if only is None else {p for p in out if p[0] is only}

    def const(self, n: int) -> float | None:
        """The value of a scalar that is the same constant from the second step on, else None."""
        return self._consts[n]

    def _constants(self) -> list[float | None]:
        """Scalar constants, folded with the ops' kernels; memory in a cycle is not one."""
        consts: list[float | None] = [None] * len(self.nodes)
        for _ in range(len(self.state) + 2):
            changed = False
            for n, node in enumerate(self.nodes):
                value = self._const(node, consts)
                if value is not None and consts[n] is None:
                    consts[n], changed = value, True
            if not changed:
                break
        return consts

    def _const(self, node: Node, consts: list[float | None]) -> float | None:
        if node.kind is not Kind.SCALAR or node.stochastic or node.op in ("x", "y"):
            return None
        if node.op in ("zero", "init"):
            return 0.0
        if node.op == "SCALAR_CONST_SET":
            return node.data[0]
        if node.op == "state":
            assert node.loc is not None
            values = [consts[s] for s in self.sources(node.loc, steady=True)]
            same = all(v is not None and v == values[0] for v in values)
            return values[0] if same else None
        spec = REGISTRY[node.op]
        args = [consts[a] for a in node.args]
        if any(k is not Kind.SCALAR for k in spec.inputs) or any(v is None for v in args):
            return None
        s = np.zeros(3)
        s[: len(args)] = [float(v) for v in args if v is not None]
        d = np.zeros(3)
        d[: len(node.data)] = node.data
        with np.errstate(all="ignore"):
            spec.kernel(s, np.zeros((1, 1)), np.zeros((1, 1, 1)), 0, 1, 2, d, None)
        return float(s[2])

    def _polys(self) -> list[dict[int, bool] | None]:
        """Each node as a polynomial in ``x``: degree -> whether its coefficient is learned."""
        learned_states = [self.state[w] for w in self.learned]
        polys: list[dict[int, bool] | None] = []
        for n, node in enumerate(self.nodes):
            if not self.depends(n, self.x):
                polys.append({0: self.depends(n, *learned_states)})
                continue
            a = [polys[x] for x in node.args]
            p: dict[int, bool] | None = None
            if node.op == "x":
                p = {1: False}
            elif any(x is None for x in a):
                p = None
            elif node.op in SUMS | DIFFS:
                p = _merge(a[0], a[1])
            elif node.op in PRODUCTS | CONTRACTIONS or (
                node.op in DIVISIONS and a[1] is not None and set(a[1]) == {0}
            ):
                p = _times(a[0], a[1])
            elif node.op in LINEAR_UNARY:
                p = a[0]
            elif node.op in PARTIAL_WRITES:
                p = _merge(a[0], {0: False})
            polys.append(p)
        return polys

    def factors(self, n: int) -> list[Factor]:
        """``n`` as a product: through products, divisions, reciprocals and scalar broadcasts.

        In operand order. A product of more than :data:`MAX_FACTORS` factors (``s = s * s``
        repeated doubles them) is one opaque factor.
        """
        out: list[Factor] = []
        stack: list[tuple[int, bool, tuple[int, ...]]] = [(n, False, ())]
        while stack:
            m, inverted, path = stack.pop()
            node = self.nodes[m]
            here = (*path, m)
            if node.op in PRODUCTS | DIVISIONS:
                divides = node.op in DIVISIONS
                stack.append((node.args[1], inverted != divides, here))
                stack.append((node.args[0], inverted, here))
            elif node.op in RECIPROCALS:
                stack.append((node.args[0], not inverted, here))
            elif node.op == "SCALAR_BROADCAST":
                stack.append((node.args[0], inverted, here))
            else:
                out.append(Factor(m, inverted, path))
            if len(out) + len(stack) > MAX_FACTORS:
                return [Factor(n, False, ())]
        return out

    def applying(self, f: Factor) -> list[int]:
        """The op nodes that bring factor ``f`` in: up to the first product or division."""
        out: list[int] = []
        for n in reversed(f.path):
            out.append(n)
            if self.nodes[n].op in PRODUCTS | DIVISIONS:
                break
        return out

    def factor_sign(self, f: Factor) -> int:
        return _recip(self.sign[f.node]) if f.inverted else self.sign[f.node]

    def increments(self, loc: Loc) -> list[Increment] | None:
        """The value Learn leaves in ``loc`` as ``state(loc)`` plus or minus terms, or None."""
        state = self.state.get(loc)
        if state is None or not self.learn_writes(loc):
            return None
        end = self.step_end[loc]
        chains: dict[int, list[Increment]] = {state: []}
        for m in sorted(self.anc[end] | {end}):
            node = self.nodes[m]
            if node.op not in SUMS | DIFFS:
                continue
            orders = [(0, 1), (1, 0)] if node.op in SUMS else [(0, 1)]
            for i, j in orders:
                if node.args[i] in chains:
                    sign = 1 if node.op in SUMS else -1
                    chains[m] = [*chains[node.args[i]], Increment(node.args[j], sign, m)]
                    break
        return chains.get(end) or None

    def orientation(self, n: int) -> int:
        """+1 for ``y - prediction``, -1 for ``prediction - y``, 0 for any other node."""
        node = self.nodes[n]
        if node.op != "SCALAR_DIFF":
            return 0
        pair = (node.args[0], node.args[1])
        if pair == (self.y, self.prediction):
            return 1
        if pair == (self.prediction, self.y):
            return -1
        return 0

    def error_steps(self) -> Iterator[ErrorStep]:
        """Increments of memory that are products with exactly one error factor."""
        if not self.prediction_path:
            return
        for loc in self.state:
            for inc in self.increments(loc) or []:
                fs = self.factors(inc.delta)
                errors = [
                    k for k, f in enumerate(fs) if not f.inverted and self.orientation(f.node)
                ]
                if len(errors) == 1:
                    yield ErrorStep(loc, inc, tuple(fs), errors[0])

    def contractions(self) -> Iterator[tuple[int, int, Loc, list[Factor]]]:
        """``(z, u, w, c)``: inner products ``z = u . (c state(w))`` on the prediction path.

        ``c`` are the data-free scalar factors scaling the weights (none: ``u . w``);
        ``u`` is computed from the features and not from ``state(w)``.
        """
        for z in sorted(self.prediction_path):
            node = self.nodes[z]
            if node.op != "VECTOR_INNER_PRODUCT":
                continue
            for side, u in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
                weights = self._scaled_state(side)
                if weights is None:
                    continue
                loc, scale = weights
                if self.depends(u, self.x) and not self.depends(u, self.state[loc]):
                    yield z, u, loc, scale

    def _scaled_state(self, n: int) -> tuple[Loc, list[Factor]] | None:
        """``n = c state(w)`` with data-free scalar factors ``c``: ``(w, c)``, else None."""
        node = self.nodes[n]
        if node.op == "state" and node.loc is not None:
            return node.loc, []
        fs = self.factors(n)
        states = [
            fa for fa in fs if self.nodes[fa.node].op == "state" and not self.data_free(fa.node)
        ]
        if len(states) != 1 or states[0].inverted:
            return None
        loc = self.nodes[states[0].node].loc
        scale = [fa for fa in fs if fa is not states[0]]
        if loc is None or not all(
            self.nodes[fa.node].kind is Kind.SCALAR and self.data_free(fa.node) for fa in scale
        ):
            return None
        return loc, scale

    def gain(self, z: int, w_state: int) -> tuple[int, list[Factor], tuple[int, ...]] | None:
        """The sign of d prediction / d ``z`` and the factors scaling it, or None.

        ``z`` must be the only route from ``w_state`` to the prediction.
        Walks from the prediction down to ``z`` through scalar sums, differences, products
        and divisions by values that do not depend on ``z`` or ``w_state``, and through
        monotone functions (max, min, exp, arctan, arcsin, tan, arccos); None otherwise.
        """
        mask, n = POS, self.prediction
        factors: list[Factor] = []
        path: tuple[int, ...] = ()
        while n != z:
            node = self.nodes[n]
            on = [i for i, a in enumerate(node.args) if self.depends(a, z)]
            if len(on) != 1:
                return None
            i = on[0]
            others = [a for j, a in enumerate(node.args) if j != i]
            if any(self.depends(o, w_state) for o in others):
                return None
            path = (*path, n)
            op = node.op
            if op == "SCALAR_PRODUCT":
                mask = mul_signs(mask, self.sign[others[0]])
                factors.append(Factor(others[0], False, path))
            elif op == "SCALAR_DIVISION" and i == 0:
                mask = mul_signs(mask, _recip(self.sign[others[0]]))
                factors.append(Factor(others[0], True, path))
            elif (op == "SCALAR_DIFF" and i == 1) or op == "SCALAR_ARCCOS":
                mask = _neg(mask)
            elif op in ("SCALAR_MAX", "SCALAR_MIN"):
                mask |= ZER
            elif op not in _INCREASING:
                return None
            n = node.args[i]
        return mask, factors, path

    def is_rate(self, f: Factor) -> bool:
        """A data-free scalar factor that is not always zero: a learning rate."""
        node = self.nodes[f.node]
        return (
            node.kind is Kind.SCALAR
            and self.data_free(f.node)
            and bool(self.sign[f.node] & (NEG | POS))
        )

    def is_scale_stat(self, n: int) -> bool:
        return self.nodes[n].op in SCALE_STATS


_INCREASING = frozenset(spec.name for spec in REGISTRY if spec.increasing)


def _merge(a: dict[int, bool] | None, b: dict[int, bool] | None) -> dict[int, bool] | None:
    if a is None or b is None:
        return None
    out = dict(a)
    for d, f in b.items():
        out[d] = out.get(d, False) or f
    return out


def _times(a: dict[int, bool] | None, b: dict[int, bool] | None) -> dict[int, bool] | None:
    if a is None or b is None:
        return None
    out: dict[int, bool] = {}
    for da, fa in a.items():
        for db, fb in b.items():
            d = min(da + db, 3)  # 3 stands for "cubic or more"
            out[d] = out.get(d, False) or fa or fb
    return out


@lru_cache(maxsize=256)
def dataflow(program: Program, training: bool = False) -> Flow:
    """The data-flow graph of ``program``'s live instructions (cached; programs are immutable).

    ``training=True`` reads the training loop alone, Setup then (Predict, Learn)*: memory a
    step starts from is Setup's or a previous step's, never what a Predict-only pass
    (validation, between epochs) left, so a rate that Predict derives from memory Learn
    sets to a constant counts as a constant.
    """
    return Flow(program, training)
