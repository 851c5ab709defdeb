"""A static pre-check: reject, before evaluation, an algorithm that cannot learn from data.

Following the data flow of :func:`~primeval.algorithms.dce.live_mask` (which
instructions can reach a prediction, around the training loop), an algorithm learns from
its examples only if

- a live Learn instruction reads the label (``s0``): otherwise nothing a prediction
  reads ever depends on a label, and the algorithm can only fit its search tasks through
  constants and random draws (the failure of unrestricted search spaces: a Learn that
  writes constants that happen to suit a fixed task set);
- a live Predict instruction reads the features (``v0``): otherwise the prediction does
  not depend on the example it is made for.

An algorithm failing either gets fitness 0 without running, as a static validity check
before evaluation (Co-Reyes et al., "Evolving Reinforcement Learning Algorithms", ICLR
2021). The compiled search makes the same check on its rows
(:mod:`primeval.algorithms.interpret.search_precheck`).
"""

from __future__ import annotations

import numpy as np

from primeval.algorithms.dce import live_mask
from primeval.algorithms.memory import FEATURES, LABEL
from primeval.algorithms.ops import Kind
from primeval.algorithms.program import Component, Function, Program


def _reads(fn: Function, mask: np.ndarray, kind: Kind, address: int) -> bool:
    """Whether a live instruction of ``fn`` reads ``kind`` memory at ``address``."""
    for k, ins in enumerate(fn):
        if not mask[k]:
            continue
        for slot_kind, addr in zip(ins.op.inputs, (ins.in1, ins.in2), strict=False):
            if slot_kind is kind and addr == address:
                return True
    return False


def problems(program: Program) -> list[str]:
    """Why ``program`` cannot learn from data: empty when it passes the pre-check."""
    _, predict_mask, learn_mask = live_mask(program)
    out = []
    if not _reads(program.function(Component.LEARN), learn_mask, Kind.SCALAR, LABEL):
        out.append("Learn never reads the label")
    if not _reads(program.function(Component.PREDICT), predict_mask, Kind.VECTOR, FEATURES):
        out.append("the prediction never depends on the features")
    return out


def learns_from_data(program: Program) -> bool:
    """Whether ``program`` passes the pre-check (see the module docstring)."""
    return not problems(program)
