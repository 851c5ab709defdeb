"""matplotlib figures for run folders and report pages (PNG, Agg canvas).

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas rather than through
``pyplot``: no global figure registry to close, and no change to the backend a caller (a
notebook, say) has chosen. matplotlib is imported inside :func:`new_figure`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: resolution of the PNG files: a figure of ``(w, h)`` pixels is ``w / DPI`` inches wide
DPI = 100


def new_figure(size: tuple[int, int]) -> Figure:
    """An empty figure of ``size`` pixels (width, height) on an Agg canvas, its layout
    constrained so that labels stay inside it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, exactly the pixel size it was made with."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def padded(lo: float, hi: float, frac: float = 0.05) -> tuple[float, float]:
    """Axis limits around ``[lo, hi]`` with ``frac`` of the span spare on each side."""
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - frac * span, hi + frac * span


def finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    """The smallest and largest finite value of all ``arrays``; ``(0, 1)`` if there is none."""
    vals = np.concatenate([np.ravel(a) for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (0.0, 1.0)
    return float(vals.min()), float(vals.max())
