"""Freed memory goes back to the system once :func:`release_freed_memory` has run."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from primeval.engine.heap import release_freed_memory

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")

# A 20 MiB block, mapped and freed, raises glibc's default mmap threshold; a 10 MiB block
# allocated next and freed while a later block is alive then stays in the heap, resident.
_SCRIPT = """
import sys
import numpy as np
from primeval.engine.heap import release_freed_memory

def anon_mb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

if sys.argv[1] == "fixed":
    assert release_freed_memory()
big = np.ones(20 << 20, dtype=np.uint8)
del big
before = anon_mb()
block = np.ones(10 << 20, dtype=np.uint8)
later = np.ones(256 << 10, dtype=np.uint8)
del block
print(anon_mb() - before)
"""


def _kept_mb(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return float(out.stdout)


@glibc
def test_a_freed_block_is_returned_with_the_fixed_threshold() -> None:
    assert _kept_mb("fixed") < 2.0


@glibc
def test_glibc_default_keeps_it_resident() -> None:
    """The situation the fixed threshold prevents (and the check above could miss)."""
    assert _kept_mb("default") > 8.0


def test_idempotent() -> None:
    first = release_freed_memory()
    assert release_freed_memory() == first
