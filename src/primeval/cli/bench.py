"""``primeval bench``: search throughput per core, one fresh process per measurement."""

from __future__ import annotations

import json
import math
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
) -> None:
    """Search throughput per core: whole searches, one fresh process per measurement."""
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
