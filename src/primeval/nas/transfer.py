"""The cells a search picked, looked up on other data sets of the same benchmark.

NAS-Bench-201 (Dong & Yang, ICLR 2020, Table 5) runs REA, REINFORCE, random search and
BOHB on CIFAR-10 only (its ``cifar10-valid`` split, 12,000 s budget) and reports each
run's final cell on CIFAR-10, CIFAR-100 and ImageNet16-120: the CIFAR-100 and
ImageNet16-120 columns are the CIFAR-10 search's cells evaluated there, not searches of
their own. A cell's value on a data set is deterministic: the table's 200-epoch
validation accuracy averaged over its training seeds (the benchmark's
``get_metrics(dataset, "x-valid", None, False)``), never one sampled seed.

Each data set's table is read on first use and then cached for the process
(:func:`~primeval.nas.table.load_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from primeval.nas.table import dataset_name, load_table, published


def transfer_accuracy(cells: np.ndarray, dataset: str) -> np.ndarray:
    """Mean validation accuracy over training seeds on ``dataset`` of each cell index."""
    return load_table(dataset).mean_acc[np.asarray(cells, dtype=np.intp)]


def transfer_summary(
    cells: np.ndarray, datasets: Sequence[str], strategy: str | None = None
) -> dict[str, dict[str, Any]]:
    """Per data set: mean and std over runs of the cells' accuracy there; with the
    published transfer result for ``strategy`` alongside when one is given."""
    out: dict[str, dict[str, Any]] = {}
    for name in datasets:
        canonical = dataset_name(name)
        acc = transfer_accuracy(cells, canonical)
        entry: dict[str, Any] = {
            "mean": round(float(np.mean(acc)), 4),
            "std": round(float(np.std(acc)), 4),
        }
        pub = published(canonical, strategy) if strategy is not None else None
        if pub is not None:
            entry["published_mean"], entry["published_std"] = pub.mean, pub.std
        out[canonical] = entry
    return out
