"""Side by side with the AutoML-Zero C++ reference: ``primeval bench --against-cpp DIR``.

``DIR`` is the C++ reference harness (upstream's sources built with g++, plus scripts that
run its configurations and print individuals per second; its README lists them). Each
*pair* is one search configuration run on both sides: a harness script on the C++ side and
the matching primeval config through :func:`primeval.bench.measure_in_child` (a whole
search in a fresh one-thread process, compiling kept out of the clock). The two sides are
interleaved, one pair at a time, for several rounds, each round with its own seed on both
sides and the side that goes first alternating, so that a machine whose speed drifts
(shared cores, thermal limits) biases neither side. Per pair it reports every round's rate
on each side, the medians, the median of the per-round ratios (primeval / C++) and the
commands that reproduce each side.

Rates compared: the C++ side's *steady-state* individuals per second (change in
individuals between its first and last progress lines over the wall time between them), and
primeval's individuals per second of search (FEC on) or full evaluations per second (FEC
off: every individual is evaluated, as on the C++ side).

Reference: Real et al., "AutoML-Zero: Evolving Machine Learning Algorithms From Scratch",
ICML 2020 (the C++ code is its public implementation).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from primeval.bench import BenchError, Measurement, measure_in_child
from primeval.config import dump_config, load_config


@dataclass(frozen=True)
class Pair:
    """One configuration measured on both sides."""

    name: str
    script: str  # the harness script, run as ``[ENV] ./script SECONDS SEED``
    env: tuple[tuple[str, str], ...]
    config: str  # primeval's shipped config
    fec: bool
    metric: str  # the primeval Measurement field compared with the C++ rate
    base_seed: int  # round r uses base_seed + r on both sides
    overrides: tuple[tuple[str, Any], ...] = ()

    def cpp_command(self, seconds: float, seed: int) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env)
        return f"{env + ' ' if env else ''}./{self.script} {seconds:g} {seed}"


def _f(dim: int) -> tuple[tuple[str, Any], ...]:
    return tuple((f"{s}.dim", dim) for s in ("tasks", "select.tasks", "final.tasks"))


PAIRS: tuple[Pair, ...] = (
    Pair("demo_fec", "tp_fec.sh", (), "demo", True, "individuals_per_s", 1),
    Pair("demo_nofec", "tp_nofec.sh", (), "demo", False, "evaluations_per_s", 1),
    Pair(
        "s10_f8",
        "f16.sh",
        (("TASK", "linear"), ("F", "8")),
        "table_s5_linear16",
        False,
        "individuals_per_s",
        1000060,
        _f(8),
    ),
    Pair(
        "s10_f16",
        "f16.sh",
        (("TASK", "linear"), ("F", "16")),
        "table_s5_linear16",
        False,
        "individuals_per_s",
        1000060,
    ),
    Pair(
        "s10_f32",
        "f16.sh",
        (("TASK", "linear"), ("F", "32")),
        "table_s5_linear16",
        False,
        "individuals_per_s",
        1000060,
        _f(32),
    ),
    Pair(
        "nonlinear_setup", "nonlinear.sh", (), "nonlinear_setup", True, "individuals_per_s", 100001
    ),
)
PAIR_NAMES = tuple(p.name for p in PAIRS)

_STEADY = re.compile(r"individuals/s \(steady state[^)]*\) = ([0-9.]+)")
_UPSTREAM = re.compile(r"individuals/s \(upstream[^)]*\) = ([0-9.]+)")


class CppHarnessError(BenchError):
    """The harness folder is missing, unbuilt, or a script printed no rate."""


def check_harness(folder: Path, pairs: Sequence[Pair]) -> None:
    """A one-line error unless ``folder`` holds the scripts and the built binaries."""
    if not folder.is_dir():
        raise CppHarnessError(f"{folder}: no such folder (the C++ reference harness)")
    for script in sorted({p.script for p in pairs}):
        if not os.access(folder / script, os.X_OK):
            raise CppHarnessError(f"{folder}: no executable {script}; not the C++ harness")
    build = folder / os.environ.get("BUILD", "build_native")
    if not any(build.glob("run_search_experiment_*")):
        raise CppHarnessError(f"{build}: no binaries; run ./setup.sh in {folder} first")


def parse_cpp_rate(output: str) -> float:
    """The steady-state individuals/s a harness script printed (upstream's rate if the run
    was too short for two progress lines)."""
    for pattern in (_STEADY, _UPSTREAM):
        found = pattern.findall(output)
        if found:
            return float(found[-1])
    tail = (output.strip().splitlines() or ["no output"])[-1]
    raise CppHarnessError(f"the C++ run printed no rate ({tail})")


def run_cpp(folder: Path, pair: Pair, seconds: float, seed: int) -> float:
    """One C++ measurement: the pair's script for ``seconds`` with ``seed``."""
    env = {**os.environ, **dict(pair.env)}
    try:
        proc = subprocess.run(
            [f"./{pair.script}", f"{seconds:g}", str(seed)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 300,
        )
    except subprocess.TimeoutExpired:
        raise CppHarnessError(f"{pair.name}: the C++ run timed out") from None
    return parse_cpp_rate(proc.stdout + proc.stderr)


def pair_config(pair: Pair, seed: int, folder: Path) -> Path:
    """The primeval config of a pair for one round, written as YAML into ``folder``."""
    cfg = load_config(pair.config).with_overrides(seed=seed, **dict(pair.overrides))
    path = folder / f"{pair.name}-s{seed}.yaml"
    path.write_text(dump_config(cfg))
    return path


@dataclass
class PairResult:
    """Every round of one pair, both sides, and their ratios."""

    pair: str
    metric: str
    seconds: float
    seeds: list[int]
    primeval: list[float] = field(default_factory=list)
    cpp: list[float] = field(default_factory=list)
    cpp_command: str = ""
    primeval_command: str = ""

    @property
    def round_ratios(self) -> list[float]:
        return [p / c for p, c in zip(self.primeval, self.cpp, strict=False) if c > 0]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["primeval_median"] = statistics.median(self.primeval) if self.primeval else None
        d["cpp_median"] = statistics.median(self.cpp) if self.cpp else None
        ratios = self.round_ratios
        d["round_ratios"] = [round(r, 3) for r in ratios]
        d["ratio"] = round(statistics.median(ratios), 3) if ratios else None
        return d


Measure = Callable[[str, str, bool, float], Measurement]
CppRun = Callable[[Path, Pair, float, int], float]


def against_cpp(
    folder: Path,
    pairs: Sequence[Pair] = PAIRS,
    seconds: float = 20.0,
    rounds: int = 3,
    measure: Measure = measure_in_child,
    cpp: CppRun = run_cpp,
    on_round: Callable[[PairResult, int], None] | None = None,
) -> list[PairResult]:
    """Interleaved side-by-side measurements: for each round, each pair on both sides
    (C++ first in even rounds, primeval first in odd ones)."""
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    results = {
        p.name: PairResult(
            p.name,
            p.metric,
            seconds,
            [],
            cpp_command=f"cd {folder} && {p.cpp_command(seconds, p.base_seed)}  (seed + round)",
            primeval_command=f"primeval bench -c {p.config} "
            + ("--fec" if p.fec else "--no-fec")
            + f" --interpreter compiled --seconds {seconds:g}"
            + "".join(f" [{k}={v}]" for k, v in p.overrides),
        )
        for p in pairs
    }
    with tempfile.TemporaryDirectory(prefix="primeval-vs-cpp-") as tmp:
        for r in range(rounds):
            for pair in pairs:
                seed = pair.base_seed + r
                config = str(pair_config(pair, seed, Path(tmp)))
                res = results[pair.name]
                sides = ("cpp", "primeval") if r % 2 == 0 else ("primeval", "cpp")
                for side in sides:
                    if side == "cpp":
                        res.cpp.append(cpp(folder, pair, seconds, seed))
                    else:
                        m = measure(config, "compiled", pair.fec, seconds)
                        res.primeval.append(float(getattr(m, pair.metric)))
                res.seeds.append(seed)
                if on_round is not None:
                    on_round(res, r)
    return list(results.values())
