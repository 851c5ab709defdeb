"""The lineage of a compiled search: mutation labels, and the archive of ancestors kept
bounded (:class:`~primeval.algorithms.evolve.CompiledSearch` with ``lineage=True``).

The compiled loop archives every member that was a parent when it leaves the population;
here the archive is pruned to the rows some member descends from and, past its memory bound,
thinned to a staircase of fitness changes (:func:`thin`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from primeval.algorithms.interpret import search_state as ss
from primeval.algorithms.interpret.search_tables import (
    COMPONENT_SLOTS,
    M_SEVERAL,
    MUTATIONS,
    WHOLE,
    mutation_code,
)
from primeval.algorithms.lineage import needed

SEVERAL = mutation_code(M_SEVERAL, WHOLE)
"""Mutation code of a candidate whose parent was thinned out of the archive (several
mutations separate it from its recorded parent)."""

_PSEUDO = ["initial", "copy", "random", "migrant", "several"]  # codes M_INITIAL..M_SEVERAL


def mutation_label(code: int) -> str:
    """The lineage log's mutation code as text (``"alter_param learn"``)."""
    kind, comp = divmod(int(code), COMPONENT_SLOTS)
    names = [m.value for m in MUTATIONS] + _PSEUDO
    where = ("setup", "predict", "learn", "")[comp]
    return f"{names[kind]} {where}".strip()


def positions(ids: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Where each queried id is in ``ids`` (-1 if absent; the last occurrence if repeated)."""
    by_id = np.argsort(ids, kind="stable")
    sorted_ids = ids[by_id]

    def find(x: np.ndarray) -> np.ndarray:
        k = np.searchsorted(sorted_ids, x, side="right") - 1
        hit = k >= 0
        hit[hit] = sorted_ids[k[hit]] == x[hit]
        return np.where(hit, by_id[np.maximum(k, 0)], -1) if len(ids) else np.full(len(x), -1)

    return find


def _keep_rows(archive: ss.Archive, keep: np.ndarray) -> int:
    for field in archive:
        field[: len(keep)] = field[keep]
    return len(keep)


def prune(archive: ss.Archive, used: int, pop: ss.Population, count: int, best: ss.Best) -> int:
    """Drop the archived rows (of the first ``used``) that no member (of the first ``count``)
    nor the best descends from; returns how many rows remain."""
    members = pop.order[:count] if count < len(pop.order) else pop.order
    seeds = np.concatenate([pop.parents[members], best.ids[: ss.BEST_PARENT + 1]])
    keep = np.flatnonzero(needed(archive.ids[:used], archive.parents[:used], seeds))
    return _keep_rows(archive, keep)


def thin(archive: ss.Archive, used: int, pop: ss.Population, best: ss.Best, target: int) -> int:
    """Drop archived ancestors until at most ``target`` remain, relinking each child to
    its nearest kept ancestor (its mutation becomes ``several``): first the neutral ones
    (fitness equal to their parent's, the flat steps of the staircase), then every other
    one among the oldest. Chains still run from an initial program to every member and
    keep every change of fitness but the oldest ones'; memory stays bounded in a search of
    any length. Returns how many rows remain."""
    ids, parents, fitness = archive.ids[:used], archive.parents[:used], archive.fitness[:used]
    row_of = positions(ids)

    up = row_of(parents)  # each row's parent row, -1 when not archived
    drop = (up >= 0) & (fitness == fitness[np.maximum(up, 0)])
    while (excess := used - int(drop.sum()) - target) > 0:
        rest = np.flatnonzero(~drop & (parents >= 0))  # roots stay
        if len(rest) == 0:
            break
        rest = rest[np.argsort(ids[rest], kind="stable")]
        drop[rest[: 2 * excess : 2]] = True
    # Nearest kept ancestor of each dropped row, by pointer jumping.
    to_id, to_row = parents.copy(), up.copy()
    while True:
        bad = np.flatnonzero(drop & (to_row >= 0))
        bad = bad[drop[to_row[bad]]]
        if len(bad) == 0:
            break
        to_id[bad], to_row[bad] = to_id[to_row[bad]], to_row[to_row[bad]]

    def relink(pointers: np.ndarray, muts: np.ndarray) -> None:
        r = row_of(pointers)
        hit = r >= 0
        hit[hit] = drop[r[hit]]
        pointers[hit] = to_id[r[hit]]
        muts[hit] = SEVERAL

    relink(archive.parents[:used], archive.muts[:used])
    relink(pop.parents, pop.muts)
    best_parent = best.ids[ss.BEST_PARENT : ss.BEST_PARENT + 1].copy()
    best_mut = best.ids[ss.BEST_MUTATION : ss.BEST_MUTATION + 1].copy()
    relink(best_parent, best_mut)
    best.ids[ss.BEST_PARENT], best.ids[ss.BEST_MUTATION] = best_parent[0], best_mut[0]
    return _keep_rows(archive, np.flatnonzero(~drop))
