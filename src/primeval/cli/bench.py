"""``primeval bench``: search throughput per core, one fresh process per measurement."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from primeval.cli.app import app, console, err_console, fail, rate, user_errors


@app.command()
def bench(
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            "-c",
            help="Config to measure (repeatable): demo, nonlinear, projected16 or a YAML file. "
            "Default: those three.",
        ),
    ] = None,
    interpreter: Annotated[
        list[str] | None,
        typer.Option(help="compiled or reference (repeatable). Default: both."),
    ] = None,
    fec: Annotated[
        bool | None,
        typer.Option("--fec/--no-fec", help="Only with FEC, or only without. Default: both."),
    ] = None,
    seconds: Annotated[
        float, typer.Option(help="Seconds of search per compiled measurement.")
    ] = 10.0,
    reference_seconds: Annotated[
        float,
        typer.Option(
            "--reference-seconds",
            help="Seconds of search per reference measurement (at most --seconds).",
        ),
    ] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    against_cpp: Annotated[
        Path | None,
        typer.Option(
            "--against-cpp",
            help="The C++ reference harness folder: measure each config pair on both sides, "
            "interleaved, and print the ratios (primeval / C++). Uses --seconds per run.",
        ),
    ] = None,
    rounds: Annotated[
        int, typer.Option(help="--against-cpp: rounds (seeds) per pair and side.")
    ] = 3,
    pair: Annotated[
        list[str] | None,
        typer.Option(
            "--pair",
            help="--against-cpp: pairs to measure (repeatable): demo_fec, demo_nofec, s10_f8, "
            "s10_f16, s10_f32, nonlinear_setup. Default: all.",
        ),
    ] = None,
) -> None:
    """Search throughput per core: whole searches, one fresh process per measurement."""
    if against_cpp is not None:
        _against_cpp(against_cpp, pair, seconds, rounds, as_json)
        return
    from primeval import bench as B
    from primeval.config import load_config

    configs = list(dict.fromkeys(config or B.CONFIGS))
    interpreters = list(dict.fromkeys(interpreter or B.INTERPRETERS))
    for name in interpreters:
        if name not in B.INTERPRETERS:
            fail(f"--interpreter must be compiled or reference, not {name!r}")
    for secs, option in ((seconds, "--seconds"), (reference_seconds, "--reference-seconds")):
        if not (math.isfinite(secs) and secs > 0):
            fail(f"{option} must be a positive number of seconds, not {secs}")
    for name in configs:
        try:
            load_config(name)
        except user_errors() as e:
            fail(str(e))
    plan = B.Plan(
        configs=tuple(configs),
        interpreters=tuple(interpreters),
        fecs=(True, False) if fec is None else (fec,),
        seconds=seconds,
        reference_seconds=reference_seconds,
    )
    errors: list[str] = []

    def started(cfg: str, on: bool, interp: str, secs: float) -> None:
        if not as_json:
            err_console.print(
                f"measuring {cfg} / {interp} / FEC {'on' if on else 'off'} ({secs:g} s) ...",
                highlight=False,
            )

    def done(m: B.Measurement) -> None:
        if as_json:
            print(json.dumps(m.to_json()), flush=True)

    def failed(e: B.BenchError) -> None:
        errors.append(str(e))
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)

    if not as_json and "compiled" in interpreters:
        err_console.print(
            "loading the compiled code (compiling it on a new machine takes minutes) ...",
            highlight=False,
        )
    try:
        results = B.run_plan(plan, on_result=done, on_error=failed, on_start=started)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    if not as_json:
        t = Table(
            title="Search throughput, one core",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        for col in (
            "config",
            "interpreter",
            "FEC",
            "indiv./s",
            "evals/s",
            "hits",
            "instr./eval",
            "Minstr./s",
            "RSS MB",
            "1st eval s",
            "vs ref.",
        ):
            t.add_column(col, justify="left" if col in ("config", "interpreter") else "right")
        for m in results:
            ips = None if m.instructions_per_s is None else m.instructions_per_s / 1e6
            t.add_row(
                m.config,
                m.interpreter,
                "on" if m.fec else "off",
                rate(m.individuals_per_s),
                rate(m.evaluations_per_s),
                "-" if m.fec_hit_rate is None else f"{100 * m.fec_hit_rate:.0f}%",
                rate(m.instructions_per_evaluation),
                rate(ips, 1),
                rate(m.peak_rss_mb),
                rate(m.first_eval_s, 2),
                "-" if m.ratio_compiled_reference is None else f"{m.ratio_compiled_reference:g}x",
            )
        Console(width=max(console.width, 120)).print(t)
    if errors:
        raise typer.Exit(1)


def _against_cpp(
    folder: Path, names: list[str] | None, seconds: float, rounds: int, as_json: bool
) -> None:
    """``primeval bench --against-cpp DIR``: side by side with the C++ reference."""
    from primeval import bench as B
    from primeval import bench_cpp as C

    chosen = list(dict.fromkeys(names or C.PAIR_NAMES))
    unknown = [n for n in chosen if n not in C.PAIR_NAMES]
    if unknown:
        fail(f"unknown pair {unknown[0]!r} (pairs: {', '.join(C.PAIR_NAMES)})")
    if rounds < 1 or not (math.isfinite(seconds) and seconds > 0):
        fail("--rounds must be >= 1 and --seconds a positive number")
    pairs = [p for p in C.PAIRS if p.name in chosen]

    def done(res: C.PairResult, r: int) -> None:
        if not as_json:
            err_console.print(
                f"{res.pair} round {r}: primeval {res.primeval[-1]:,.0f}/s, "
                f"C++ {res.cpp[-1]:,.0f}/s",
                highlight=False,
            )

    errors: tuple[type[BaseException], ...] = (B.BenchError, *user_errors())
    try:
        C.check_harness(folder, pairs)
        if not as_json:
            err_console.print("loading the compiled code ...", highlight=False)
        B.warm_compiled_cache()
        results = C.against_cpp(folder, pairs, seconds, rounds, on_round=done)
    except errors as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    if as_json:
        for res in results:
            print(json.dumps(res.to_json()), flush=True)
        return
    t = Table(
        title=f"primeval vs the C++ reference, one core each, {rounds} interleaved rounds "
        f"of {seconds:g} s",
        box=box.SIMPLE_HEAD,
        show_edge=False,
    )
    for col in ("pair", "rate", "primeval (median)", "C++ (median)", "ratio", "per round"):
        t.add_column(col, justify="left" if col in ("pair", "rate") else "right")
    for res in results:
        d = res.to_json()
        t.add_row(
            res.pair,
            "evals/s" if res.metric == "evaluations_per_s" else "indiv./s",
            rate(d["primeval_median"]),
            rate(d["cpp_median"]),
            "-" if d["ratio"] is None else f"{d['ratio']:.2f}x",
            " ".join(f"{x:.2f}" for x in d["round_ratios"]),
        )
    Console(width=max(console.width, 110)).print(t)
