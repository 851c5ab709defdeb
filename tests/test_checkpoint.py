"""Checkpoint files: round trip, atomic rotation, corruption detected, fallback to previous."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from primeval.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    previous_path,
    save_checkpoint,
)


def _arrays(k: int) -> dict[str, np.ndarray]:
    return {
        "pop.ops": np.arange(12, dtype=np.int64).reshape(3, 4) + k,
        "pop.fitness": np.array([0.5, -np.inf, np.nan]),
        "rng": np.array('{"state": 1}'),
    }


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _arrays(0), {"evaluations": 7})
    arrays, meta, warnings = load_checkpoint(path)
    assert meta == {"evaluations": 7} and warnings == []
    for name, a in _arrays(0).items():
        np.testing.assert_array_equal(arrays[name], a)
        assert arrays[name].dtype == a.dtype


def test_second_save_keeps_the_first_as_previous(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _arrays(0), 1)
    save_checkpoint(path, _arrays(1), 2)
    assert load_checkpoint(path)[1] == 2
    assert load_checkpoint(previous_path(path))[1] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "checkpoint.prev.npz"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "delete"])
def test_damaged_checkpoint_falls_back_to_previous(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _arrays(0), 1)
    save_checkpoint(path, _arrays(1), 2)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # a stored (uncompressed) array byte: the zip stays readable
        i = data.index(np.arange(12, dtype=np.int64).reshape(3, 4)[2, 3].tobytes() + b"\x0c")
        path.write_bytes(data[:i] + b"\x7f" + data[i + 1 :])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    else:
        path.unlink()
    arrays, meta, warnings = load_checkpoint(path)
    assert meta == 1
    assert len(warnings) == 1 and "previous checkpoint" in warnings[0]
    np.testing.assert_array_equal(arrays["pop.ops"], _arrays(0)["pop.ops"])


def test_damaged_without_previous_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _arrays(0), 1)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="object"):
        save_checkpoint(tmp_path / "c.npz", {"x": np.array([{}], dtype=object)}, None)
    assert list(tmp_path.iterdir()) == []
