"""Programs in a compiled search's fixed-size rows, packed for migration and converted back.

Component ``c`` of a search's row occupies ``max_sizes[c] + 1`` slots from ``offsets[c]``
(:class:`~primeval.algorithms.interpret.search_tables.SearchTables`). Migration packs rows
tighter, component ``c`` at ``sum(sizes[:c])`` with zeros past its length, so that islands
exchange arrays of a few kilobytes rather than program objects.
"""

from __future__ import annotations

import numpy as np

from primeval.algorithms.evolve_arrays import new_rows
from primeval.algorithms.interpret import search_state as ss
from primeval.algorithms.interpret.search_tables import SearchTables
from primeval.algorithms.memory import Banks
from primeval.algorithms.program import Function, Program

PackedRows = dict[str, np.ndarray]
"""``ops``, ``args``, ``data`` and ``lens`` of packed programs, one per row."""


def row_program(
    tables: SearchTables,
    banks: Banks,
    ops: np.ndarray,
    args: np.ndarray,
    data: np.ndarray,
    lens: np.ndarray,
) -> Program:
    """The program in a row."""
    fns = []
    for c in range(3):
        lo = int(tables.offsets[c])
        hi = lo + int(lens[c])
        fns.append(Function(ops[lo:hi], args[lo:hi], data[lo:hi]))
    return Program(fns[0], fns[1], fns[2], banks)


def pack(
    tables: SearchTables, pop: ss.Population, index: np.ndarray, sizes: tuple[int, ...]
) -> PackedRows:
    """Population rows ``index`` packed with component sizes ``sizes``."""
    lens = pop.lens[index].astype(np.int64)
    k, width = len(index), sum(sizes)
    out = {
        "ops": np.zeros((k, width), dtype=np.int16),
        "args": np.zeros((k, width, 3), dtype=np.int16),
        "data": np.zeros((k, width, 3)),
        "lens": lens,
    }
    for c in range(3):
        lo, plo, w = int(tables.offsets[c]), sum(sizes[:c]), sizes[c]
        w = min(w, int(tables.max_sizes[c]))
        live = np.arange(w)[None, :] < lens[:, c : c + 1]
        out["ops"][:, plo : plo + w] = np.where(live, pop.ops[index, lo : lo + w], 0)
        for f in ("args", "data"):
            src = getattr(pop, f)[index, lo : lo + w]
            out[f][:, plo : plo + w] = np.where(live[:, :, None], src, 0)
    return out


def unpack(
    tables: SearchTables, rows: PackedRows, r: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row ``r`` of rows packed with the search's own ``max_sizes``, in its row layout."""
    length = tables.row_length
    ops, args, data = (
        np.zeros(length, np.int64),
        np.zeros((length, 3), np.int64),
        np.zeros((length, 3)),
    )
    plo = 0
    for c in range(3):
        lo, w = int(tables.offsets[c]), int(tables.max_sizes[c])
        ops[lo : lo + w] = rows["ops"][r, plo : plo + w]
        args[lo : lo + w] = rows["args"][r, plo : plo + w]
        data[lo : lo + w] = rows["data"][r, plo : plo + w]
        plo += w
    return ops, args, data, rows["lens"][r]


def pack_programs(programs: list[Program], banks: Banks, sizes: tuple[int, ...]) -> PackedRows:
    """The programs over memory ``banks`` whose components fit ``sizes``, packed."""
    fits = [
        q
        for q in programs
        if q.banks == banks and all(len(f) <= m for f, m in zip(q.functions, sizes, strict=True))
    ]
    k, width = len(fits), sum(sizes)
    rows = {
        "ops": np.zeros((k, width), dtype=np.int64),
        "args": np.zeros((k, width, 3), dtype=np.int64),
        "data": np.zeros((k, width, 3)),
        "lens": np.zeros((k, 3), dtype=np.int64),
    }
    for r, q in enumerate(fits):
        plo = 0
        for c, fn in enumerate(q.functions):
            rows["ops"][r, plo : plo + len(fn)] = fn.ops
            rows["args"][r, plo : plo + len(fn)] = fn.args
            rows["data"][r, plo : plo + len(fn)] = fn.data
            rows["lens"][r, c] = len(fn)
            plo += sizes[c]
    return rows


def enqueue(
    tables: SearchTables,
    queue: ss.Migrants,
    taken: int,
    waiting: int,
    rows: PackedRows,
    sizes: tuple[int, ...],
) -> tuple[ss.Migrants, int]:
    """A new migrants' queue: the rows ``taken:waiting`` of ``queue`` still to come, then
    the packed ``rows`` that fit the search's sizes; returns it and how many rows joined."""
    lens = np.asarray(rows["lens"], dtype=np.int64).reshape(-1, 3)
    fits = np.flatnonzero(np.all(lens <= tables.max_sizes[None, :], axis=1))
    keep = tuple(a[taken:waiting].copy() for a in queue)
    total = (waiting - taken) + len(fits)
    migrants = new_rows(max(total, 1), tables.row_length)
    for field, old in zip(migrants, keep, strict=True):
        field[: len(old)] = old
    new = slice(waiting - taken, total)
    for c in range(3):
        lo, plo = int(tables.offsets[c]), sum(sizes[:c])
        w = min(sizes[c], int(tables.max_sizes[c]))
        migrants.ops[new, lo : lo + w] = rows["ops"][fits, plo : plo + w]
        migrants.args[new, lo : lo + w] = rows["args"][fits, plo : plo + w]
        migrants.data[new, lo : lo + w] = rows["data"][fits, plo : plo + w]
    migrants.lens[new] = lens[fits]
    return migrants, len(fits)
