"""matplotlib helpers for the run folder's figures (PNG, Agg backend).

matplotlib is imported inside :func:`new_figure`, so importing :mod:`primeval` or
:mod:`primeval.nas` does not load it. Figures are built on :class:`matplotlib.figure.Figure`
with an Agg canvas rather than through ``pyplot``: no global figure registry to close, and
no change to the backend a caller (a notebook, say) has chosen.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: figure size in pixels (width, height) and resolution of the PNG files
SIZE = (760, 460)
DPI = 100


def new_figure() -> Figure:
    """An empty ``SIZE`` figure on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(SIZE[0] / DPI, SIZE[1] / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, exactly ``SIZE`` pixels."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def padded(lo: float, hi: float, frac: float = 0.05) -> tuple[float, float]:
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - frac * span, hi + frac * span


def finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    vals = np.concatenate([np.ravel(a) for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (0.0, 1.0)
    return float(vals.min()), float(vals.max())
