"""Technique detectors: which known ML techniques an algorithm uses, read from its data flow.

Real et al. 2020 ("AutoML-Zero: Evolving Machine Learning Algorithms From Scratch",
ICML) follow the ancestry of the best algorithm of one search on projected binary
CIFAR-10 and mark the techniques as they appear (Sec. 4.2, Fig. 6): a linear model,
its SGD training, ReLU, normalized gradients, bilinear interactions, input noise and
weight averaging; Sec. 4.3 adds adaptations such as learning-rate decay when few
training steps are allowed and noise injection when few examples are. Each detector
here recognizes one technique in a :class:`~primeval.algorithms.program.Program`, so a
report can mark the evaluation at which it first appears.

Detectors read the program's symbolic data-flow graph
(:func:`~primeval.algorithms.dataflow.dataflow`), never its text, and only its live
instructions, so dead code never triggers a detection. A detector is a total function
``Program -> Detection | None``: it never raises, and a :class:`Detection` names the
live instructions (component, index) that show the technique. A rule reads the whole
evaluation loop and, if it finds nothing there, the training loop alone
(``dataflow(program, training=True)``: memory a validation pass leaves is ignored). Rules
are conservative: each docstring says exactly what is recognized; forms it does not list
(momentum, weight decay, mean centering...) are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from primeval.algorithms.dataflow import (
    CONTRACTIONS,
    DIFFS,
    DIVISIONS,
    HEAVISIDES,
    MAXES,
    NEG,
    POS,
    PRODUCTS,
    RECIPROCALS,
    SUMS,
    ZER,
    Factor,
    Flow,
    Loc,
    Position,
    dataflow,
    mul_signs,
)
from primeval.algorithms.ops import Kind
from primeval.algorithms.program import Component, Program
from primeval.engine.registry import Registry

PREDICT, LEARN = Component.PREDICT, Component.LEARN


# --- detections and the registry --------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """A technique found in a program and the instructions that show it, sorted."""

    technique: str
    positions: tuple[Position, ...]


Rule = Callable[[Flow], set[Position]]


@dataclass(frozen=True)
class Detector:
    """A named rule; calling it on a program gives a :class:`Detection` or None."""

    name: str
    description: str
    rule: Rule = field(repr=False)

    def __call__(self, program: Program) -> Detection | None:
        # The training loop alone as a second reading: memory a Predict-only (validation)
        # pass leaves behind must not hide a step the training loop takes.
        found = self.rule(dataflow(program)) or self.rule(dataflow(program, training=True))
        if not found:
            return None
        return Detection(self.name, tuple(sorted(found, key=lambda p: (int(p[0]), p[1]))))


DETECTORS: Registry[Detector] = Registry("detector")
"""Detectors by name, in registration order (a name is refused twice)."""


def detector(name: str, description: str) -> Callable[[Rule], Rule]:
    """Register a rule as the detector ``name``."""

    def decorate(rule: Rule) -> Rule:
        DETECTORS.add(name, Detector(name, description, rule))
        return rule

    return decorate


def detect(program: Program) -> list[Detection]:
    """Every registered technique found in ``program``, in registration order."""
    return [d for d in (det(program) for det in DETECTORS) if d is not None]


def _take(factors: Iterable[Factor], wanted: Iterable[Factor]) -> list[Factor] | None:
    """``factors`` less one match (same node and inversion) of each wanted one, or None."""
    rest = list(factors)
    for w in wanted:
        k = next(
            (k for k, fa in enumerate(rest) if (fa.node, fa.inverted) == (w.node, w.inverted)),
            None,
        )
        if k is None:
            return None
        del rest[k]
    return rest


def _split(factors: Iterable[Factor], target: int) -> tuple[int, list[Factor]]:
    """How many times ``target`` is a (non-inverted) factor, and the factors besides one of it."""
    hits, rest = 0, []
    for fa in factors:
        if fa.node == target and not fa.inverted:
            hits += 1
            if hits == 1:
                continue
        rest.append(fa)
    return hits, rest


# --- the detectors ------------------------------------------------------------------------


@detector("linear_model", "a learned linear model: the prediction uses weights times the input")
def linear_model(f: Flow) -> set[Position]:
    """A learned linear model (Real et al. 2020, Sec. 4.2, Fig. 6: "linear model").

    On the prediction path, an inner product ``u . w`` or a matrix-vector product ``W u``
    where ``u`` depends on the features and ``w`` (``W``) does not, but depends on memory
    that Learn rewrites from the label (a *learned* location), and is not always zero
    (as when its steps are scaled by a rate that is never set). Shows: the product and
    the Learn instructions that write those locations.
    """
    found: set[Position] = set()
    for n in f.prediction_path:
        node = f.nodes[n]
        if node.op == "VECTOR_INNER_PRODUCT":
            sides = [(node.args[0], node.args[1]), (node.args[1], node.args[0])]
        elif node.op == "MATRIX_VECTOR_PRODUCT":
            sides = [(node.args[1], node.args[0])]
        else:
            continue
        for u, w in sides:
            weights = [loc for loc in f.learned if f.depends(w, f.state[loc])]
            if f.depends(u, f.x) and not f.depends(w, f.x) and weights and f.sign[w] != ZER:
                found |= f.where([n], PREDICT) | f.where(
                    (f.step_end[loc] for loc in weights), LEARN
                )
    return found


@detector("learning_rate", "a learning rate: a constant scaling an error-driven update")
def learning_rate(f: Flow) -> set[Position]:
    """A learning rate (Real et al. 2020, Sec. 4.2, Fig. 6: hard-coded learning rates).

    A memory location takes an error step: Learn rewrites it as itself plus or minus a
    product with exactly one error factor ``y - p`` or ``p - y`` (``p`` the prediction).
    A learning rate is another factor of that product that is a data-free scalar (a
    constant, or memory set from constants) that is not always zero. Also one scaling
    the model of a weight ``w`` that takes error steps: ``p = c (u . w)`` as the demo
    evolves (``v1 += (y - p) x`` is then SGD on ``c w`` with step ``c``),
    ``p = (c u) . w`` or ``p = u . (c w)``. Shows: the instructions setting the rate and
    those applying it.
    """
    found: set[Position] = set()
    stepped: set[Loc] = set()
    for step in f.error_steps():
        stepped.add(step.loc)
        for fa in step.others():
            if f.is_rate(fa):
                found |= f.where([fa.node, *f.applying(fa)])
    for z, u, loc, w_scale in f.contractions():
        if loc in stepped:
            g = f.gain(z, f.state[loc])
            for fa in [*(g[1] if g else []), *_input_side(f, u)[0], *w_scale]:
                if f.is_rate(fa):
                    found |= f.where([fa.node, *f.applying(fa)])
    return found


@detector("gradient_update", "a gradient-descent step: w += rate * (y - p) * input")
def gradient_update(f: Flow) -> set[Position]:
    """A gradient-descent update of linear weights (Real et al. 2020, Sec. 4.2, Fig. 6: SGD).

    For an inner product ``z = u . (c' w)`` on the prediction path (``w`` read from
    memory, ``c'`` none or data-free scalar factors, ``u`` computed from the features,
    ``w`` reaching the prediction only through ``z``; ``u``'s data-free factors ``c`` are
    a scale, ``u = c u'``), Learn rewrites ``w`` as
    ``w +/- delta`` where ``delta`` is a product of exactly one error factor, the very
    value ``u'``, and otherwise only data-free factors and scale statistics (norms,
    standard deviations); or, its sum factors expanded (two levels at most), one term of
    ``delta`` is (``r e (2 x + v)`` has the term ``2 r e x``; every term stays a multiple
    of the error). The step must descend the squared error: the signs of the error's
    orientation, of ``+/-``, of the term, of the other factors, of ``c``, of ``c'`` and
    of d p / d z (:meth:`Flow.gain`) multiply to non-negative and possibly positive, with
    memory's signs from the second step on (``p = (c w) . x`` with ``w += c (y - p) x``
    descends with step ``c^2``, for ``c`` of either known sign). The error may use the
    prediction recomputed in Learn: products are value numbered up to their scalar
    factors (``(c x) . w`` is ``(c w) . x``). Shows: the error, the product making
    ``delta`` (and the sums expanded) and the update.
    """
    found: set[Position] = set()
    steps = list(f.error_steps())
    for z, u, loc, w_scale in f.contractions():
        g = f.gain(z, f.state[loc])
        scale, inputs = _input_side(f, u)
        if g is None or not inputs:
            continue
        sign = mul_signs(g[0], _signs(f, [*scale, *w_scale]))
        for step in (s for s in steps if s.loc == loc):
            orient = POS if f.orientation(step.error.node) * step.increment.sign > 0 else NEG
            term = _descent_term(f, step.others(), inputs, mul_signs(sign, orient))
            if term is not None:
                paths = [n for fa in step.factors for n in fa.path if not f.depends(u, n)]
                found |= f.where([step.error.node, *paths, *term, step.increment.acc])
    return found


def _input_side(f: Flow, u: int) -> tuple[list[Factor], list[Factor]]:
    """``u``'s factors split into data-free ones (a scale) and the others (the input)."""
    fs = f.factors(u)
    return [fa for fa in fs if f.data_free(fa.node)], [fa for fa in fs if not f.data_free(fa.node)]


def _signs(f: Flow, factors: Iterable[Factor]) -> int:
    sign = POS
    for fa in factors:
        sign = mul_signs(sign, f.factor_sign(fa))
    return sign


def _descent_term(
    f: Flow, factors: list[Factor], inputs: list[Factor], sign: int
) -> list[int] | None:
    """The sum nodes expanded to find a descending term ``rate * inputs``, or None.

    ``factors`` (an error step's, less its error) must hold ``inputs`` and otherwise
    data-free factors or scale statistics, with ``sign`` times their signs non-negative
    and possibly positive. Sum and difference factors are expanded, shallowest first
    (at most two levels), so one term of the step can match.
    """
    for depth in range(3):
        for term_sign, rest, expanded in _terms(f, factors, inputs, depth):
            if not all(f.data_free(fa.node) or f.is_scale_stat(fa.node) for fa in rest):
                continue
            total = mul_signs(mul_signs(sign, term_sign), _signs(f, rest))
            if total & POS and not total & NEG:
                return expanded
    return None


def _terms(
    f: Flow, factors: list[Factor], wanted: list[Factor], depth: int
) -> Iterator[tuple[int, list[Factor], list[int]]]:
    """``(sign, factors left, sums expanded)`` of the terms holding ``wanted``, ``depth`` deep."""
    if depth == 0:
        rest = _take(factors, wanted)
        if rest is not None:
            yield POS, rest, []
        return
    for k, fa in enumerate(factors):
        node = f.nodes[fa.node]
        if fa.inverted or node.op not in SUMS | DIFFS:
            continue
        for j, arg in enumerate(node.args):
            inner = [
                Factor(t.node, t.inverted, (*fa.path, fa.node, *t.path)) for t in f.factors(arg)
            ]
            sign = NEG if node.op in DIFFS and j == 1 else POS
            for s, rest, expanded in _terms(
                f, [*factors[:k], *factors[k + 1 :], *inner], wanted, depth - 1
            ):
                yield mul_signs(s, sign), rest, [fa.node, *expanded]


@detector("relu", "ReLU: heaviside(a) * a or max(a, 0) on the prediction path")
def relu(f: Flow) -> set[Position]:
    """A rectified linear unit (Real et al. 2020, Sec. 4.2, Fig. 6 and Sec. 4.3: ReLU).

    On the prediction path, a product ``heaviside(a) * a`` (scalar, vector or matrix,
    the same value ``a`` on both sides) or ``max(a, b)`` with ``b`` always zero, where
    ``a`` depends on the features. Shows: the product (and the heaviside) or the max.
    """
    found: set[Position] = set()
    for n in f.prediction_path:
        node = f.nodes[n]
        if node.op in ("SCALAR_PRODUCT", "VECTOR_PRODUCT", "MATRIX_PRODUCT"):
            for h, a in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
                hn = f.nodes[h]
                if hn.op in HEAVISIDES and hn.args[0] == a and f.depends(a, f.x):
                    found |= f.where([n, h], PREDICT)
        elif node.op in MAXES:
            for a, b in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
                if f.sign[b] == ZER and f.depends(a, f.x):
                    found |= f.where([n], PREDICT)
    return found


def _normalized(
    f: Flow,
    factors: Iterable[Factor],
    of: int,
    not_of: int | None = None,
    only: Component | None = None,
) -> set[Position]:
    """Positions of divisions by a scale statistic of a value computed from ``of``.

    With ``not_of``, the value must not be computed from that node.
    """
    found: set[Position] = set()
    for fa in factors:
        if not (fa.inverted and f.is_scale_stat(fa.node)):
            continue
        arg = f.nodes[fa.node].args[0]
        if f.depends(arg, of) and (not_of is None or not f.depends(arg, not_of)):
            found |= f.where([fa.node, *f.applying(fa)], only)
    return found


@detector("gradient_normalization", "a normalized gradient: an error step divided by its norm")
def gradient_normalization(f: Flow) -> set[Position]:
    """Gradient normalization (Real et al. 2020, Sec. 4.2: normalized gradients).

    An error step (see :func:`learning_rate`) whose product divides by a scale
    statistic (norm, standard deviation) of a value computed from its error. Shows:
    the statistic and the instructions applying it.
    """
    found: set[Position] = set()
    for step in f.error_steps():
        found |= _normalized(f, step.others(), step.error.node)
    return found


@detector("input_normalization", "input normalization: division by a norm of the input")
def input_normalization(f: Flow) -> set[Position]:
    """Input normalization (Real et al. 2020, Sec. 4.2, Fig. 6: input normalization).

    A product or division on the prediction path, or an error step's product, that
    divides by a scale statistic (norm, standard deviation) of a value computed from the
    features (and, in an error step, not from its error). Shows: the statistic and the
    instructions applying it.
    """
    found: set[Position] = set()
    for n in f.prediction_path:
        if f.nodes[n].op in PRODUCTS | DIVISIONS | RECIPROCALS:
            found |= _normalized(f, f.factors(n), f.x, only=PREDICT)
    for step in f.error_steps():
        found |= _normalized(f, step.others(), f.x, step.error.node)
    return found


@detector("bilinear", "bilinear interactions: x^T W x with learned W on the prediction path")
def bilinear(f: Flow) -> set[Position]:
    """Bilinear (multiplicative) interactions (Real et al. 2020, Sec. 4.2: x^T W x).

    On the prediction path, the first product (elementwise, outer, inner, matrix) whose
    value, as a polynomial in the features, has a degree-2 term with a coefficient that
    depends on learned memory: ``x . (W x)``, ``mean(W * outer(x, x))``, ``(w . x)^2``.
    Values passed through a non-polynomial op (heaviside, norm, abs...) are not
    polynomials, so ReLU and normalization never count. Shows: the product and the
    operands it multiplies.
    """
    hits = {
        n
        for n in f.prediction_path
        if f.nodes[n].op in PRODUCTS | CONTRACTIONS and (f.poly[n] or {}).get(2, False)
    }
    found: set[Position] = set()
    for n in hits:
        if not (f.anc[n] & hits):
            found |= f.where([n, *(a for a in f.nodes[n].args if f.is_op(a))], PREDICT)
    return found


def _fresh_noise(f: Flow, n: int) -> list[int]:
    """Random draws made in Predict or Learn, with a non-zero spread, that ``n`` depends on."""
    out = []
    for m in f.anc[n] | {n}:
        node = f.nodes[m]
        if not (node.stochastic and f.in_step(m)):
            continue
        lo, hi = node.data[0], node.data[1]
        spread = hi if node.op.endswith("_GAUSSIAN_SET") else hi - lo
        if np.isfinite(lo) and np.isfinite(hi) and spread != 0:
            out.append(m)
    return out


@detector("input_noise", "input noise: a fresh random draw added to or multiplying the input")
def input_noise(f: Flow) -> set[Position]:
    """Input noise (Real et al. 2020, Sec. 4.2: noisy inputs; Sec. 4.3: noise injection).

    In Predict or Learn, a sum, difference or product (elementwise, scalar times vector
    or matrix) of a vector or matrix that is a polynomial of degree at least 1 in the
    features and not computed from the label (``x``, ``W x``; not a gradient), and a
    value that does not depend on the features but
    on a random draw made in that Predict or Learn with a non-zero spread. Draws in
    Setup are a fixed offset, not noise. Shows: the noisy op and the draws.
    """
    allowed = SUMS | DIFFS | (PRODUCTS - {"VECTOR_OUTER_PRODUCT"})
    found: set[Position] = set()
    for n, node in enumerate(f.nodes):
        if node.op not in allowed or not f.in_step(n):
            continue
        for a, b in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
            pa = f.poly[a]
            if (
                f.nodes[a].kind is not Kind.SCALAR
                and pa is not None
                and max(pa) >= 1
                and not f.depends(a, f.y)
                and not f.depends(b, f.x)
            ):
                draws = _fresh_noise(f, b)
                if draws:
                    found |= f.where([n, *draws])
    return found


def _scaled(f: Flow, n: int, target: int) -> list[int] | None:
    """The op nodes making ``n = c * target`` with data-free ``c > 0``, or None."""
    if n == target:
        return []
    fs = f.factors(n)
    hits, rest = _split(fs, target)
    if hits != 1 or not all(f.data_free(fa.node) for fa in rest):
        return None
    sign = POS
    for fa in rest:
        sign = mul_signs(sign, f.factor_sign(fa))
    if sign & NEG or not sign & POS:
        return None
    return [m for fa in fs for m in fa.path]


@detector("weight_averaging", "weight averaging: predict with a running sum of the weights")
def weight_averaging(f: Flow) -> set[Position]:
    """Weight averaging (Real et al. 2020, Sec. 4.2: weight averaging).

    Memory ``a`` that the prediction reads, rewritten each step as ``c1 a + c2 w`` or
    ``a + c2 (w - a)`` (``c1``, ``c2`` data-free and positive, the paper's plain
    running sum included) where ``w`` is another location taking error steps (its value
    before or after its update). Shows: the averaging instructions and the Predict
    instructions reading ``a``.
    """
    weights: dict[Loc, set[int]] = {}
    for step in f.error_steps():
        incs = f.increments(step.loc) or []
        weights.setdefault(step.loc, {f.state[step.loc]}).update(i.acc for i in incs)
    found: set[Position] = set()
    for loc, a_state in f.state.items():
        end = f.step_end.get(loc)
        if end is None or end == a_state or a_state not in f.prediction_path:
            continue
        node = f.nodes[end]
        if node.op not in SUMS:
            continue
        for p, q in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
            p_path = _scaled(f, p, a_state)
            if p_path is None:
                continue
            for w, values in weights.items():
                if w == loc:
                    continue
                q_path = _running_term(f, q, a_state, values, p == a_state)
                if q_path is not None:
                    readers = [
                        n for n in f.prediction_path if a_state in f.nodes[n].args and f.is_op(n)
                    ]
                    found |= f.where([end, *p_path, *q_path, *readers])
    return found


def _running_term(
    f: Flow, q: int, a_state: int, weights: set[int], plain: bool
) -> list[int] | None:
    """The op nodes of ``q = c w`` or (``plain``: ``a`` unscaled) ``q = c (w - a)``."""
    for w in weights:
        path = _scaled(f, q, w)
        if path is not None:
            return path
    if plain:
        for fa in f.factors(q):
            node = f.nodes[fa.node]
            if (
                not fa.inverted
                and node.op in DIFFS
                and node.args[0] in weights
                and node.args[1] == a_state
            ):
                path = _scaled(f, q, fa.node)
                if path is not None:
                    return [*path, fa.node]
    return None


def _decay(f: Flow, loc: Loc) -> list[int] | None:
    """The op nodes making Learn shrink ``loc``: ``r * c`` (0 < c < 1), ``r - c`` (c > 0)."""
    state, end = f.state[loc], f.step_end.get(loc)
    if end is None or not f.learn_writes(loc):
        return None
    node = f.nodes[end]
    if node.op in ("SCALAR_DIFF", "SCALAR_SUM"):
        for i in (0, 1) if node.op == "SCALAR_SUM" else (0,):
            c = f.const(node.args[1 - i])
            if node.args[i] == state and c is not None:
                step = -c if node.op == "SCALAR_SUM" else c
                return [end] if step > 0 else None
        return None
    fs = f.factors(end)
    hits, rest = _split(fs, state)
    if hits != 1 or not rest:
        return None
    q = 1.0
    with np.errstate(all="ignore"):
        for fa in rest:
            v = f.const(fa.node)
            if v is None:
                return None
            q = float(np.float64(q) / v if fa.inverted else np.float64(q) * v)
    return [m for fa in fs for m in fa.path] if 0.0 < q < 1.0 else None


@detector("learning_rate_decay", "learning-rate decay: the rate shrinks every learn step")
def learning_rate_decay(f: Flow) -> set[Position]:
    """Learning-rate decay (Real et al. 2020, Sec. 4.3: learning-rate decay for fast training).

    A learning rate (see :func:`learning_rate`) of an error step that is a scalar in
    memory, set to a non-zero constant by Setup, that Learn multiplies by a constant in
    (0, 1) (or divides by one above 1) or decreases by a positive constant every step.
    Shows: the decay and the instructions applying the rate.
    """
    found: set[Position] = set()
    for step in f.error_steps():
        for fa in step.others():
            loc = f.nodes[fa.node].loc
            if loc is None or not f.is_rate(fa):
                continue
            start = f.const(f.setup_value(loc))
            decay = _decay(f, loc)
            if decay is not None and start is not None and start != 0.0:
                found |= f.where([fa.node, *decay, *f.applying(fa)])
    return found


@detector("hebbian", "a Hebbian / centroid rule: weights accumulate the label times the input")
def hebbian(f: Flow) -> set[Position]:
    """A Hebbian or centroid rule (Real et al. 2020, Sec. 4.2: the label-reading rules that
    precede SGD; ``w += y x`` sums each class's inputs into a centroid direction).

    For an inner product ``z = u . (c w)`` on the prediction path (as
    :func:`gradient_update`), Learn rewrites ``w`` as ``w +/- delta`` where ``delta``
    depends on the label and on the features but not on the prediction (no error: the
    step does not correct the model, it accumulates). Shows: the increment, its
    product and the inner product.
    """
    found: set[Position] = set()
    for z, _u, loc, _scale in f.contractions():
        for inc in f.increments(loc) or []:
            d = inc.delta
            if (
                f.depends(d, f.y)
                and f.depends(d, f.x)
                and f.sign[d] != ZER
                and not f.depends(d, f.prediction)
                and not any(f.orientation(a) for a in f.anc[d] | {d})
            ):
                path = [m for fa in f.factors(d) for m in fa.path]
                found |= f.where([inc.acc, d, *path], LEARN) | f.where([z], PREDICT)
    return found


@detector(
    "delayed_gradient_update",
    "SGD delayed through memory: w += a step that the previous Learn computed",
)
def delayed_gradient_update(f: Flow) -> set[Position]:
    """A gradient-descent step applied one example late (Real et al. 2020, Sec. 4.1: the
    demo's searches often store ``rate (y - p) x`` in memory and add it to the weights in
    the next Learn, before computing the new one).

    As :func:`gradient_update`, but the increment of ``w`` reads another location ``g``
    (maybe scaled by data-free factors) whose value, written by the previous Learn, is the
    product with exactly one error factor ``y - q`` or ``q - y``, where ``q`` is the
    prediction or one recomputed in Learn from ``w``; the error, its input factor and the
    descent sign are checked on that product (its other factors data-free, or scale
    statistics). Shows: the stored step's instructions and the update.
    """
    found: set[Position] = set()
    for z, u, loc, w_scale in f.contractions():
        g = f.gain(z, f.state[loc])
        scale, inputs = _input_side(f, u)
        if g is None or not inputs:
            continue
        sign = mul_signs(g[0], _signs(f, [*scale, *w_scale]))
        for inc in f.increments(loc) or []:
            outer = f.factors(inc.delta)
            for k, fa in enumerate(outer):
                stored = f.nodes[fa.node].loc
                if fa.inverted or f.nodes[fa.node].op != "state" or stored in (None, loc):
                    continue
                assert stored is not None
                value = f.step_end.get(stored)
                if value is None or not f.learn_writes(stored):
                    continue
                inner = f.factors(value)
                w_state = f.state[loc]
                errors = [
                    j for j, e in enumerate(inner) if not e.inverted and _error(f, e.node, w_state)
                ]
                if len(errors) != 1:
                    continue
                error = inner[errors[0]]
                others = [*outer[:k], *outer[k + 1 :], *inner[: errors[0]], *inner[errors[0] + 1 :]]
                orient = POS if _error(f, error.node, w_state) * inc.sign > 0 else NEG
                term = _descent_term(f, others, inputs, mul_signs(sign, orient))
                if term is not None:
                    paths = [m for e in inner for m in e.path]
                    found |= f.where([error.node, value, *paths, *term, inc.acc, fa.node])
    return found


def _error(f: Flow, n: int, w_state: int) -> int:
    """+1 for ``y - q``, -1 for ``q - y``, else 0, where ``q`` is the prediction or a
    prediction recomputed in Learn from the weights ``w_state`` (maybe already updated):
    computed from the features and the weights, not from the label."""
    node = f.nodes[n]
    if node.op != "SCALAR_DIFF":
        return 0
    for q, other, sign in ((node.args[1], node.args[0], 1), (node.args[0], node.args[1], -1)):
        if other != f.y:
            continue
        if q == f.prediction or (
            f.depends(q, f.x) and f.depends(q, w_state) and not f.depends(q, f.y)
        ):
            return sign
    return 0


@detector(
    "backprop",
    "backpropagation: a hidden layer's update carries the error through the output weights",
)
def backprop(f: Flow) -> set[Position]:
    """Backpropagation through a hidden layer (Real et al. 2020, Sec. 4.1, Fig. 5: the
    2-layer network's gradient rediscovered on teacher tasks).

    On the prediction path, a matrix-vector product ``W u`` (``u`` computed from the
    features, ``W`` read from memory) whose result reaches the prediction through other
    learned weights ``v``; Learn rewrites ``W`` as ``W +/- delta`` where ``delta``
    depends on an error ``y - p`` (or ``p - y``), on the features, and on ``v`` other
    than through the prediction (the error carried back through the output weights,
    before or after their own update). A fixed random feedback matrix in
    place of ``v`` is not backpropagation, nor is an update that is always zero (the
    damaged net's, whose weights start at zero). Shows: the product and the hidden
    update.
    """
    found: set[Position] = set()
    for n in f.prediction_path:
        node = f.nodes[n]
        if node.op != "MATRIX_VECTOR_PRODUCT":
            continue
        w_node, u = node.args
        w_loc = f.nodes[w_node].loc
        if f.nodes[w_node].op != "state" or w_loc is None or not f.depends(u, f.x):
            continue
        outputs = [
            v
            for v in f.learned
            if v != w_loc and f.state[v] in f.prediction_path and f.state[v] not in f.anc[n]
        ]
        for inc in f.increments(w_loc) or []:
            d = inc.delta
            errors = [a for a in f.anc[d] | {d} if f.orientation(a)]
            carried = [v for v in outputs if _reaches(f, d, f.state[v], f.prediction)]
            if errors and carried and f.depends(d, f.x) and f.sign[d] != ZER:
                path = [m for fa in f.factors(d) for m in fa.path]
                found |= f.where([n], PREDICT) | f.where([inc.acc, d, *path, *errors], LEARN)
    return found


def _reaches(f: Flow, n: int, target: int, blocked: int) -> bool:
    """Whether ``n`` is computed from ``target`` along a path that avoids ``blocked``."""
    seen, stack = set(), [n]
    while stack:
        m = stack.pop()
        if m == target:
            return True
        if m in seen or m == blocked or target not in f.anc[m]:
            continue
        seen.add(m)
        stack.extend(f.nodes[m].args)
    return False


@detector("noisy_relu", "a noisy ReLU: a fresh random draw inside the rectifier")
def noisy_relu(f: Flow) -> set[Position]:
    """A noisy ReLU (Real et al. 2020, Sec. 4.3: noise injected into the ReLU when few
    training examples are available).

    A ReLU as :func:`relu` recognizes it whose argument depends on a random draw made in
    Predict or Learn with a non-zero spread. Shows: the ReLU and the draws.
    """
    found: set[Position] = set()
    for n in f.prediction_path:
        node = f.nodes[n]
        pairs: list[tuple[int, int]] = []
        if node.op in ("SCALAR_PRODUCT", "VECTOR_PRODUCT", "MATRIX_PRODUCT"):
            for h, a in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
                hn = f.nodes[h]
                if hn.op in HEAVISIDES and hn.args[0] == a:
                    pairs.append((h, a))
        elif node.op in MAXES:
            for a, b in ((node.args[0], node.args[1]), (node.args[1], node.args[0])):
                if f.sign[b] == ZER:
                    pairs.append((n, a))
        for h, a in pairs:
            draws = _fresh_noise(f, a)
            if draws and f.depends(a, f.x):
                found |= f.where([n, h, *draws])
    return found


MEANS = frozenset({"VECTOR_MEAN", "MATRIX_MEAN"})


@detector("rate_from_weight_mean", "a learning rate read from the mean of the weights")
def rate_from_weight_mean(f: Flow) -> set[Position]:
    """A learning rate set by the weights' mean (Real et al. 2020, Sec. 4.3: with 10
    classes, evolution scaled the step by the mean of the weight matrix).

    An error step (see :func:`learning_rate`) with a factor that is the mean of a vector
    or matrix computed from learned memory and from neither the features nor the label
    of the step. Shows: the mean and the instructions applying it.
    """
    found: set[Position] = set()
    for step in f.error_steps():
        for fa in step.others():
            node = f.nodes[fa.node]
            if node.op not in MEANS or fa.inverted:
                continue
            arg = node.args[0]
            if f.depends(arg, f.x, f.y):
                continue
            if any(f.depends(arg, f.state[loc]) for loc in f.learned):
                found |= f.where([fa.node, *f.applying(fa)])
    return found
