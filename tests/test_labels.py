"""Noisy Student: pseudo-label selection, the loop's run folder, resume and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from primeval.labels import NoisyStudent, NoisyStudentConfig, NoisyStudentError, balance, select

TINY = NoisyStudentConfig(
    dataset="digits",
    image_size=None,
    labels_per_class=3,
    unlabeled=200,
    test_size=100,
    corrupted_size=40,
    iterations=2,
    family="cnn",
    teacher_steps=6,
    student_steps=6,
    batch_size=16,
    seed=3,
)


def test_balance_keeps_the_most_confident_and_repeats_rare_classes() -> None:
    labels = np.array([0, 0, 0, 1, 2, 0, 1])
    conf = np.array([0.5, 0.9, 0.7, 0.4, 0.8, 0.6, 0.95])
    # class 0: by confidence 1 (.9), 2 (.7), 5 (.6), 0 (.5) -> first 2; class 1: 6 (.95), 3 (.4);
    # class 2: only 4, repeated.
    assert balance(labels, conf, 4, 2).tolist() == [1, 2, 6, 3, 4, 4]
    assert balance(labels, conf, 4, 3).tolist() == [1, 2, 5, 6, 3, 6, 4, 4, 4]


def test_select_filters_by_confidence_then_balances() -> None:
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # 0: class 0, conf .9
            [0.2, 0.5, 0.3],  # 1: class 1, conf .5
            [0.34, 0.33, 0.33],  # 2: class 0, conf .34
            [0.1, 0.1, 0.8],  # 3: class 2, conf .8
            [0.25, 0.29, 0.46],  # 4: class 2, conf .46
            [0.6, 0.2, 0.2],  # 5: class 0, conf .6
            [0.28, 0.29, 0.43],  # 6: class 2, conf .43
        ]
    )
    chosen, stats = select(probs, threshold=0.45, balanced=False)
    assert chosen.tolist() == [0, 1, 3, 4, 5]
    assert stats["class_counts_before"] == [3, 1, 3]
    assert stats["class_counts_filtered"] == [2, 1, 2]
    chosen, stats = select(probs, threshold=0.45, balanced=True)  # 5 kept / 3 classes -> 2 each
    assert chosen.tolist() == [0, 5, 1, 1, 3, 4]
    assert stats["class_counts_after"] == [2, 2, 2]
    assert stats["kept"] == 5 and stats["used"] == 6
    assert sum(stats["confidence_histogram"]) == 7
    chosen, _ = select(probs, threshold=0.45, balanced=True, per_class=1)
    assert chosen.tolist() == [0, 1, 3]


class Killed(BaseException):
    """The process dying at this point (not an Exception: nothing may catch it)."""


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    """A result without its timings."""
    out = {k: v for k, v in result.items() if k != "seconds"}
    out["train"] = {k: v for k, v in result["train"].items() if k != "seconds"}
    return out


def _results(run: Path) -> list[dict[str, Any]]:
    return [
        _strip(json.loads((run / f"iteration_{k}" / "result.json").read_text()))
        for k in range(TINY.iterations + 1)
    ]


def test_a_run_writes_every_iteration_a_summary_and_a_report(tmp_path: Path) -> None:
    summary = NoisyStudent(TINY, tmp_path / "run").run()
    assert [r["iteration"] for r in summary["iterations"]] == [0, 1, 2]
    widths = [r["width"] for r in summary["iterations"]]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    r1 = json.loads((tmp_path / "run" / "iteration_1" / "result.json").read_text())
    assert r1["noised"] and r1["model"]["dropout"] == 0.5 and r1["model"]["survival"] == 0.8
    assert set(r1["corrupted_accuracy"]) == {
        "gaussian_noise",
        "blur",
        "rotation",
        "contrast",
        "elastic",
    }
    assert sum(r1["pseudo"]["class_counts_before"]) == 200
    for png in ("accuracy.png", "confidence.png", "balance.png", "index.html"):
        assert (tmp_path / "run" / "report" / png).stat().st_size > 0
    with pytest.raises(NoisyStudentError, match="not empty"):
        NoisyStudent(TINY, tmp_path / "run").run()


def test_a_killed_run_resumes_at_the_last_finished_iteration_with_identical_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    NoisyStudent(TINY, tmp_path / "whole").run()
    real_save = NoisyStudent._save
    trained: list[str] = []
    kills: list[str] = []

    def killed_after_weights(
        self: NoisyStudent, folder: Any, sub: str, model: Any, result: Any
    ) -> None:
        trained.append(sub)
        if sub == "iteration_2" and not kills:
            kills.append(sub)
            # The weights are on disk but not the result that marks the iteration finished.
            real_save(self, folder, sub, model, result)
            (folder.path / sub / "result.json").unlink()
            raise Killed
        real_save(self, folder, sub, model, result)

    monkeypatch.setattr(NoisyStudent, "_save", killed_after_weights)
    try:
        NoisyStudent(TINY, tmp_path / "killed").run()
        raise AssertionError("the run was not killed")
    except Killed:
        pass
    assert trained == ["iteration_0", "iteration_1", "iteration_2"]
    trained.clear()
    NoisyStudent.resume(tmp_path / "killed").run()
    assert trained == ["iteration_2"]
    assert _results(tmp_path / "killed") == _results(tmp_path / "whole")
    events = [
        json.loads(s)["event"]
        for s in (tmp_path / "killed" / "progress.jsonl").read_text().splitlines()
    ]
    assert "resumed" in events and events[-1] == "finished"


def test_a_corrupt_checkpoint_on_resume_is_one_line_and_leaves_the_run_intact(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    NoisyStudent(TINY.replace(iterations=1), run).run()
    weights = run / "iteration_1" / "model.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    before = {
        p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != "progress.jsonl"
    }
    with pytest.raises(NoisyStudentError, match="corrupt checkpoint") as e:
        NoisyStudent.resume(run).run()
    assert "\n" not in str(e.value)
    after = {
        p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != "progress.jsonl"
    }
    assert after == before


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"dataset": "imagenet"}, "unknown data set"),
        ({"confidence": 1.5}, "confidence"),
        ({"width_growth": 0.5}, "equal or larger"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TINY.replace(**changes)


def test_more_labels_than_a_class_has_are_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    with pytest.raises(NoisyStudentError, match="smallest class has only"):
        NoisyStudent(TINY.replace(labels_per_class=1000), tmp_path / "run").run()
    assert not (tmp_path / "run").exists()


def test_a_control_trains_on_the_labeled_examples_only(tmp_path: Path) -> None:
    ns = NoisyStudent(TINY.replace(iterations=1), tmp_path / "run")
    ns.run()
    r = ns.run_control("labeled_only_student")
    assert r["model"]["width"] == TINY.width(1) and r["noised"]
    assert ns.run_control("labeled_only_student") == r  # a finished control is read back
    with pytest.raises(NoisyStudentError, match="unknown control"):
        ns.run_control("bigger")


def test_importing_primeval_does_not_import_torch() -> None:
    code = "import sys, primeval, primeval.runs; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
