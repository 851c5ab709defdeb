"""An algorithm as a standalone numpy module (``primeval export ALGO --format python``).

:func:`export_python` writes a module that imports only numpy and defines one class with
``setup()``, ``predict(x)``, ``learn(x, y)``, ``fit(X, y, epochs=...)`` and
``predict_batch(X)``. The class runs the AutoML-Zero evaluation protocol (Real et al. 2020,
"AutoML-Zero: Evolving Machine Learning Algorithms From Scratch", ICML, Sec. 4 and the
reference ``Executor``) exactly as primeval's reference interpreter does
(:mod:`primeval.algorithms.interpret.reference`), so with the same generator it reproduces
primeval's predictions bit for bit.

Every instruction is printed from the op registry by
:func:`primeval.algorithms.printing.python_line`. The few ops whose registered template
computes with a numpy reduction that rounds differently from the kernel
(:data:`KERNEL_FORM`) are exported as the kernel itself: its source, copied from the
registry into the module as a helper function, and called with the instruction's
addresses. Nothing is written per op here.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap

from primeval.algorithms import dce
from primeval.algorithms.interpret.reference import MAX_ABS_ERROR
from primeval.algorithms.ops import REGISTRY, OpSpec
from primeval.algorithms.printing import (
    IDX_HELPER,
    method_source,
    number_literal,
    python_line,
    uses_name,
)
from primeval.algorithms.program import Component, Instruction, Program

KERNEL_FORM = frozenset(spec.name for spec in REGISTRY if spec.kernel_form)
"""Ops whose registry template agrees with the kernel only to rounding (``np.std`` and a
BLAS dot where the kernel sums its own way); the export copies their kernels instead."""

_ALLOWED_GLOBALS = frozenset({"np"}) | frozenset(dir(builtins))


def _helper_name(spec: OpSpec) -> str:
    return f"_{spec.name.lower()}"


def kernel_source(spec: OpSpec) -> str:
    """The op's kernel as a module-level function named ``_<op name>``, decorator removed.

    Raises ``ValueError`` when the kernel reads a global other than ``np`` (it would not
    run in a module that imports only numpy).
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(spec.kernel)))
    fn = tree.body[0]
    if not isinstance(fn, ast.FunctionDef):
        raise ValueError(f"{spec.name}: kernel source is not a function definition")
    fn.decorator_list = []
    local = {a.arg for a in fn.args.args}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id not in local | _ALLOWED_GLOBALS
        ):
            raise ValueError(f"{spec.name}: kernel reads the global {node.id!r}")
    body = "\n".join(ast.unparse(b) for b in fn.body if not _is_docstring(b))
    params = ", ".join(a.arg for a in fn.args.args)
    return (
        f"def {_helper_name(spec)}({params}):\n"
        f'    """{spec.name}, computed as by the primeval kernel."""\n'
        + textwrap.indent(body, "    ")
        + "\n"
    )


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def _plain(text: str) -> str:
    """``text`` made safe inside the module's docstring (no escapes, no closing quotes)."""
    return text.replace("\\", "/").replace('"', "'")


def instruction_line(ins: Instruction) -> str:
    """One instruction of the exported module: its template, or a call of its copied kernel."""
    spec = ins.op
    if spec.name not in KERNEL_FORM:
        return python_line(ins)
    data = ", ".join(number_literal(x) for x in ins.data)
    return (
        f"{_helper_name(spec)}(s, v, m, {ins.in1}, {ins.in2}, {ins.out}, ({data}), rng)"
        f"  # {python_line(ins)}"
    )


_DOC = '''"""{title}

A standalone module: it needs only numpy. Exported by primeval{source}.

Memory (zeroed by fit(), then kept from setup() through every predict() and learn()):
  s: {banks.scalars} scalars; s[0] is the label (0.0 during predict), s[1] the prediction
  v: {banks.vectors} vectors of length F; v[0] holds the example's features
  m: {banks.matrices} matrices of shape (F, F)
F is the number of features, given to the constructor. Index data f (stored in [0, 1))
addresses element idx(f) = min(int(F * f), F - 1), or 0 when f is not positive.

Protocol (AutoML-Zero, Real et al. 2020; primeval's reference interpreter), as fit() runs it:
  1. zero the memory and run setup() once;
  2. for every training example, in each epoch's order: v[0] = x, s[0] = 0.0, run predict;
     for classification replace s[1] by sigmoid(s[1]); stop training if |y - s[1]| is NaN
     or above {max_abs_error!r}; then v[0] = x, s[0] = y, run learn;
  3. a prediction is v[0] = x, s[0] = 0.0, run predict, read s[1]; predict_batch() predicts
     the rows in order, and memory written by predict persists from one row to the next.
     For classification the probability of class 1 is sigmoid(s[1]), the class is
     sigmoid(s[1]) > 0.5 (a NaN prediction counts as class 0).
Random draws come from the numpy Generator (or seed) given to the constructor, in program
order; primeval's interpreter with an equal generator draws the same numbers. Arithmetic
never raises (numpy errors are ignored): overflow gives inf, invalid operations NaN.

Usage:
    alg = {class_name}(dim=X.shape[1], rng=0).fit(X, y, epochs=1)
    predictions = alg.predict_batch(X_test)
{pruned}"""'''

_INIT = """
    def __init__(self, dim, rng=None):
        self.F = int(dim)
        self.rng = np.random.default_rng(rng)
        self.s = np.zeros({banks.scalars})
        self.v = np.zeros(({banks.vectors}, self.F))
        self.m = np.zeros(({matrices}, self.F, self.F))
        self.steps = 0  # training steps (Learn calls) of the last fit()
        self.stopped = False  # whether the last fit() stopped early (|y - s[1]| NaN or too big)
        self.validation = []  # predict_batch(X_valid) after each epoch of the last fit()
"""

_PROTOCOL = '''
    def fit(self, X, y, epochs=1, order=None, classification=False, X_valid=None):
        """Zero the memory, run setup, then train as primeval's evaluator does.

        order: training-example indices for all epochs in sequence (epochs * len(X) of
        them); by default every epoch visits the examples in the given order.
        X_valid: if given, predict_batch(X_valid) runs after every completed epoch, as the
        evaluator validates (predict can write memory, so this can change what follows);
        the predictions are kept in self.validation.
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n = len(X)
        if order is None:
            order = np.tile(np.arange(n), epochs)
        order = np.asarray(order, dtype=np.int64)
        self.s[:] = 0.0
        self.v[:] = 0.0
        self.m[:] = 0.0
        self.steps = 0
        self.stopped = False
        self.validation = []
        self.setup()
        if n == 0:
            return self
        for start in range(0, len(order), n):
            for i in order[start : start + n]:
                x = X[i]
                target = float(y[i])
                self.predict(x)
                if classification:
                    with np.errstate(all="ignore"):
                        self.s[1] = 1.0 / (1.0 + np.exp(-self.s[1]))
                error = abs(target - self.s[1])
                if np.isnan(error) or error > MAX_ABS_ERROR:
                    self.stopped = True
                    return self
                self.learn(x, target)
                self.steps += 1
            if X_valid is not None:
                self.validation.append(self.predict_batch(X_valid))
        return self

    def predict_batch(self, X):
        """s[1] after predict on each row of X, in order (raw: no sigmoid)."""
        X = np.asarray(X, dtype=np.float64)
        return np.array([self.predict(x) for x in X], dtype=np.float64).reshape(len(X))
'''


def export_python(
    program: Program,
    *,
    prune: bool = True,
    class_name: str = "Algorithm",
    source: str = "",
) -> str:
    """``program`` as a standalone numpy module (see the module docstring).

    ``prune`` drops the instructions that cannot affect a prediction
    (:func:`primeval.algorithms.dce.prune` keeping every random draw when any is live, so
    predictions stay bit-identical). ``source`` (e.g. the file the algorithm came from) is
    named in the module's docstring. Raises ``ValueError`` for a program that is not well
    formed or a ``class_name`` that is not an identifier.
    """
    if not class_name.isidentifier():
        raise ValueError(f"class name {class_name!r} is not a Python identifier")
    program.validate()
    total = sum(program.sizes())
    if prune:
        program = dce.prune(program, keep_stochastic=True)
    banks = program.banks
    body = {c: [instruction_line(ins) for ins in program.function(c)] for c in Component}
    kernels = sorted(
        {ins.op.name: ins.op for c in Component for ins in program.function(c)}.items()
    )
    helpers = [kernel_source(spec) for name, spec in kernels if name in KERNEL_FORM]
    uses_idx = any(uses_name(line, "idx") for lines in body.values() for line in lines)
    kept = sum(program.sizes())
    pruned = (
        f"\n{total - kept} of {total} instructions could not affect a prediction and were "
        "left out.\n"
        if prune
        else ""
    )
    doc = _DOC.format(
        title=f"{class_name}: an algorithm evolved with AutoML-Zero, as plain numpy.",
        source=f" from {_plain(source)}" if source else "",
        banks=banks,
        class_name=class_name,
        max_abs_error=MAX_ABS_ERROR,
        pruned=pruned,
    )
    methods = [
        _INIT.format(banks=banks, matrices=max(banks.matrices, 1)),
        IDX_HELPER if uses_idx else "",
        method_source("setup", "", [], body[Component.SETUP], ""),
        method_source(
            "predict", ", x", ["v[0] = x", "s[0] = 0.0"], body[Component.PREDICT], "return s[1]"
        ),
        method_source("learn", ", x, y", ["v[0] = x", "s[0] = y"], body[Component.LEARN], ""),
        _PROTOCOL,
    ]
    parts = [
        doc,
        "\nimport numpy as np\nfrom numpy import inf, nan  # noqa: F401  (data values)\n",
        f"MAX_ABS_ERROR = {MAX_ABS_ERROR!r}  # training stops when |y - s[1]| exceeds this\n",
        *("\n" + h for h in helpers),
        f"\nclass {class_name}:\n"
        '    """Memory persists from setup() through every predict() and learn() call."""\n'
        + "".join("\n" + m.strip("\n") + "\n" for m in methods if m),
    ]
    return "\n".join(parts)
