"""Small SVG line and scatter plots, written by hand (no plotting dependency).

Enough for the run folder's figures: axes with round ticks, lines, shaded bands,
points and a legend. The output is plain SVG 1.1 text that browsers and editors open.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def nice_ticks(lo: float, hi: float, count: int = 8) -> list[float]:
    """Round numbers spanning [lo, hi], about ``count`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _fmt(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e5 else f"{x:.0f}"


class SvgPlot:
    """One axes box; data coordinates in, SVG text out."""

    def __init__(
        self,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        width: int = 760,
        height: int = 460,
    ) -> None:
        if not xlim[1] > xlim[0] or not ylim[1] > ylim[0]:
            raise ValueError(f"empty plot range: x {xlim}, y {ylim}")
        self.xlim, self.ylim = xlim, ylim
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 70, 20, 40, 55
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.parts: list[str] = []
        self.legend: list[tuple[str, str, str]] = []  # label, color, kind
        self.legend_at = "lower right"  # or "upper left"

    def _x(self, x: float) -> float:
        w = self.width - self.left - self.right
        return self.left + (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * w

    def _y(self, y: float) -> float:
        h = self.height - self.top - self.bottom
        return self.top + (1 - (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0])) * h

    def _path(self, xs: Sequence[float], ys: Sequence[float]) -> list[str]:
        """Polyline segments through the finite points (a NaN breaks the line)."""
        segments: list[str] = []
        current: list[str] = []
        for x, y in zip(xs, ys, strict=True):
            if math.isfinite(x) and math.isfinite(y):
                yc = min(max(y, self.ylim[0]), self.ylim[1])
                current.append(f"{self._x(x):.1f},{self._y(yc):.1f}")
            elif current:
                segments.append(" ".join(current))
                current = []
        if current:
            segments.append(" ".join(current))
        return segments

    def step(
        self, xs: Sequence[float], ys: Sequence[float], color: str, label: str = "", **kw: Any
    ) -> None:
        """A staircase through the points (x ascending): each y holds until the next x."""
        sx: list[float] = []
        sy: list[float] = []
        for k, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if k:
                sx.append(x)
                sy.append(sy[-1])
            sx.append(x)
            sy.append(y)
        self.line(sx, sy, color, label, **kw)

    def line(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        color: str,
        label: str = "",
        width: float = 2.0,
        dash: str = "",
    ) -> None:
        style = f' stroke-dasharray="{dash}"' if dash else ""
        for seg in self._path(xs, ys):
            self.parts.append(
                f'<polyline points="{seg}" fill="none" stroke="{color}" '
                f'stroke-width="{width}"{style}/>'
            )
        if label:
            self.legend.append((label, color, "line"))

    def band(
        self, xs: Sequence[float], lo: Sequence[float], hi: Sequence[float], color: str
    ) -> None:
        keep = [
            (x, a, b)
            for x, a, b in zip(xs, lo, hi, strict=True)
            if math.isfinite(x) and math.isfinite(a) and math.isfinite(b)
        ]
        if len(keep) < 2:
            return
        clip = self.ylim
        upper = [
            f"{self._x(x):.1f},{self._y(min(max(b, clip[0]), clip[1])):.1f}" for x, _, b in keep
        ]
        lower = [
            f"{self._x(x):.1f},{self._y(min(max(a, clip[0]), clip[1])):.1f}"
            for x, a, _ in reversed(keep)
        ]
        self.parts.append(
            f'<polygon points="{" ".join(upper + lower)}" fill="{color}" fill-opacity="0.18" '
            'stroke="none"/>'
        )

    def points(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        color: str,
        label: str = "",
        radius: float = 2.5,
        opacity: float = 0.8,
    ) -> None:
        for x, y in zip(xs, ys, strict=True):
            inside = self.xlim[0] <= x <= self.xlim[1] and self.ylim[0] <= y <= self.ylim[1]
            if inside:
                self.parts.append(
                    f'<circle cx="{self._x(x):.1f}" cy="{self._y(y):.1f}" r="{radius}" '
                    f'fill="{color}" fill-opacity="{opacity}"/>'
                )
        if label:
            self.legend.append((label, color, "point"))

    def svg(self) -> str:
        w, h = self.width, self.height
        x0, x1 = self._x(self.xlim[0]), self._x(self.xlim[1])
        y0, y1 = self._y(self.ylim[0]), self._y(self.ylim[1])
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
            f'<rect width="{w}" height="{h}" fill="white"/>',
        ]
        for t in nice_ticks(*self.xlim):
            x = self._x(t)
            out.append(
                f'<line x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" y2="{y0:.1f}" stroke="#eee"/>'
            )
            out.append(f'<text x="{x:.1f}" y="{y0 + 16:.1f}" text-anchor="middle">{_fmt(t)}</text>')
        for t in nice_ticks(*self.ylim):
            y = self._y(t)
            out.append(
                f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            )
            out.append(f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
        out.append(
            f'<rect x="{x0:.1f}" y="{y1:.1f}" width="{x1 - x0:.1f}" height="{y0 - y1:.1f}" '
            'fill="none" stroke="#444"/>'
        )
        out.extend(self.parts)
        out.append(
            f'<text x="{(x0 + x1) / 2:.1f}" y="{h - 14}" text-anchor="middle">'
            f"{escape(self.xlabel)}</text>"
        )
        out.append(
            f'<text x="16" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 16 {(y0 + y1) / 2:.1f})">{escape(self.ylabel)}</text>'
        )
        out.append(
            f'<text x="{(x0 + x1) / 2:.1f}" y="24" text-anchor="middle" font-size="14">'
            f"{escape(self.title)}</text>"
        )
        longest = max((len(label) for label, _, _ in self.legend), default=0)
        if self.legend:
            bx = x0 + 6 if self.legend_at == "upper left" else x1 - 46 - 6.5 * longest
            by = y1 + 6 if self.legend_at == "upper left" else y0 - 30 - 18 * (len(self.legend) - 1)
            out.append(
                f'<rect x="{bx:.1f}" y="{by:.1f}" width="{40 + 6.5 * longest:.1f}" '
                f'height="{18 * len(self.legend) + 6}" fill="white" fill-opacity="0.8"/>'
            )
        for k, (label, color, kind) in enumerate(self.legend):
            if self.legend_at == "upper left":
                lx, ly = x0 + 12, y1 + 20 + 18 * k
            else:
                lx, ly = x1 - 40 - 6.5 * longest, y0 - 14 - 18 * (len(self.legend) - 1 - k)
            if kind == "line":
                out.append(
                    f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 22}" y2="{ly - 4}" '
                    f'stroke="{color}" stroke-width="2.5"/>'
                )
            else:
                out.append(f'<circle cx="{lx + 11}" cy="{ly - 4}" r="4" fill="{color}"/>')
            out.append(f'<text x="{lx + 28}" y="{ly}">{escape(label)}</text>')
        out.append("</svg>")
        return "\n".join(out) + "\n"


def padded(lo: float, hi: float, frac: float = 0.05) -> tuple[float, float]:
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - frac * span, hi + frac * span


def finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    vals = np.concatenate([np.ravel(a) for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (0.0, 1.0)
    return float(vals.min()), float(vals.max())
