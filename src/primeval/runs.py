"""Run folders live in :mod:`primeval.engine.runs`; this name stays for scripts that use it."""

from primeval.engine.runs import RunFolder, RunFolderError, atomic_file, atomic_write

__all__ = ["RunFolder", "RunFolderError", "atomic_file", "atomic_write"]
