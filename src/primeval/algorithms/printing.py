"""Algorithms as text: a compact listing and a runnable numpy module.

- :func:`to_text` lists a program the way AutoML-Zero prints algorithms
  (``def Setup(): s2 = 0.001 ...``; Real et al. 2020, "AutoML-Zero: Evolving
  Machine Learning Algorithms From Scratch", ICML, and its reference code), one
  :meth:`Instruction.render` line per instruction.
- :func:`to_python` writes a self-contained Python module: a class holding the
  memory banks ``s``, ``v``, ``m`` with ``setup``, ``predict``, ``learn`` and
  ``fit`` methods, by default without the instructions that cannot affect the
  prediction (:mod:`primeval.algorithms.dce`). Every instruction is the op's
  registered template; data values are printed with ``repr`` so that they
  round-trip exactly, and the module reproduces the reference interpreter's
  predictions.

Two templates are replaced where numpy would raise on the instruction's data
while the kernel does not: ``rng.normal`` refuses a negative (or ``-0.0``)
standard deviation and ``rng.uniform`` a decreasing or non-finite range. Such
instructions are printed as the kernel computes them (``mean + std *
rng.standard_normal(...)``, ``low + (high - low) * rng.random(...)``), which
draws the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from primeval.algorithms import dce
from primeval.algorithms.memory import Banks
from primeval.algorithms.program import Component, Instruction, Program


def _non_negative(x: float) -> bool:
    """Whether the sign bit is clear: numpy refuses a scale or a range of ``-0.0`` as negative."""
    return math.copysign(1.0, x) > 0.0


def _normal_ok(d: tuple[float, float, float]) -> bool:
    return d[1] >= 0.0 and _non_negative(d[1])


def _uniform_ok(d: tuple[float, float, float]) -> bool:
    span = d[1] - d[0]
    return math.isfinite(span) and _non_negative(span)


Check = Callable[[tuple[float, float, float]], bool]


def _total_forms() -> dict[str, tuple[Check, str]]:
    """Per random-draw op: when its registry template is safe, and the kernel's form otherwise."""
    forms: dict[str, tuple[Check, str]] = {}
    for kind, shape in (("SCALAR", ""), ("VECTOR", "F"), ("MATRIX", "(F, F)")):
        forms[f"{kind}_GAUSSIAN_SET"] = (
            _normal_ok,
            f"{{out}} = {{mean}} + {{std}} * rng.standard_normal({shape})",
        )
        forms[f"{kind}_UNIFORM_SET"] = (
            _uniform_ok,
            f"{{out}} = {{low}} + ({{high}} - {{low}}) * rng.random({shape})",
        )
    return forms


_TOTAL_FORMS = _total_forms()


def number_literal(x: float) -> str:
    """A float literal that reads back to exactly ``x`` (``nan``/``inf`` come from numpy)."""
    return repr(float(x))


def python_line(ins: Instruction) -> str:
    """One instruction as a numpy statement over the banks ``s``, ``v``, ``m``.

    Addresses are bank indexing (``s[3]``), index data is ``idx(f)``, and the
    statement needs the names ``np``, ``F``, ``rng``, ``idx``, ``nan`` and ``inf``.
    """
    spec = ins.op
    if spec.is_noop:
        return "pass"
    template = spec.template
    if spec.name in _TOTAL_FORMS:
        ok, fallback = _TOTAL_FORMS[spec.name]
        if not ok(ins.data):
            template = fallback
    assert spec.output is not None
    fields = {"out": f"{spec.output.prefix}[{ins.out}]"}
    for slot, kind in zip(("in1", "in2"), spec.inputs, strict=False):
        fields[slot] = f"{kind.prefix}[{getattr(ins, slot)}]"
    for k, f in enumerate(spec.data):
        value = number_literal(ins.data[k])
        fields[f.name] = f"idx({value})" if f.name in ("i", "j") else value
    return template.format(**fields)


def to_text(program: Program, prune: bool = False, keep_stochastic: bool = True) -> str:
    """A compact listing in the reference's style, one rendered instruction per line.

    With ``prune=True`` the instructions that cannot affect the prediction are left out.
    """
    if prune:
        program = dce.prune(program, keep_stochastic)
    lines = []
    for comp in Component:
        lines.append(f"def {comp.name.capitalize()}():")
        lines.extend(f"  {ins.render()}" for ins in program.function(comp))
    return "\n".join(lines) + "\n"


_INIT = """
    def __init__(self, dim, rng=None):
        self.F = dim
        self.rng = np.random.default_rng() if rng is None else rng
        self.s = np.zeros({banks.scalars})
        self.v = np.zeros(({banks.vectors}, dim))
        self.m = np.zeros(({banks.matrices}, dim, dim))
"""

IDX_HELPER = '''
    def idx(self, f):
        """The element that index data ``f`` in [0, 1) names: ``int(F * f)``, clamped."""
        if not f > 0.0:
            return 0
        return min(int(f * self.F), self.F - 1) if f < 1.0 else self.F - 1
'''

_FIT = '''
    def fit(self, xs, ys, classification=False):
        """Setup, then Predict and Learn on every example in order, as the evaluator does.

        For classification the evaluator replaces s[1] by sigmoid(s[1]) between
        Predict and Learn. (The evaluator also stops when |y - s[1]| is NaN or above
        100; this loop does not.)
        """
        self.setup()
        for x, y in zip(xs, ys, strict=True):
            self.predict(x)
            if classification:
                with np.errstate(all="ignore"):
                    self.s[1] = 1.0 / (1.0 + np.exp(-self.s[1]))
            self.learn(x, y)
        return self
'''


def method_source(name: str, params: str, prologue: list[str], body: list[str], result: str) -> str:
    text = "\n".join([*prologue, *body, result])
    locals_ = [n for n in ("s", "v", "m", "F", "rng", "idx") if uses_name(text, n)]
    head = [f"    def {name}(self{params}):"]
    if locals_:
        values = ", ".join(f"self.{n}" for n in locals_)
        head.append(f"        {', '.join(locals_)} = {values}")
    lines = head + [f"        {line}" for line in prologue]
    if body:
        lines.append('        with np.errstate(all="ignore"):')
        lines.extend(f"            {line}" for line in body)
    if result:
        lines.append(f"        {result}")
    if len(lines) == 1:
        lines.append("        return None")
    return "\n".join(lines) + "\n"


def uses_name(text: str, name: str) -> bool:
    """Whether ``name`` occurs in ``text`` as an identifier (not an attribute)."""
    start = 0
    while (i := text.find(name, start)) >= 0:
        before = text[i - 1] if i > 0 else " "
        after = text[i + len(name)] if i + len(name) < len(text) else " "
        if not (before.isalnum() or before in "._") and not (after.isalnum() or after == "_"):
            return True
        start = i + 1
    return False


def to_python(
    program: Program,
    prune: bool = True,
    keep_stochastic: bool = True,
    class_name: str = "Algorithm",
) -> str:
    """The program as a runnable Python module (see the module docstring).

    The module defines ``class_name(dim, rng=None)`` with memory ``s`` (scalars),
    ``v`` (vectors of length ``F = dim``) and ``m`` (``F x F`` matrices), and
    methods ``setup()``, ``predict(x) -> float``, ``learn(x, y)`` and ``fit``.
    ``prune`` drops the instructions that cannot affect the prediction
    (``keep_stochastic`` as in :func:`primeval.algorithms.dce.live_mask`).
    Raises ``ValueError`` for a program that is not well formed.
    """
    program.validate()
    total = sum(program.sizes())
    if prune:
        program = dce.prune(program, keep_stochastic)
    body = {comp: [python_line(ins) for ins in program.function(comp)] for comp in Component}
    banks: Banks = program.banks
    header = [
        f"# An AutoML-Zero algorithm exported by primeval ({class_name}).",
        f"# Memory: {banks.scalars} scalars s[0..{banks.scalars - 1}], "
        f"{banks.vectors} vectors v[0..{banks.vectors - 1}] of length F, "
        f"{banks.matrices} matrices m of shape (F, F).",
        "# Reserved: s[0] label (0 during predict), s[1] prediction, v[0] features.",
    ]
    if prune:
        kept = sum(program.sizes())
        header.append(
            f"# {total - kept} of {total} instructions could not affect the prediction "
            "and were removed."
        )
    uses_idx = any(uses_name(line, "idx") for lines in body.values() for line in lines)
    methods = [
        _INIT.format(banks=banks),
        IDX_HELPER if uses_idx else "",
        method_source("setup", "", [], body[Component.SETUP], ""),
        method_source(
            "predict", ", x", ["v[0] = x", "s[0] = 0.0"], body[Component.PREDICT], "return s[1]"
        ),
        method_source("learn", ", x, y", ["v[0] = x", "s[0] = y"], body[Component.LEARN], ""),
        _FIT,
    ]
    return (
        "\n".join(header)
        + "\n\nimport numpy as np\nfrom numpy import inf, nan  # noqa: F401  (data values)\n\n\n"
        + f"class {class_name}:\n"
        + '    """Memory persists from setup() through every predict/learn call."""\n'
        + "".join("\n" + m.strip("\n") + "\n" for m in methods if m)
    )
