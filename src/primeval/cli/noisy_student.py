"""``primeval noisy-student``: Noisy Student self-training (Xie et al. 2020) with PyTorch."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from primeval.cli.app import app, console, err_console, fail, user_errors


def _row(r: dict[str, Any]) -> str:
    return (
        f"{r['iteration']:>9}  {r['role']:<8} {r['width']:>5.2f}  {100 * r['test_accuracy']:>6.2f}"
        f"  {100 * r['corrupted_mean']:>9.2f}"
    )


@app.command("noisy-student")
def noisy_student(
    dataset: Annotated[
        str, typer.Option(help="mnist, digits, mnist1d or cifar10 (with --data-path).")
    ] = "mnist",
    labels_per_class: Annotated[int, typer.Option(help="Labeled examples per class.")] = 10,
    iterations: Annotated[int, typer.Option(help="Students after the first teacher.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the split, the models and the noise.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default runs/noisy-student-DATASET-...).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue the run in this folder from its last finished iteration."),
    ] = None,
    no_noise: Annotated[
        bool,
        typer.Option("--no-noise", help="Students without RandAugment, dropout, stoch. depth."),
    ] = False,
    hard_labels: Annotated[
        bool, typer.Option("--hard-labels", help="One-hot pseudo-labels instead of soft ones.")
    ] = False,
    no_balance: Annotated[
        bool, typer.Option("--no-balance", help="Do not balance the pseudo-labeled classes.")
    ] = False,
    confidence: Annotated[
        float, typer.Option(help="Drop unlabeled examples the teacher is less sure of.")
    ] = 0.3,
    unlabeled: Annotated[
        int | None, typer.Option(help="Size of the unlabeled pool (default 3000; 0: all).")
    ] = None,
    image_size: Annotated[
        int | None, typer.Option(help="Image side after block averaging (MNIST default 14).")
    ] = None,
    teacher_steps: Annotated[int | None, typer.Option(help="Teacher SGD steps.")] = None,
    student_steps: Annotated[int | None, typer.Option(help="SGD steps per student.")] = None,
    controls: Annotated[
        bool,
        typer.Option("--controls", help="Also train the controls (noised, labeled examples only)."),
    ] = False,
    data_path: Annotated[str | None, typer.Option(help="CIFAR-10's archive or folder.")] = None,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary (every model's accuracy) as JSON.")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Self-training: a teacher labels unlabeled data; a larger, noised student learns from it;
    the student becomes the teacher (Xie et al. 2020, "Self-training with Noisy Student")."""
    from primeval.labels import NoisyStudent, NoisyStudentConfig
    from primeval.labels.loop import CONTROLS

    # NoisyStudentError and bad settings are ValueErrors.
    errors: tuple[type[BaseException], ...] = (ValueError, *user_errors())
    try:
        if resume is not None:
            if out is not None:
                fail("--resume continues the run in its own folder; leave out --out")
            ns = NoisyStudent.resume(resume)
        else:
            changes: dict[str, Any] = {
                "dataset": dataset,
                "labels_per_class": labels_per_class,
                "iterations": iterations,
                "seed": seed,
                "noise": not no_noise,
                "hard_labels": hard_labels,
                "balance": not no_balance,
                "confidence": confidence,
                "threads": threads,
                "device": device,
                "data_path": data_path,
            }
            if dataset != "mnist" or image_size is not None:
                changes["image_size"] = image_size
            if unlabeled is not None:
                changes["unlabeled"] = unlabeled or None
            for key, value in (("teacher_steps", teacher_steps), ("student_steps", student_steps)):
                if value is not None:
                    changes[key] = value
            config = NoisyStudentConfig(**changes)
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            ns = NoisyStudent(
                config, out or Path("runs") / f"noisy-student-{dataset}-s{seed}-{stamp}"
            )
        ns.progress = not quiet and not as_json and err_console.is_terminal
        ns.log = None if as_json or quiet else console.print
        summary = ns.run()
        if controls:
            summary["controls"] = {name: ns.run_control(name) for name in CONTROLS}
    except errors as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console.print(f"iteration  role     width  test %  corrupted %   ({ns.out})")
    for r in summary["iterations"]:
        console.print(_row(r), highlight=False)
    for name, r in summary.get("controls", {}).items():
        console.print(
            f"control {name}: test {100 * r['test_accuracy']:.2f} %, corrupted "
            f"{100 * r['corrupted_mean']:.2f} %",
            highlight=False,
        )
    console.print(f"report: {ns.out / 'report' / 'index.html'}")
