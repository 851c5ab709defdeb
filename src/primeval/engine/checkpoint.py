"""Checkpoints: named numpy arrays and JSON metadata in one file, written atomically.

A checkpoint is an ``.npz`` archive (no pickle: numeric and string arrays only) holding the
arrays, a ``__meta__`` entry (JSON text: schema version and whatever the caller records)
and a ``__sha256__`` entry over all of them, in name order. Saving writes a temporary file
in the same folder, moves the current checkpoint aside as ``<name>.prev.npz`` and moves the
new one into place (``os.replace``), so at every moment one complete checkpoint exists;
loading checks the digest and falls back to the previous checkpoint if the current one is
missing, truncated or corrupt (as the Ray Tune searchers do, temp file then replace).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "primeval.checkpoint/1"
_META = "__meta__"
_DIGEST = "__sha256__"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (missing, truncated, corrupt or of another schema)."""


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def previous_path(path: Path) -> Path:
    return path.with_name(path.stem + ".prev" + path.suffix)


def save_checkpoint(path: str | Path, arrays: Mapping[str, np.ndarray], meta: Any) -> None:
    """Write ``arrays`` and JSON-ready ``meta`` to ``path`` (an ``.npz`` name), atomically."""
    path = Path(path)
    content = {name: np.asarray(a) for name, a in arrays.items()}
    for name, a in content.items():
        if name.startswith("__") or a.dtype.hasobject:
            raise ValueError(f"cannot checkpoint {name!r}: reserved name or object array")
    content[_META] = np.array(json.dumps({"schema": SCHEMA, "meta": meta}))
    content[_DIGEST] = np.array(_digest(content))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **content)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.replace(path, previous_path(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> tuple[dict[str, np.ndarray], Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            content = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None
    digest = content.pop(_DIGEST, None)
    if digest is None or _META not in content or str(digest) != _digest(content):
        raise CheckpointError(f"{path}: corrupt checkpoint (checksum mismatch)")
    header = json.loads(str(content.pop(_META)))
    if header.get("schema") != SCHEMA:
        raise CheckpointError(f"{path}: checkpoint schema {header.get('schema')!r}, not {SCHEMA}")
    return content, header["meta"]


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], Any, list[str]]:
    """The arrays and metadata of the newest good checkpoint at ``path`` (or its previous
    one), and warnings about any checkpoint that had to be skipped."""
    path = Path(path)
    try:
        arrays, meta = _read(path)
        return arrays, meta, []
    except CheckpointError as first:
        previous = previous_path(path)
        if not previous.exists():
            raise
        arrays, meta = _read(previous)
        return arrays, meta, [f"{first}; using the previous checkpoint {previous.name}"]
