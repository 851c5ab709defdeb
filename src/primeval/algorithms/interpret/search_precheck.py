"""The static pre-check of :mod:`primeval.algorithms.precheck` on a program row in
compiled code: with the row's live mask (``search_rows.live_mask_into``), whether a live
Learn instruction reads the label and a live Predict instruction reads the features.
"""

from __future__ import annotations

from numba.extending import register_jitable

from primeval.algorithms.interpret.search_tables import ARITY, IN1
from primeval.algorithms.memory import FEATURES, LABEL

_SCALAR, _VECTOR = 0, 1  # search_tables.KIND_CODE
_PREDICT, _LEARN = 1, 2


def _reads(t, ops, args, lens, mask, c, kind, address):
    """Whether a live instruction of component ``c`` reads ``kind`` memory at ``address``."""
    tab = t.ops
    base = t.offsets[c]
    for i in range(base, base + lens[c]):
        if not mask[i]:
            continue
        code = ops[i]
        for slot in range(tab[code, ARITY]):
            if tab[code, IN1 + slot] == kind and args[i, slot] == address:
                return True
    return False


def learns_from_data_row(t, ops, args, lens, mask):
    """``precheck.learns_from_data`` of a row whose live mask is ``mask``."""
    return _reads(t, ops, args, lens, mask, _LEARN, _SCALAR, LABEL) and _reads(
        t, ops, args, lens, mask, _PREDICT, _VECTOR, FEATURES
    )


_jit = register_jitable(error_model="numpy")
for _fn in (_reads, learns_from_data_row):
    _jit(_fn)
