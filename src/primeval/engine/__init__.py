"""The generic search engine: it knows genomes, fitness and budgets, not what it searches.

Algorithms (AutoML-Zero programs), layers and architectures plug in through
the :class:`~primeval.engine.genome.GenomeSpace` and
:class:`~primeval.engine.genome.Evaluator` protocols.
"""

from primeval.engine.clock import SimulatedClock
from primeval.engine.genome import Evaluator, GenomeSpace, Individual
from primeval.engine.search import Search, SearchProgress, SearchResult
from primeval.engine.strategies import RandomSearch, RegularizedEvolution, Strategy

__all__ = [
    "Evaluator",
    "GenomeSpace",
    "Individual",
    "RandomSearch",
    "RegularizedEvolution",
    "Search",
    "SearchProgress",
    "SearchResult",
    "SimulatedClock",
    "Strategy",
]
