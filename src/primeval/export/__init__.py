"""Evolved algorithms outside primeval: standalone numpy modules and in-process runners.

- :func:`export_python` (``primeval export ALGO --format python``): a module that imports
  only numpy and reproduces primeval's predictions exactly;
- :class:`Machine`: a program's memory and generator run by the reference interpreter's
  kernels, with the same methods as the exported class (it backs :mod:`primeval.sklearn`);
- :func:`load_algorithm`: a program from a ``Program``, a JSON dict, a file or a run folder.
"""

from primeval.export.machine import Machine, load_algorithm
from primeval.export.python import KERNEL_FORM, export_python

__all__ = ["KERNEL_FORM", "Machine", "export_python", "load_algorithm"]
