"""The lineage store of a run folder: each experiment's best and its ancestors.

Real et al. (2020), "AutoML-Zero", Figure 6 follows the best algorithm's ancestors through a
search. An island tells the ancestry of its best as one compact JSON text per ancestor
(:meth:`~primeval.engine.island.Island.lineage`); the run folder keeps it as
``lineage/experiment_NNNN.json`` and, for the candidate the run finally selected,
``ancestry.json``. Files are written from the links' texts, so a chain of thousands of
ancestors never exists as dicts.
"""

from __future__ import annotations

import json
from typing import Any

from primeval.engine.runs import RunFolder

LINEAGE_FOLDER = "lineage"
ANCESTRY = "ancestry.json"
CHAIN_OPEN = ', "chain": ['


def chain_document(header: dict[str, Any], links: list[str]) -> str:
    """A lineage file: the header's fields, then ``chain`` with one link per line."""
    return json.dumps(header)[:-1] + CHAIN_OPEN + "\n" + ",\n".join(links) + "\n]}\n"


def save_chain(folder: RunFolder, experiment: int, island: int, links: list[str]) -> None:
    """The ancestry of experiment ``experiment``'s best (found on island ``island``)."""
    folder.file(LINEAGE_FOLDER).mkdir(exist_ok=True)
    folder.write_text(
        f"{LINEAGE_FOLDER}/experiment_{experiment:04d}.json",
        chain_document({"experiment": experiment, "island": island}, links),
    )


def select_chain(folder: RunFolder, key: tuple[int, ...] | None) -> None:
    """``ancestry.json``: the saved ancestry of the selected candidate's experiment, with
    ``selected`` telling whether the chain ends in the selected candidate itself (it ends in
    the experiment's best, which the selection may have passed over for an earlier one).
    ``key``: the candidate's (experiment, island, id). Only the header and the last link
    are parsed."""
    if key is None:
        return
    path = folder.file(f"{LINEAGE_FOLDER}/experiment_{key[0]:04d}.json")
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    header = json.loads(lines[0].removesuffix(CHAIN_OPEN) + "}")
    links = [line.removesuffix(",") for line in lines[1:-1] if line]
    last = json.loads(links[-1]) if links else None
    header["selected"] = last is not None and header["island"] == key[1] and last["id"] == key[2]
    folder.write_text(ANCESTRY, chain_document(header, links))
