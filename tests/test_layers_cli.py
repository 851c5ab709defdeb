"""``primeval layers`` end to end on a tiny budget: search, resume, report, compare, show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from primeval.layers import baselines

TINY = {
    "archs": ["resnet", "cnn"],
    "n_train": 400,
    "n_val": 200,
    "workers": 1,
    "population_size": 3,
    "tournament_size": 2,
    "proxy": {"steps": 6, "batch_size": 16, "quality_step": 3, "quality_threshold": 0.0},
}


def _primeval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "primeval.cli", "layers", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )


@pytest.mark.slow
def test_search_writes_a_summary_resumes_and_reports(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(json.dumps(TINY))  # JSON is YAML
    out = tmp_path / "run"
    r = _primeval("search", str(config), "--max-candidates", "3", "--out", str(out), "-q")
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["candidates"] == 3
    for key in ("rejected_quality", "rejected_stability", "cache_hits", "candidates_per_hour"):
        assert key in summary
    assert summary["candidates"] == sum(
        summary[k]
        for k in ("trained", "rejected_stability", "rejected_quality", "invalid", "failed")
    )
    r = _primeval("search", "--resume", str(out), "--max-candidates", "5", "-q")
    assert r.returncode == 0, r.stderr
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["candidates"] == 5
    lines = (out / "candidates.jsonl").read_text().splitlines()
    assert len(lines) == 5 and len({json.loads(x)["id"] for x in lines}) == 5
    r = _primeval("report", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "report.html").exists() and (out / "progress.png").exists()


@pytest.mark.slow
def test_compare_prints_one_row_per_layer_arch_and_batch_size_as_json() -> None:
    r = _primeval(
        "compare",
        "bn_relu",
        "relu",
        "--arch",
        "cnn",
        "--batch-size",
        "4,16",
        "--seeds",
        "2",
        "--steps",
        "4",
        "--n-train",
        "200",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rows = out["rows"]
    assert {(x["layer"], x["batch_size"]) for x in rows} == {
        (a, b) for a in ("bn_relu", "relu") for b in (4, 16)
    }
    assert all(len(x["test"]) == 2 and 0 <= x["test_mean"] <= 1 for x in rows)
    assert {p["batch_size"] for p in out["paired"]} == {4, 16}


def test_show_prints_the_formula_and_exports_standalone_source(tmp_path: Path) -> None:
    layer = tmp_path / "s0.json"
    layer.write_text(json.dumps(baselines.evonorm_s0().to_json()))
    target = tmp_path / "evolved.py"
    r = _primeval("show", str(layer), "--export", str(target))
    assert r.returncode == 0, r.stderr
    assert "sigmoid(v1 * x) * x / sqrt(var_hwcg(x)) * gamma + beta" in r.stdout
    assert "batch-independent" in r.stdout
    assert "class EvolvedLayer" in target.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"nodes": [{"op": "frobnicate", "in": [0]}]}', "unknown op"),
        ('{"nodes": [{"op": "neg", "in": [7]}]}', "not before it"),
        ('{"nodes": [{"op": "var_hwc", "in": ["x"]}]}', "shape mismatch"),
        ("{not json", "not JSON"),
    ],
)
def test_a_bad_layer_file_is_one_line_and_a_nonzero_exit(
    tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = _primeval("show", str(bad))
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unknown_names_and_settings_are_one_line_errors(tmp_path: Path) -> None:
    r = _primeval("show", "no_such_layer")
    assert r.returncode == 2 and "neither a layer file nor a baseline" in r.stderr
    config = tmp_path / "c.yaml"
    config.write_text("archs: [resnet, transformer]\n")
    r = _primeval("search", str(config), "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "unknown architecture 'transformer'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
