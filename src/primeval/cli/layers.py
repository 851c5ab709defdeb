"""``primeval layers``: search, compare and show normalization-activation layers (EvoNorm).

Liu et al., "Evolving Normalization-Activation Layers" (NeurIPS 2020). Torch is imported
inside the commands, so ``primeval --help`` does not load it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from primeval.cli.app import app, console, err_console, fail, user_errors

layers_app = typer.Typer(
    no_args_is_help=True,
    help="Evolve normalization-activation layers (EvoNorm) with PyTorch.",
)
app.add_typer(layers_app, name="layers")


def _errors() -> tuple[type[BaseException], ...]:
    from primeval.engine.checkpoint import CheckpointError

    return (*user_errors(), ValueError, CheckpointError)


def _csv(text: str, what: str, cast: Any = str) -> list[Any]:
    try:
        items = [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError:
        fail(f"{what}: cannot read {text!r}")
    if not items:
        fail(f"{what}: {text!r} names nothing")
    return items


def _layer(ref: str) -> Any:
    """A baseline's name, a layer JSON file, a candidates record or a run folder's summary."""
    from primeval.engine.runs import RunFolder
    from primeval.layers import baselines
    from primeval.layers.search import load_layer

    if ref in baselines.NAMED:
        return baselines.named(ref)
    path = Path(ref)
    if path.is_dir():
        path = RunFolder.open(path).file(RunFolder.SUMMARY)
    if not path.exists():
        raise ValueError(
            f"{ref}: neither a layer file nor a baseline ({', '.join(baselines.NAMED)})"
        )
    return load_layer(path.read_text())


@layers_app.command("search")
def search_cmd(
    config: Annotated[
        Path | None, typer.Argument(help="YAML or JSON search settings (options override).")
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Seconds for the search.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    strategy: Annotated[
        str | None, typer.Option(help="evolution (Pareto tournament) or random (the control).")
    ] = None,
    archs: Annotated[
        str | None, typer.Option("--arch", help="Proxy architectures, e.g. resnet,mobile,cnn.")
    ] = None,
    batch_independent: Annotated[
        bool | None,
        typer.Option("--batch-independent/--batch-dependent", help="Leave out batch statistics."),
    ] = None,
    max_candidates: Annotated[
        int | None, typer.Option("--max-candidates", help="Stop after this many candidates.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Proxy training steps per candidate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Search seed.")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (training).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/layers-...).")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue a stopped run from its folder's checkpoint.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Evolve a layer on the proxy architectures; write a run folder with summary.json."""
    try:
        import yaml

        from primeval.engine.runs import RunFolder
        from primeval.layers.search import SearchSettings, search

        settings: SearchSettings | None
        if resume is not None:
            if out is not None or config is not None:
                fail("--resume continues the run in its own folder; leave out CONFIG and --out")
            folder = RunFolder.open(resume)
            if not folder.file(RunFolder.CHECKPOINT).exists():
                fail(f"{folder.path}: has no checkpoint to resume from")
            # Only the budget may change on resume: the rest defines the search.
            saved = SearchSettings.from_dict(folder.read_json("settings.json"))
            saved = saved.with_overrides(time_budget=time_budget, max_candidates=max_candidates)
            folder.write_json("settings.json", saved.to_dict())
            settings = None  # the search reads them from the folder
        else:
            base: dict[str, Any] = {}
            if config is not None:
                loaded = yaml.safe_load(config.read_text())
                if not isinstance(loaded, dict):
                    fail(f"{config}: expected a mapping of search settings")
                base = loaded
            settings = SearchSettings.from_dict(base)
            proxy = dict(settings.proxy)
            if steps is not None:
                proxy["steps"] = steps
            if device is not None:
                proxy["device"] = device
            settings = settings.with_overrides(
                time_budget=time_budget,
                workers=workers,
                strategy=strategy,
                batch_independent=batch_independent,
                max_candidates=max_candidates,
                seed=seed,
                archs=None if archs is None else tuple(_csv(archs, "--arch")),
                proxy=proxy,
            )
            SearchSettings.from_dict(settings.to_dict())  # validate the overrides
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            folder = RunFolder.create(out or Path("runs") / f"layers-{settings.strategy}-{stamp}")

        def tick(t: dict[str, Any]) -> None:
            if not quiet:
                best = t["best_fitness"]
                console.print(
                    f"{t['elapsed']:8.1f}s  candidates {t['candidates']:4d}  trained {t['ok']:3d}"
                    f"  rejected stability {t['rejected_stability']:3d} quality "
                    f"{t['rejected_quality']:3d}  cache hits {t['cache_hits']:3d}  best "
                    + ("-" if best is None else f"{best:.4f}"),
                    highlight=False,
                )

        if not quiet:
            console.print(f"primeval layers search -> {folder.path}", highlight=False)
        summary = search(folder, settings, tick)
    except _errors() as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except KeyboardInterrupt:
        fail("interrupted; continue with --resume", 130)
    best = summary["best"]
    console.print(
        f"{summary['candidates']} candidates in {summary['seconds']:.0f}s: "
        f"{summary['trained']} trained, {summary['rejected_stability']} rejected (stability), "
        f"{summary['rejected_quality']} rejected (quality), {summary['cache_hits']} cache hits; "
        f"run folder {folder.path}",
        highlight=False,
    )
    console.print(
        "best: " + ("none trained" if best is None else f"{best['formula']}  {best['accuracy']}"),
        highlight=False,
    )


@layers_app.command("compare")
def compare_cmd(
    layers: Annotated[
        list[str],
        typer.Argument(
            help="Baseline names (bn_relu, gn_relu, ln_relu, evonorm_b0, "
            "evonorm_s0, relu), layer files or run folders."
        ),
    ],
    arch: Annotated[str, typer.Option("--arch", help="Architectures, comma-separated.")] = "resnet",
    batch_size: Annotated[
        str, typer.Option("--batch-size", help="Batch sizes, comma-separated.")
    ] = "64",
    seeds: Annotated[int, typer.Option(help="Seeds per setting (0..K-1).")] = 5,
    lr: Annotated[str, typer.Option("--lr", help="Learning-rate grid, comma-separated.")] = "0.05",
    steps: Annotated[int | None, typer.Option(help="Training steps.")] = None,
    image_size: Annotated[int, typer.Option("--image-size", help="MNIST side: 28, 14 or 7.")] = 14,
    n_train: Annotated[int, typer.Option("--n-train", help="Training examples.")] = 10_000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write every run as JSON here.")] = None,
) -> None:
    """Train layers on architectures x batch sizes x seeds; test accuracy mean and s.e."""
    try:
        from primeval.layers import compare
        from primeval.layers.evaluate import ARCH_SPECS

        graphs = {}
        for ref in layers:
            graphs[Path(ref).stem if ref not in graphs and Path(ref).exists() else ref] = _layer(
                ref
            )
        archs = _csv(arch, "--arch")
        for a in archs:
            if a not in ARCH_SPECS:
                fail(f"unknown architecture {a!r}; known: {', '.join(ARCH_SPECS)}")
        batches = _csv(batch_size, "--batch-size", int)
        lrs = _csv(lr, "--lr", float)
        if seeds < 1 or min(batches) < 1 or min(lrs) <= 0:
            fail("--seeds, --batch-size and --lr must be positive")
        settings: dict[str, Any] = {"device": device}
        if steps is not None:
            settings["steps"] = steps
        data = {"size": image_size, "n_train": n_train}
        results = list(
            compare.runs(graphs, archs, batches, list(range(seeds)), lrs, settings, data, workers)
        )
    except _errors() as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    rows = compare.table(results)
    first = next(iter(graphs))
    pairs = [p for name in graphs if name != first for p in compare.paired(rows, name, first)]
    if out is not None:
        out.write_text(json.dumps({"runs": results, "rows": rows, "paired": pairs}, indent=1))
    if as_json:
        print(json.dumps({"rows": rows, "paired": pairs}, indent=1))
        return
    t = Table(title="test accuracy (%) at the best rate of the grid", box=box.SIMPLE_HEAD)
    for col in ("layer", "arch", "batch", "lr", "seeds", "mean +- s.e."):
        t.add_column(col, justify="left" if col in ("layer", "arch") else "right")
    for r in rows:
        t.add_row(
            r["layer"],
            r["arch"],
            str(r["batch_size"]),
            f"{r['lr']:g}",
            str(len(r["seeds"])),
            f"{100 * r['test_mean']:.2f} +- {100 * r['test_se']:.2f}",
        )
    console.print(t)
    for p in pairs:
        console.print(
            f"{p['a']} - {p['b']} on {p['arch']} at batch {p['batch_size']}: "
            f"{100 * p['diff_mean']:+.2f} +- {100 * p['diff_se']:.2f} points ({p['z']:.1f} s.e.)",
            highlight=False,
        )


@layers_app.command("show")
def show_cmd(
    layer: Annotated[str, typer.Argument(help="A layer file, run folder or baseline name.")],
    source: Annotated[bool, typer.Option("--source", help="Print standalone PyTorch.")] = False,
    export: Annotated[
        Path | None, typer.Option(help="Write the standalone PyTorch module to this file.")
    ] = None,
) -> None:
    """Print a layer's formula and canonical graph; export it as PyTorch source."""
    try:
        from primeval.layers.genome import canonical
        from primeval.layers.genome import formula as print_formula
        from primeval.layers.module import to_source

        g = _layer(layer)
        text = to_source(g)
        if export is not None:
            export.write_text(text)
    except _errors() as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    c = canonical(g)
    console.print(f"y = {print_formula(g)}", highlight=False)
    console.print(
        f"{len(c.nodes)} live node(s), "
        + ("batch-dependent" if c.batch_dependent else "batch-independent"),
        highlight=False,
    )
    print(json.dumps(c.to_json()))
    if source:
        print(text)
    if export is not None:
        err_console.print(f"wrote {export}", highlight=False)


@layers_app.command("report")
def report_cmd(
    run: Annotated[Path, typer.Argument(help="A layer search's run folder.")],
) -> None:
    """Draw the best layer's graph, the Pareto plot and the training curves (PNG + HTML)."""
    try:
        from primeval.engine.runs import RunFolder
        from primeval.layers.report import write_report

        path = write_report(RunFolder.open(run))
    except _errors() as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    console.print(f"wrote {path}", highlight=False)
