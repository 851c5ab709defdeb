"""The shared figure and page helpers, and the reports drawn with them (the AutoML-Zero run
report is tested in test_report.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from primeval.cli import app
from primeval.nas.report import NasReportError, is_nas_run, write_page
from primeval.plots import (
    figure_png,
    finite_range,
    image,
    key_values,
    new_figure,
    number,
    padded,
    page,
    table,
)

runner = CliRunner()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("size", [(760, 460), (1100, 360), (301, 199)])
def test_a_figure_is_saved_at_the_pixel_size_it_was_made_with(size: tuple[int, int]) -> None:
    fig = new_figure(size)
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], [0, 1], label="a label")
    right.legend(*left.get_legend_handles_labels())
    assert png_size(figure_png(fig)) == size


def test_importing_the_helpers_does_not_load_matplotlib() -> None:
    code = "import sys, primeval.plots, primeval.nas.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ranges_ignore_non_finite_values() -> None:
    assert finite_range(np.array([np.nan, 2.0, -np.inf]), np.array([5.0])) == (2.0, 5.0)
    assert finite_range(np.array([np.nan])) == (0.0, 1.0)
    assert padded(0.0, 10.0) == (-0.5, 10.5) and padded(3.0, 3.0, 0.5) == (1.5, 4.5)


def test_pages_escape_text_and_format_numbers() -> None:
    assert number(None) == "–" and number(1234567) == "1,234,567" and number(0.5, 2) == "0.50"
    assert number(float("nan")) == "nan" and number(True) == "True" and number("<b>") == "&lt;b&gt;"
    text = page(
        "run <1>",
        [key_values([("select_fitness", 0.25)]), table(["a&b"], [["<i>x</i>"]])],
        css=".x { }",
    )
    assert "<title>run &lt;1&gt;</title>" in text and "<h1>run &lt;1&gt;</h1>" in text
    assert "<th>select fitness</th><td>0.250000</td>" in text
    assert "<th>a&amp;b</th>" in text and "<td><i>x</i></td>" in text  # cells are HTML
    assert ".x { }" in text and text.endswith("</body></html>")
    assert image(b"\x89PNG", 'a "plot"') == (
        '<img alt="a &quot;plot&quot;" src="data:image/png;base64,iVBORw==">'
    )


def test_the_nas_page_shows_every_strategy_and_embeds_the_figures(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = runner.invoke(app, ["nas", "--runs", "3", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert is_nas_run(out) and not is_nas_run(tmp_path)
    shown = runner.invoke(app, ["report", str(out)])  # the command picks the NAS page
    assert shown.exit_code == 0, shown.output
    path = Path(shown.stdout.strip())
    assert path == out / "report.html" and write_page(out) == path
    text = path.read_text()
    summary = json.loads((out / "summary.json").read_text())
    for s in summary["strategies"]:
        assert f"<td>{s['strategy']}</td><td>3</td><td>{s['mean']:.2f} +- " in text
    assert text.count("data:image/png;base64,") == 2
    best = json.loads((out / "best.json").read_text())
    assert best["arch"] in text and "<h2>Config</h2>" in text


def test_the_nas_page_refuses_a_folder_that_is_not_a_nas_comparison(tmp_path: Path) -> None:
    with pytest.raises(NasReportError):
        write_page(tmp_path / "missing")
    (tmp_path / "summary.json").write_text('{"solved": true}')
    (tmp_path / "best.json").write_text("{}")
    with pytest.raises(NasReportError, match="not a NAS comparison"):
        write_page(tmp_path)
