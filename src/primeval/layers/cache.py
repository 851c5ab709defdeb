"""A results cache shared by the search's worker processes, kept in the run folder.

Each line of ``cache.jsonl`` records one evaluated layer: its canonical key, its output
fingerprint and its outcome. A worker looks a candidate up by key first (the same graph up
to numbering) and by fingerprint second (another graph computing the same function, Liu
et al. 2020), reading the lines other workers appended since its last look; appends hold an
exclusive ``flock``, so lines never interleave. The file outlives the processes, so a
resumed search keeps its cache.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any


class SharedCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._by_key: dict[str, Any] = {}
        self._by_print: dict[str, Any] = {}
        self._offset = 0

    def _refresh(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
                self._by_key[rec["key"]] = rec["outcome"]
                self._by_print[rec["fingerprint"]] = rec["outcome"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
        self._offset += end

    def get(self, key: str, fingerprint: str | None) -> tuple[str, Any] | None:
        """``("key", outcome)``, ``("fingerprint", outcome)`` or None."""
        self._refresh()
        if key in self._by_key:
            return "key", self._by_key[key]
        if fingerprint is not None and fingerprint in self._by_print:
            return "fingerprint", self._by_print[fingerprint]
        return None

    def put(self, key: str, fingerprint: str, outcome: Any) -> None:
        line = json.dumps({"key": key, "fingerprint": fingerprint, "outcome": outcome}) + "\n"
        with self.path.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.write(line)
                f.flush()
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        self._by_key[key] = outcome
        self._by_print[fingerprint] = outcome
