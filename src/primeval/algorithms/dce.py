"""Dead-code elimination: which instructions can affect an algorithm's predictions.

Programs evolved by AutoML-Zero (Real et al. 2020, "AutoML-Zero: Evolving Machine
Learning Algorithms From Scratch", ICML) carry many instructions whose results
are never used; an algorithm reads (and exports) better without them. This
module finds them by backward liveness analysis over the evaluation loop of the
reference interpreter:

    Setup -> Predict -> (Learn -> Predict)* -> exit
                \\_ Predict -> Predict (validation, and the next epoch)

Memory locations are whole addresses (``s3``, ``v1``, ``m0``). The interpreter
writes ``v0`` and ``s0`` before every Predict and Learn (instructions never
write them), and reads ``s1`` after every Predict (the prediction; during
training of a classifier it also replaces ``s1`` by ``sigmoid(s1)``, a read and
a write that the read already accounts for). Values persist across examples
and epochs, so the analysis iterates to a fixed point around the loop.

An instruction is live when it writes a location that is live after it. Ops
that write a single element (``VECTOR_CONST_SET``, ``MATRIX_CONST_SET``) do not
kill the rest of the vector or matrix: they count as reading and writing their
output.

Stochastic ops also consume draws from the generator. Removing a dead one
shifts every later draw, so with ``keep_stochastic=True`` (the default) every
stochastic op is kept as soon as any stochastic op is live: the generator
passed to the interpreter is shared by all later draws, including those of the
next task of a task set (``ReferenceInterpreter.fitnesses``), so any live draw
comes after every other one. The pruned program then gives bit-identical
fitness (when no draw is live at all, dead draws are removed: the generator then
ends in another state, which no prediction reads). With ``keep_stochastic=False``
dead stochastic ops are removed like any other dead code: the printed algorithm
is shorter, but its random draws differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from primeval.algorithms.memory import FEATURES, LABEL, LABELS, PREDICTION, PREDICTIONS, Banks
from primeval.algorithms.ops import REGISTRY, Kind
from primeval.algorithms.program import Function, Program

PARTIAL_WRITES = frozenset(spec.name for spec in REGISTRY if spec.partial_write)
"""Ops that write one element of their output and leave the rest as it was
(:attr:`~primeval.algorithms.ops.OpSpec.partial_write`)."""

LiveMask = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Step:
    """One instruction reduced to the locations it writes and reads."""

    out: int  # location written; -1 for a no-op
    uses: tuple[int, ...]  # locations read (the output too for a partial write)
    kills: bool  # whether the write replaces the whole location
    stochastic: bool


class _Locations:
    """Numbers every address of every bank: scalars, then vectors, then matrices."""

    def __init__(self, banks: Banks) -> None:
        self.base = {
            Kind.SCALAR: 0,
            Kind.VECTOR: banks.scalars,
            Kind.MATRIX: banks.scalars + banks.vectors,
        }

    def __call__(self, kind: Kind, address: int) -> int:
        return self.base[kind] + address


def _steps(fn: Function, loc: _Locations) -> list[_Step]:
    steps = []
    for ins in fn:
        spec = ins.op
        if spec.output is None:
            steps.append(_Step(-1, (), False, False))
            continue
        out = loc(spec.output, ins.out)
        uses = [
            loc(kind, addr) for kind, addr in zip(spec.inputs, (ins.in1, ins.in2), strict=False)
        ]
        partial = spec.name in PARTIAL_WRITES
        if partial:
            uses.append(out)
        steps.append(_Step(out, tuple(uses), not partial, spec.stochastic))
    return steps


def _backward(steps: list[_Step], live_out: set[int]) -> tuple[np.ndarray, set[int]]:
    """Live instructions of one straight-line function and the locations live at its entry."""
    live = set(live_out)
    mask = np.zeros(len(steps), dtype=bool)
    for k in range(len(steps) - 1, -1, -1):
        step = steps[k]
        if step.out < 0 or step.out not in live:
            continue
        mask[k] = True
        if step.kills:
            live.discard(step.out)
        live.update(step.uses)
    return mask, live


def live_mask(program: Program, keep_stochastic: bool = True, multiclass: bool = False) -> LiveMask:
    """Boolean masks (Setup, Predict, Learn): which instructions can affect a prediction.

    See the module docstring for the data flow analysed and for
    ``keep_stochastic``. No-ops are never live. ``multiclass``: the program runs on
    multi-class tasks, whose prediction is ``v2`` and whose label ``v1`` the interpreter
    writes before Learn and zeroes before Predict (:mod:`primeval.algorithms.memory`).
    """
    loc = _Locations(program.banks)
    setup, predict, learn = (_steps(fn, loc) for fn in program.functions)
    # Written by the interpreter before every Predict and Learn.
    inputs = {loc(Kind.SCALAR, LABEL), loc(Kind.VECTOR, FEATURES)}
    prediction = loc(Kind.SCALAR, PREDICTION)
    if multiclass:
        inputs.add(loc(Kind.VECTOR, LABELS))
        prediction = loc(Kind.VECTOR, PREDICTIONS)

    into_predict: set[int] = set()
    into_learn: set[int] = set()
    while True:
        after_predict = {prediction} | (into_learn - inputs) | (into_predict - inputs)
        predict_mask, new_into_predict = _backward(predict, after_predict)
        learn_mask, new_into_learn = _backward(learn, new_into_predict - inputs)
        if new_into_predict == into_predict and new_into_learn == into_learn:
            break
        into_predict, into_learn = new_into_predict, new_into_learn
    setup_mask, _ = _backward(setup, into_predict - inputs)

    masks = [setup_mask, predict_mask, learn_mask]
    if keep_stochastic:
        draws = [
            np.array([step.stochastic for step in steps], dtype=bool)
            for steps in (setup, predict, learn)
        ]
        # Draws read no memory, so keeping a dead one adds no uses: one pass suffices.
        if any(np.any(mask & d) for mask, d in zip(masks, draws, strict=True)):
            masks = [mask | d for mask, d in zip(masks, draws, strict=True)]
    return masks[0], masks[1], masks[2]


def prune(program: Program, keep_stochastic: bool = True, multiclass: bool = False) -> Program:
    """``program`` without the instructions :func:`live_mask` finds dead.

    With ``keep_stochastic=True`` the result has bit-identical fitness on the
    reference interpreter (and any interpreter that agrees with it).
    """
    masks = live_mask(program, keep_stochastic, multiclass)
    parts = [
        Function(fn.ops[mask], fn.args[mask], fn.data[mask])
        for fn, mask in zip(program.functions, masks, strict=True)
    ]
    return Program(parts[0], parts[1], parts[2], program.banks)


def count_live(program: Program, keep_stochastic: bool = True) -> int:
    """How many instructions of ``program`` can affect its predictions."""
    return int(sum(int(m.sum()) for m in live_mask(program, keep_stochastic)))
