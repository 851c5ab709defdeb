"""Bad paths given to the commands on algorithms: one line on stderr, a non-zero exit."""

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", ["show", "evaluate", "export"])
def test_a_path_through_a_file_is_one_line_not_a_traceback(tmp_path: Path, command: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", command, str(afile / "x.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "Not a directory" in lines[0]
