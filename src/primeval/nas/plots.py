"""The size of the NAS run folder's figures, drawn with the shared helpers of
:mod:`primeval.plots` (which :mod:`.experiment` and :mod:`.report` import through here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from primeval import plots
from primeval.plots import figure_png as figure_png
from primeval.plots import finite_range as finite_range
from primeval.plots import padded as padded

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: figure size in pixels (width, height)
SIZE = (760, 460)


def new_figure() -> Figure:
    """An empty ``SIZE`` figure on an Agg canvas."""
    return plots.new_figure(SIZE)
