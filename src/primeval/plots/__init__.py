"""Plots and pages every report shares: matplotlib figures saved as PNG (:mod:`.figures`) and
self-contained HTML pages with the figures embedded, tables and code (:mod:`.html`).

The AutoML-Zero run report (:mod:`primeval.algorithms.report`) and the NAS comparison
report (:mod:`primeval.nas.report`) are drawn with them. matplotlib is imported only when a
figure is made, so importing :mod:`primeval` does not load it.
"""

from primeval.plots.figures import DPI, figure_png, finite_range, new_figure, padded
from primeval.plots.html import code, image, key_values, note, number, page, table

__all__ = [
    "DPI",
    "code",
    "figure_png",
    "finite_range",
    "image",
    "key_values",
    "new_figure",
    "note",
    "number",
    "padded",
    "page",
    "table",
]
