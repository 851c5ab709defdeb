"""A compiled search's state as named arrays, for checkpoints, and back.

Every record of :class:`~primeval.algorithms.interpret.search_state.SearchArrays` that
changes during a search is saved under ``record.field`` (``pop.fitness``, ``best.ids``...),
with the counters, the archive's used rows and the generator's state (as JSON); a search
built with the same arguments continues from them exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from primeval.algorithms.evolve_arrays import new_archive, new_rows
from primeval.algorithms.interpret import search_state as ss

FIXED = ("cache.gens", "cache.restore_to", "cache.restore_from", "cache.restore_len")
"""Arrays of this process (generator addresses), not saved."""


def named_arrays(arrays: ss.SearchArrays) -> dict[str, np.ndarray]:
    """The arrays a checkpoint holds, by name (the archive apart), the fixed ones included."""
    named: dict[str, np.ndarray] = {
        f"migrants.{field}": array
        for field, array in zip(arrays.migrants._fields, arrays.migrants, strict=True)
    }
    for prefix, group in (
        ("pop", arrays.pop),
        ("cache", arrays.cache),
        ("hurdle", arrays.hurdle),
        ("best", arrays.best),
    ):
        for field, array in zip(group._fields, group, strict=True):
            named[f"{prefix}.{field}"] = array
    named["counters"] = arrays.counters
    return named


def snapshot(
    arrays: ss.SearchArrays, rng: np.random.Generator, archived: int
) -> dict[str, np.ndarray]:
    """Copies of everything needed to continue: the named arrays, the first ``archived``
    archive rows and the generator's state."""
    out = {k: a.copy() for k, a in named_arrays(arrays).items() if k not in FIXED}
    out["rng"] = np.array(json.dumps(rng.bit_generator.state))
    for field, array in zip(arrays.archive._fields, arrays.archive, strict=True):
        out[f"archive.{field}"] = array[:archived].copy()
    return out


def restore(
    state: Mapping[str, np.ndarray],
    arrays: ss.SearchArrays,
    rng: np.random.Generator,
    archive_room: int,
) -> tuple[ss.Migrants, ss.Archive]:
    """Load :func:`snapshot` into ``arrays`` (in place) and ``rng``; returns the migrants'
    queue and the archive (with ``archive_room`` spare rows) to continue with. Raises
    ``ValueError``, changing nothing, if the arrays do not fit."""
    state = dict(state)
    length = arrays.pop.ops.shape[1]
    archived = {
        k.split(".", 1)[1]: np.asarray(state.pop(k))
        for k in list(state)
        if k.startswith("archive.")
    }
    waiting = np.asarray(state.get("migrants.ops", np.zeros((1, 0))))
    migrants = new_rows(max(1, waiting.shape[0]), length)
    named = named_arrays(arrays._replace(migrants=migrants))
    expected = set(named) - set(FIXED) | {"rng"}
    if set(state) != expected:
        raise ValueError("checkpoint does not match this search (different fields)")
    for key, target in named.items():
        if key in FIXED:
            continue
        value = np.asarray(state[key])
        if value.shape != target.shape or value.dtype != target.dtype:
            raise ValueError(f"checkpoint does not match this search ({key})")
    rng_state = json.loads(str(state["rng"]))
    if rng_state.get("bit_generator") != type(rng.bit_generator).__name__:
        raise ValueError("checkpoint does not match this search (generator)")
    used = len(archived.get("ids", ()))
    if set(archived) != set(ss.Archive._fields) or any(len(x) != used for x in archived.values()):
        raise ValueError("checkpoint does not match this search (archive)")
    archive = new_archive(max(1, used + archive_room), length)
    for field, target in zip(archive._fields, archive, strict=True):
        if archived[field].shape[1:] != target.shape[1:]:
            raise ValueError("checkpoint does not match this search (archive)")
    for key, target in named.items():
        if key not in FIXED:
            target[...] = state[key]
    for field, target in zip(archive._fields, archive, strict=True):
        target[:used] = archived[field]
    rng.bit_generator.state = rng_state
    return migrants, archive
