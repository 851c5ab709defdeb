"""Search throughput per core: ``primeval bench --json`` as a script.

Whole searches (mutation, selection, FEC, bookkeeping and evaluation) on the demo, the
nonlinear teacher and projected classification with F = 16, with the compiled and the
reference interpreter, FEC on and off, one fresh process per measurement; one JSON line per
measurement (evaluations/s, individuals/s, instructions/s, peak RSS, first-evaluation time, the
compiled / reference ratio). The measuring code and what each field means:
``src/primeval/bench.py``. Options are those of ``primeval bench`` (``--config``,
``--interpreter``, ``--fec/--no-fec``, ``--seconds``, ``--reference-seconds``).

C++ reference figures on the same machine kind, one core: demo 37,600 individuals/s with FEC,
28,000 evaluations/s without, ~12,100 instructions per evaluation, peak RSS 24 MB; nonlinear
teacher ~20,000 individuals/s; projected classification F = 16 ~90 individuals/s at the start,
~60/s once programs grow.

Run: ``.venv/bin/python bench/throughput.py [options]`` (about 2 to 3 minutes with defaults).
"""

from __future__ import annotations

import sys

from primeval.cli import app

if __name__ == "__main__":
    app(["bench", "--json", *sys.argv[1:]])
