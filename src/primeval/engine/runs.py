"""Run folders: what a search leaves on disk, under stable names scripts can rely on.

Every app writes the same folder through the engine (AutoML-Zero's searches, NAS
comparisons); the names below are AutoML-Zero's, NAS's differ only in ``summary.json``'s
content and its reports (see :mod:`primeval.nas.experiment`).

- ``config.yaml``     the resolved configuration
- ``progress.jsonl``  one JSON object per progress tick (``evaluations``,
                      ``elapsed_seconds``, ``best_fitness``, ...), appended
- ``best.json``       the best algorithm so far (primeval.algorithm/1 JSON)
- ``summary.json``    the outcome (``solved``, ``select_fitness``, ``final_fitness``,
                      ``evaluations``, ``elapsed_seconds``, ...)
- ``checkpoint.npz``  the islands' states, for ``--resume`` (AutoML-Zero's compiled
                      interpreter, NAS; ``checkpoint.prev.npz`` is the one before it)

``progress.jsonl`` also holds event lines (``{"event": "resumed", ...}``,
``"worker_restarted"``, ``"migration"``, ``"workers_started"``, ``"finished"``); progress
ticks are the lines without an ``event`` key.

Files are replaced atomically (temporary file + ``os.replace``) so a crash never
leaves a half-written result.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked."""


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file whose content replaces ``path`` when the block ends (a temporary file in the
    same folder, synced, then ``os.replace``); if the block raises, ``path`` is untouched."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, text: str) -> None:
    with atomic_file(path) as f:
        f.write(text)


class RunFolder:
    CONFIG = "config.yaml"
    PROGRESS = "progress.jsonl"
    BEST = "best.json"
    SUMMARY = "summary.json"
    CHECKPOINT = "checkpoint.npz"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | Path) -> RunFolder:
        """A new, empty run folder; refuses to reuse one that already holds results."""
        p = Path(path)
        if p.exists() and (not p.is_dir() or any(p.iterdir())):
            raise RunFolderError(
                f"{p} already exists and is not empty; choose another --out "
                "(results are never overwritten)"
            )
        p.mkdir(parents=True, exist_ok=True)
        return cls(p)

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        p = Path(path)
        if not p.is_dir():
            raise RunFolderError(f"{p}: no such run folder")
        return cls(p)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_text(self, name: str, text: str) -> None:
        atomic_write(self.file(name), text)

    def write_json(self, name: str, obj: Any) -> None:
        self.write_text(name, json.dumps(obj, indent=1) + "\n")

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.file(name).read_text())
        except FileNotFoundError:
            raise RunFolderError(f"{self.path}: has no {name}") from None
        except json.JSONDecodeError as e:
            raise RunFolderError(f"{self.file(name)}: corrupt JSON ({e})") from None

    def append_progress(self, record: dict[str, Any]) -> None:
        with self.file(self.PROGRESS).open("a") as f:
            f.write(json.dumps(record) + "\n")

    def progress(self) -> list[dict[str, Any]]:
        """Progress ticks (event lines left out)."""
        return [r for r in self.records() if "event" not in r]

    def records(self) -> list[dict[str, Any]]:
        """Every line of ``progress.jsonl``: ticks and events (a line cut short by a killed
        run is skipped)."""
        return read_json_lines(self.file(self.PROGRESS))

    def end_progress_line(self) -> None:
        """Finish a line a killed run left half written, so appended lines parse."""
        p = self.file(self.PROGRESS)
        if p.exists() and p.stat().st_size:
            with p.open("rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")


def read_json_lines(path: Path) -> list[Any]:
    """The JSON values of a file written a line at a time (none if it is missing); a line cut
    short by a killed run is skipped."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
