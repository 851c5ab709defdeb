"""Shared fixtures."""

from __future__ import annotations

import os

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
