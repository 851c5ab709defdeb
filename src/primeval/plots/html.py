"""Self-contained HTML pages: one file a user can share, figures embedded as base64 PNG.

Every helper returns an HTML fragment; text passed as *text* is escaped here, fragments
passed as *HTML* are trusted (they come from these helpers).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
table { border-collapse: collapse; } td, th { padding: 2px 12px 2px 0; text-align: left; }
th { font-weight: 600; } img { max-width: 100%; }
pre { background: #f6f6f6; padding: 1em; line-height: 1.35; overflow-x: auto; }
.note { color: #666; font-size: 0.9em; }
"""


def number(x: Any, digits: int = 6) -> str:
    """A value for a table cell: floats to ``digits`` places, integers with thousands
    separators, missing as a dash, anything else as escaped text."""
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}" if math.isfinite(x) else str(x)
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    return html.escape(str(x))


def image(data: bytes, alt: str) -> str:
    """A PNG embedded in the page."""
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table: ``header`` is text, each row's cells are HTML (e.g. from :func:`number`)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def key_values(pairs: Iterable[tuple[str, Any]], digits: int = 6) -> str:
    """A two-column table of names (text, underscores shown as spaces) and values."""
    rows = "".join(
        f"<tr><th>{html.escape(k.replace('_', ' '))}</th><td>{number(v, digits)}</td></tr>"
        for k, v in pairs
    )
    return f"<table>{rows}</table>"


def note(fragment: str) -> str:
    """A grey remark; ``fragment`` is HTML."""
    return f"<p class='note'>{fragment}</p>"


def code(text: str) -> str:
    """Preformatted text (a config, a listing), escaped."""
    return f"<pre>{html.escape(text)}</pre>"


def page(title: str, parts: Iterable[str], css: str = "") -> str:
    """A whole page: ``title`` (text) as its title and heading, then ``parts`` (HTML);
    ``css`` adds rules to the shared style sheet."""
    t = html.escape(title)
    head = f"<!doctype html><html><head><meta charset='utf-8'><title>{t}</title>"
    return "\n".join(
        [f"{head}<style>{CSS}{css}</style></head><body>", f"<h1>{t}</h1>", *parts, "</body></html>"]
    )
