"""``primeval bench --against-cpp``: parsing the harness, interleaving, ratios."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from primeval import bench_cpp as C
from primeval.bench import Measurement

STEADY = """binary: x
indivs=1000 elapsed_secs=1
last progress line: indivs=9000 elapsed_secs=9
individuals/s (upstream indivs/elapsed_secs) = 1000.0
individuals/s (steady state, 9 progress lines, 8.00 s wall) = 1012.5
"""


def test_the_steady_state_rate_is_read_and_upstreams_is_the_fallback() -> None:
    assert C.parse_cpp_rate(STEADY) == 1012.5
    short = STEADY.replace(
        "individuals/s (steady state, 9 progress lines, 8.00 s wall) = 1012.5",
        "individuals/s (steady state) = n/a (need >= 2 progress lines)",
    )
    assert C.parse_cpp_rate(short) == 1000.0
    with pytest.raises(C.CppHarnessError, match="printed no rate"):
        C.parse_cpp_rate("NO PROGRESS LINES (run longer?)\n")


def fake_harness(folder: Path, built: bool = True) -> Path:
    folder.mkdir()
    for script in {p.script for p in C.PAIRS}:
        path = folder / script
        # Prints its arguments and F as the rate's digits, so the test sees what it was given.
        path.write_text(
            "#!/bin/bash\n"
            'echo "individuals/s (steady state, 2 progress lines, 1.00 s wall) = ${F:-4}$2"\n'
        )
        path.chmod(0o755)
    if built:
        (folder / "build_native").mkdir()
        (folder / "build_native" / "run_search_experiment_s5v9m2").write_text("")
    return folder


def test_a_folder_that_is_not_a_built_harness_is_refused(tmp_path: Path) -> None:
    with pytest.raises(C.CppHarnessError, match="no such folder"):
        C.check_harness(tmp_path / "nothing", C.PAIRS)
    unbuilt = fake_harness(tmp_path / "unbuilt", built=False)
    with pytest.raises(C.CppHarnessError, match=r"run \./setup\.sh"):
        C.check_harness(unbuilt, C.PAIRS)
    (unbuilt / "f16.sh").unlink()
    with pytest.raises(C.CppHarnessError, match=r"no executable f16\.sh"):
        C.check_harness(unbuilt, C.PAIRS)
    C.check_harness(fake_harness(tmp_path / "built"), C.PAIRS)


def test_a_cpp_run_gets_the_pairs_environment_seconds_and_seed(tmp_path: Path) -> None:
    folder = fake_harness(tmp_path / "h")
    f8 = next(p for p in C.PAIRS if p.name == "s10_f8")
    assert C.run_cpp(folder, f8, 0.5, 7) == 87.0  # F=8, seed 7
    assert f8.cpp_command(20, 7) == "TASK=linear F=8 ./f16.sh 20 7"


def fake_measurement(rate: float) -> Measurement:
    return Measurement(
        config="x",
        interpreter="compiled",
        fec=False,
        evaluations_per_s=rate,
        individuals_per_s=rate * 2,
        instructions_per_s=None,
        instructions_per_evaluation=None,
        peak_rss_mb=1.0,
        first_eval_s=0.1,
        seconds=1.0,
        individuals=1,
        full_evaluations=1,
        fec_hit_rate=None,
        interpreter_share=None,
    )


def test_sides_alternate_seeds_advance_and_the_ratio_is_the_median_of_rounds(
    tmp_path: Path,
) -> None:
    calls: list[tuple[str, int]] = []
    cpp_rates = iter([100.0, 100.0, 200.0])
    primeval_rates = iter([300.0, 150.0, 500.0])
    nofec = next(p for p in C.PAIRS if p.name == "demo_nofec")

    def measure(config: str, interpreter: str, fec: bool, seconds: float) -> Measurement:
        text = Path(config).read_text()
        seed = int(next(line for line in text.splitlines() if line.startswith("seed:"))[5:])
        calls.append(("primeval", seed))
        assert interpreter == "compiled" and fec is False and seconds == 2.0
        return fake_measurement(next(primeval_rates))

    def cpp(folder: Path, pair: C.Pair, seconds: float, seed: int) -> float:
        calls.append(("cpp", seed))
        return next(cpp_rates)

    [res] = C.against_cpp(tmp_path, [nofec], 2.0, 3, measure=measure, cpp=cpp)
    assert calls == [
        ("cpp", 1), ("primeval", 1), ("primeval", 2), ("cpp", 2), ("cpp", 3), ("primeval", 3)
    ]  # fmt: skip
    d = res.to_json()
    assert d["primeval"] == [300.0, 150.0, 500.0]  # evaluations/s: the FEC-off metric
    assert d["round_ratios"] == [3.0, 1.5, 2.5]
    assert d["ratio"] == 2.5
    assert d["seeds"] == [1, 2, 3]


def test_the_f8_and_f32_pairs_change_every_task_sets_dimension(tmp_path: Path) -> None:
    from primeval.config import load_config

    f32 = next(p for p in C.PAIRS if p.name == "s10_f32")
    cfg = load_config(C.pair_config(f32, 5, tmp_path))
    assert cfg.seed == 5 and cfg.tasks.dim == 32
    for tasks in (cfg.select.tasks, cfg.final.tasks):
        assert tasks is None or tasks.dim == 32


def test_the_command_refuses_a_folder_that_is_not_the_harness(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "primeval.cli", "bench", "--against-cpp", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "no such folder" in proc.stderr
