"""Freed memory goes back to the system: glibc's heap settings for long-running searches.

glibc serves a block smaller than its *mmap threshold* from the heap and a larger one from a
mapping of its own, unmapped when freed. The threshold starts at 128 KiB, but each time a
mapped block is freed glibc raises it to that block's size (up to 32 MiB). After the first
large transient (reading an image data set, a class pair's pixels as float64), every array up
to that size comes from the heap, and a heap hands freed pages back only from its top: the
transients of building tasks stay resident for the rest of the run. In a 2-worker MNIST
search that was about 100 MB in the coordinator (bench/workers.py, projected16).

:func:`release_freed_memory` fixes the threshold at its initial value (which also stops
glibc's adjustment of the trim threshold), so blocks above it always live in their own
mappings and are returned when freed. A search calls it in each of its processes before it
allocates. Large blocks then cost a system call each, which a search makes a few of per
batch, not per candidate. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

MMAP_THRESHOLD = 128 * 1024  # bytes: glibc's initial threshold
_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers, from glibc's malloc.h
_done = False


def release_freed_memory() -> bool:
    """Fix glibc's mmap threshold (once per process); True when it is in effect."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)
    return _done
