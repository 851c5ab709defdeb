"""Shared fixtures."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from primeval.algorithms.memory import Banks
from primeval.algorithms.mutate import MutationType, Mutator, ProgramSpace
from primeval.algorithms.ops import REGISTRY


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compact copies of data sets go to this session's temporary folder, not the user's."""
    os.environ["PRIMEVAL_DATA_CACHE"] = str(tmp_path_factory.mktemp("datasets"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def all_ops_mutator() -> Mutator:
    """Every op in every component, sizes 0..8, every mutation type."""
    space = ProgramSpace.uniform(
        Banks(5, 4, 3),
        REGISTRY.names(),
        init_sizes=(3, 3, 3),
        min_sizes=(0, 0, 0),
        max_sizes=(8, 8, 8),
    )
    return Mutator(space, list(MutationType))


PER_BATCH = 60  # 6 batches x 60 images: 36 of each class, 72 per pair


@pytest.fixture(scope="session")
def cifar_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six pickled batches as the official archive holds them: uint8 ``data`` (n, 3072) in
    red, green, blue planes, ``labels`` a list; each class a noisy copy of its own template."""
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 256, (10, 3072))
    folder = tmp_path_factory.mktemp("data") / "cifar-10-batches-py"
    folder.mkdir()
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        labels = [(k * PER_BATCH + i) % 10 for i in range(PER_BATCH)]
        noise = rng.integers(0, 256, (PER_BATCH, 3072))
        data = ((templates[labels] + noise) // 2).astype(np.uint8)
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [b"img_%d.png" % i for i in range(PER_BATCH)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder
