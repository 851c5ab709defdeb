"""The primitives and aggregations a layer graph is built from, stated once.

Liu et al. (NeurIPS 2020, Table 1) build layers from element-wise operations and from
statistics over axes of a ``(B, C, H, W)`` tensor: batch-spatial ``(b,h,w)`` (BatchNorm's),
spatial ``(h,w)`` (InstanceNorm's), spatial-channel ``(h,w,c)`` (LayerNorm's) and grouped
``(h,w,c/g)`` (GroupNorm's). Each entry here carries everything derived from it: arity,
whether the inputs commute (for the canonical form), the torch expression of the generated
code, the printed formula, and the *shape kind* of the result.

A shape kind is the set of axes a value varies along, out of ``b`` (batch), ``c``
(channel) and ``s`` (spatial): the input ``x`` is ``bcs``, the trainable vectors are ``c``,
the zero constant is empty. An element-wise operation broadcasts (the union of its inputs'
kinds); a statistic removes the axes it reduces (the grouped statistic keeps ``c``, being
constant within a group only). A layer's output must be ``bcs``: the input's shape.

Semantics are total where the paper's would raise or be undefined at a point: ``sqrt`` and
``log`` act on ``|x|`` with a small ``EPS`` added (``sqrt(var + eps)`` is then exactly
BatchNorm's denominator); ``div`` is IEEE division (a zero denominator gives an infinity,
which the stability stage rejects, never an exception).
"""

from __future__ import annotations

from dataclasses import dataclass

EPS = 1e-5
#: The graph's fixed inputs, in index order: the input tensor, a zero constant and two
#: per-channel trainable vectors initialised to 0 and 1 (Liu et al. 2020, Section 3).
LEAVES: tuple[str, ...] = ("x", "zero", "v0", "v1")
LEAF_KINDS: dict[str, frozenset[str]] = {
    "x": frozenset("bcs"),
    "zero": frozenset(),
    "v0": frozenset("c"),
    "v1": frozenset("c"),
}
FULL = frozenset("bcs")


@dataclass(frozen=True)
class Primitive:
    """One operation. ``code`` and ``text`` are format strings over the inputs ``{0}``,
    ``{1}``; ``prec`` is the printed form's precedence (for parentheses).
    A statistic has ``stat`` (``mean``, ``var`` or ``m2``) and ``over`` (the axes it
    reduces: ``bhw``, ``hw``, ``hwc`` or ``hwcg``)."""

    name: str
    arity: int
    code: str
    text: str
    commutative: bool = False
    prec: int = 9  # printing precedence: 1 sum, 2 product, 3 negation, 4 power, 9 a call
    stat: str | None = None
    over: str | None = None

    def kind(self, inputs: list[frozenset[str]]) -> frozenset[str]:
        """The shape kind of the result given the inputs' kinds."""
        union = frozenset().union(*inputs)
        if self.over is None:
            return union
        removed = {"bhw": "bs", "hw": "s", "hwc": "cs", "hwcg": "s"}[self.over]
        return union - frozenset(removed)

    @property
    def batch(self) -> bool:
        """Whether the result depends on other examples of the batch."""
        return self.over == "bhw"


def _elementwise() -> list[Primitive]:
    return [
        Primitive("add", 2, "{0} + {1}", "{0} + {1}", commutative=True, prec=1),
        Primitive("mul", 2, "{0} * {1}", "{0} * {1}", commutative=True, prec=2),
        Primitive("div", 2, "{0} / {1}", "{0} / {1}", prec=2),
        Primitive("max", 2, "torch.maximum({0}, {1})", "max({0}, {1})", commutative=True),
        Primitive("neg", 1, "-{0}", "-{0}", prec=3),
        Primitive("sigmoid", 1, "torch.sigmoid({0})", "sigmoid({0})"),
        Primitive("tanh", 1, "torch.tanh({0})", "tanh({0})"),
        Primitive("exp", 1, "torch.exp({0})", "exp({0})"),
        Primitive("log", 1, "torch.log({0}.abs() + EPS)", "log|{0}|"),
        Primitive("abs", 1, "{0}.abs()", "|{0}|"),
        Primitive("square", 1, "{0} * {0}", "{0}^2", prec=4),
        Primitive("sqrt", 1, "torch.sqrt({0}.abs() + EPS)", "sqrt({0})"),
    ]


def _statistics() -> list[Primitive]:
    out = []
    for stat in ("mean", "var", "m2"):
        for over in ("bhw", "hw", "hwc", "hwcg"):
            name = f"{stat}_{over}"
            code = (
                f"self._batch({{node}}, '{stat}', {{0}})"
                if over == "bhw"
                else f"_{stat}({{0}}, '{over}', self.groups)"
            )
            out.append(Primitive(name, 1, code, f"{name}({{0}})", stat=stat, over=over))
    return out


def _table() -> dict[str, Primitive]:
    table: dict[str, Primitive] = {}
    for p in _elementwise() + _statistics():
        if p.name in table or p.name in LEAVES:
            raise ValueError(f"primitive {p.name!r} defined twice")
        table[p.name] = p
    return table


PRIMITIVES: dict[str, Primitive] = _table()
