"""The Noisy Student loop as a library: ``NoisyStudent(config, out).run()``.

Xie et al. (2020), Algorithm 1: (1) train a teacher on the labeled examples; (2) label the
unlabeled pool with the teacher *not noised*; (3) train an equal-or-larger student with noise on
the labeled and the pseudo-labeled examples (confidence filter, class balancing, soft or hard
labels: :mod:`primeval.labels.pseudo`); (4) make the student the teacher and go back to (2).

A run folder (``out``) holds:

- ``config.json``: the settings and the labeled/unlabeled split (``primeval.noisy_student/1``);
- ``iteration_K/model.pt``: model K's state dict (``torch.save``; read back with
  ``weights_only=True``), K = 0 for the first teacher;
- ``iteration_K/result.json``: its architecture, the SHA-256 of ``model.pt``, clean and
  corrupted test accuracy, training statistics and, for students, the pseudo-label statistics;
  written last, so an iteration counts as finished exactly when it exists;
- ``controls/NAME/...``: the same for the controls (:meth:`NoisyStudent.run_control`);
- ``progress.jsonl`` (events), ``summary.json`` and ``report/`` when the run ends.

Every random draw is derived from the run seed and the iteration, so a run killed at any point
and resumed (:meth:`NoisyStudent.resume`) retrains only the unfinished iteration from the last
finished one's weights and ends with the same numbers as a run never stopped. A checkpoint
that does not match its recorded hash or does not load is refused with one line, and nothing
already written is touched.
"""

from __future__ import annotations

import hashlib
import io
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from primeval.labels.config import NoisyStudentConfig
from primeval.labels.pseudo import select
from primeval.nn import data as nn_data
from primeval.nn.augment import RandAugment
from primeval.nn.corrupt import corrupted
from primeval.nn.models import ModelSpec, build
from primeval.nn.runtime import derive_seed, device, seeded, set_threads
from primeval.nn.train import TrainSpec, fit, one_hot, predict_proba
from primeval.runs import RunFolder, RunFolderError, atomic_file

FORMAT = "primeval.noisy_student/1"
CONTROLS = ("labeled_only_student", "noised_teacher")


class NoisyStudentError(ValueError):
    """Input or a run folder that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Split:
    """The data of a run: labeled examples, the unlabeled pool, the test set and its corrupted
    copies."""

    dataset: nn_data.Dataset
    labeled: np.ndarray
    unlabeled: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    corrupted: dict[str, np.ndarray]
    y_corrupted: np.ndarray


def make_split(config: NoisyStudentConfig) -> Split:
    """The labeled/unlabeled split and test sets of ``config`` (drawn from its seed)."""
    try:
        d = nn_data.load(config.dataset, config.image_size, config.data_path)
    except (ValueError, FileNotFoundError) as e:
        raise NoisyStudentError(str(e)) from None
    rng = np.random.default_rng([config.seed, 0])
    try:
        labeled, unlabeled = nn_data.few_labels(
            d.y_train, config.labels_per_class, d.n_classes, config.unlabeled, rng
        )
    except ValueError as e:
        raise NoisyStudentError(str(e)) from None
    n_test = len(d.y_test) if config.test_size is None else min(config.test_size, len(d.y_test))
    n_corrupt = min(config.corrupted_size, n_test)
    x_test, y_test = d.x_test[:n_test], d.y_test[:n_test]
    return Split(
        d,
        labeled,
        unlabeled,
        x_test,
        y_test,
        corrupted(x_test[:n_corrupt], d.kind, derive_seed(config.seed, 5)),
        y_test[:n_corrupt],
    )


def _weights_bytes(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _repeats(n_labeled: int, n_pseudo: int, share: float) -> int:
    """How many copies of the labeled examples make them about ``share`` of the student's data
    (at least one)."""
    return max(1, round(share / (1.0 - share) * n_pseudo / n_labeled))


class NoisyStudent:
    """One Noisy Student run in the folder ``out`` (created; refused if it holds results).

    ``progress`` shows a progress bar while a model trains; ``log`` receives one line per
    finished model."""

    def __init__(
        self,
        config: NoisyStudentConfig,
        out: str | Path,
        progress: bool = False,
        log: Any = None,
    ) -> None:
        self.config = config
        self.out = Path(out)
        self.progress = progress
        self.log = log
        self._resuming = False
        self._split: Split | None = None

    @classmethod
    def resume(cls, out: str | Path, progress: bool = False, log: Any = None) -> NoisyStudent:
        """The run in ``out``, to be continued from its last finished iteration."""
        try:
            meta = RunFolder.open(out).read_json("config.json")
        except RunFolderError as e:
            raise NoisyStudentError(str(e)) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise NoisyStudentError(f"{out}: not a Noisy Student run folder")
        try:
            config = NoisyStudentConfig.from_json(meta["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise NoisyStudentError(f"{out}/config.json: invalid settings ({e})") from None
        ns = cls(config, out, progress, log)
        ns._resuming = True
        return ns

    # --- the pieces -------------------------------------------------------------------------

    @property
    def split(self) -> Split:
        if self._split is None:
            self._split = make_split(self.config)
        return self._split

    def spec(self, iteration: int, noised: bool) -> ModelSpec:
        c = self.config
        return ModelSpec(
            family=c.family,
            width=c.width(iteration),
            depth=c.depth,
            widths=(c.base_width, 2 * c.base_width, 4 * c.base_width),
            dropout=c.dropout if noised else 0.0,
            survival=c.survival if noised else 1.0,
        )

    def augment(self, noised: bool) -> RandAugment | None:
        c = self.config
        if not (noised and c.randaugment):
            return None
        d = self.split.dataset
        return RandAugment.for_data(
            d.kind, d.input_shape[0], c.randaugment_n, c.randaugment_magnitude
        )

    def student_noised(self) -> bool:
        return self.config.noise

    def train(
        self,
        spec: ModelSpec,
        x: np.ndarray,
        targets: np.ndarray,
        steps: int,
        noised: bool,
        seed_path: tuple[int, ...],
        label: str,
    ) -> tuple[nn.Module, dict[str, float]]:
        """A fresh model of ``spec`` trained on ``(x, targets)``, seeded by ``seed_path``."""
        c = self.config
        d = self.split.dataset
        with seeded(derive_seed(c.seed, 1, *seed_path)):
            model = build(spec, d.input_shape, d.n_classes)
        tspec = TrainSpec(
            steps=steps,
            batch_size=c.batch_size,
            lr=c.lr,
            label_smoothing=c.label_smoothing if noised else 0.0,
        )
        stats = fit(
            model,
            x,
            targets,
            tspec,
            seed=derive_seed(c.seed, 2, *seed_path),
            augment=self.augment(noised),
            device=device(c.device),
            progress=label if self.progress else None,
        )
        return model, stats

    def evaluate(self, model: nn.Module) -> dict[str, Any]:
        s = self.split
        dev = device(self.config.device)
        clean = float(np.mean(predict_proba(model, s.x_test, device=dev).argmax(1) == s.y_test))
        corrupt = {
            name: float(np.mean(predict_proba(model, x, device=dev).argmax(1) == s.y_corrupted))
            for name, x in s.corrupted.items()
        }
        return {
            "test_accuracy": clean,
            "corrupted_accuracy": corrupt,
            "corrupted_mean": float(np.mean(list(corrupt.values()))),
        }

    # --- the run folder -----------------------------------------------------------------------

    def _folder(self) -> RunFolder:
        if self._resuming:
            folder = RunFolder.open(self.out)
            meta = folder.read_json("config.json")
            if meta.get("labeled") != self.split.labeled.tolist():
                raise NoisyStudentError(
                    f"{self.out}: the labeled split no longer matches config.json (data changed?)"
                )
            folder.end_progress_line()
            folder.append_progress({"event": "resumed", "time": time.time()})
            return folder
        try:
            folder = RunFolder.create(self.out)
        except RunFolderError as e:
            raise NoisyStudentError(str(e)) from None
        s = self.split
        folder.write_json(
            "config.json",
            {
                "format": FORMAT,
                "config": self.config.to_json(),
                "labeled": s.labeled.tolist(),
                "unlabeled_count": len(s.unlabeled),
                "test_count": len(s.y_test),
                "corrupted_count": len(s.y_corrupted),
            },
        )
        return folder

    def _save(
        self, folder: RunFolder, sub: str, model: nn.Module, result: dict[str, Any]
    ) -> dict[str, Any]:
        """``model.pt`` then ``result.json`` (the finished mark), each atomically; returns the
        result as written."""
        d = folder.path / sub
        d.mkdir(parents=True, exist_ok=True)
        blob = _weights_bytes(model)
        with atomic_file(d / "model.pt", "wb") as f:
            f.write(blob)
        result = {**result, "weights_sha256": _sha256(blob)}
        RunFolder(d).write_json("result.json", result)
        written: dict[str, Any] = json.loads(json.dumps(result))
        return written

    def _load(self, folder: RunFolder, sub: str) -> tuple[nn.Module, dict[str, Any]] | None:
        """The finished model in ``sub`` with its result, None if unfinished; a corrupt one is
        refused."""
        d = folder.path / sub
        if not (d / "result.json").is_file():
            return None
        try:
            result = RunFolder(d).read_json("result.json")
            spec = ModelSpec(**{**result["model"], "widths": tuple(result["model"]["widths"]),
                                "depths": tuple(result["model"]["depths"])})  # fmt: skip
            blob = (d / "model.pt").read_bytes()
            if _sha256(blob) != result["weights_sha256"]:
                raise ValueError("its SHA-256 differs from the one recorded in result.json")
            state = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
            ds = self.split.dataset
            model = build(spec, ds.input_shape, ds.n_classes)
            model.load_state_dict(state)
        except NoisyStudentError:
            raise
        except Exception as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise NoisyStudentError(
                f"{d}/model.pt: corrupt checkpoint ({reason}); the iterations before it are "
                f"intact: delete {d} to retrain from there"
            ) from None
        model.eval()
        return model, result

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Train the teacher and ``config.iterations`` students (resuming after the last finished
        model of a resumed run); returns the summary (also written to ``summary.json``)."""
        c = self.config
        set_threads(c.threads)
        device(c.device)
        start = time.time()
        s = self.split  # bad input is refused before the run folder is made
        folder = self._folder()
        d = s.dataset
        x_lab, y_lab = d.x_train[s.labeled], d.y_train[s.labeled]
        x_unl = d.x_train[s.unlabeled]
        results: list[dict[str, Any]] = []
        teacher: nn.Module | None = None
        for it in range(c.iterations + 1):
            sub = f"iteration_{it}"
            found = self._load(folder, sub)
            if found is not None:
                teacher, result = found
                results.append(result)
                continue
            t0 = time.time()
            folder.append_progress({"event": "iteration_started", "iteration": it})
            if it == 0:
                noised = c.teacher_noise
                spec = self.spec(0, noised)
                model, stats = self.train(
                    spec, x_lab, one_hot(y_lab, d.n_classes), c.teacher_steps, noised, (0,),
                    "teacher",
                )  # fmt: skip
                pseudo: dict[str, Any] | None = None
            else:
                assert teacher is not None
                probs = predict_proba(teacher, x_unl, device=device(c.device))
                chosen, pseudo = select(probs, c.confidence, c.balance, c.per_class)
                pseudo["label_accuracy"] = float(
                    np.mean(probs[chosen].argmax(1) == d.y_train[s.unlabeled][chosen])
                ) if len(chosen) else None  # fmt: skip
                targets = probs[chosen] if not c.hard_labels else one_hot(
                    probs[chosen].argmax(1), d.n_classes
                )  # fmt: skip
                reps = _repeats(len(y_lab), len(chosen), c.labeled_share)
                x = np.concatenate(
                    [np.tile(x_lab, (reps,) + (1,) * (x_lab.ndim - 1)), x_unl[chosen]]
                )
                t = np.concatenate(
                    [np.tile(one_hot(y_lab, d.n_classes), (reps, 1)), targets.astype(np.float32)]
                )
                noised = self.student_noised()
                spec = self.spec(it, noised)
                model, stats = self.train(
                    spec, x, t, c.student_steps, noised, (it,), f"student {it}"
                )
            result = {
                "iteration": it,
                "role": "teacher" if it == 0 else "student",
                "noised": noised,
                "model": asdict(spec),
                "parameters": sum(p.numel() for p in model.parameters()),
                **self.evaluate(model),
                "train": stats,
                "pseudo": pseudo,
                "seconds": time.time() - t0,
            }
            self._save(folder, sub, model, result)
            folder.append_progress({"event": "iteration_finished", "iteration": it})
            self._say(
                f"iteration {it} ({result['role']}): test {result['test_accuracy']:.4f}, "
                f"corrupted {result['corrupted_mean']:.4f}"
            )
            teacher = model
            results.append(result)
        summary = self._summary(folder, results, time.time() - start)
        folder.append_progress({"event": "finished"})
        return summary

    def run_control(self, name: str) -> dict[str, Any]:
        """A control of the paper's ablations, trained on the labeled examples only, with the
        students' noise: ``labeled_only_student`` (the iteration-1 student's architecture and
        budget) or ``noised_teacher`` (the teacher's). Saved under ``controls/NAME``; a finished
        one is read back."""
        if name not in CONTROLS:
            raise NoisyStudentError(f"unknown control {name!r}; known: {', '.join(CONTROLS)}")
        c = self.config
        set_threads(c.threads)
        folder = RunFolder.open(self.out)
        sub = f"controls/{name}"
        found = self._load(folder, sub)
        if found is not None:
            return found[1]
        s = self.split
        d = s.dataset
        it, steps = (1, c.student_steps) if name == "labeled_only_student" else (0, c.teacher_steps)
        t0 = time.time()
        spec = self.spec(it, True)
        model, stats = self.train(
            spec, d.x_train[s.labeled], one_hot(d.y_train[s.labeled], d.n_classes), steps, True,
            (100 + CONTROLS.index(name),), name,
        )  # fmt: skip
        result = {
            "control": name,
            "noised": True,
            "model": asdict(spec),
            "parameters": sum(p.numel() for p in model.parameters()),
            **self.evaluate(model),
            "train": stats,
            "seconds": time.time() - t0,
        }
        result = self._save(folder, sub, model, result)
        self._say(f"control {name}: test {result['test_accuracy']:.4f}")
        return result

    def _summary(
        self, folder: RunFolder, results: list[dict[str, Any]], seconds: float
    ) -> dict[str, Any]:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        summary = {
            "format": FORMAT,
            "dataset": self.config.dataset,
            "seed": self.config.seed,
            "iterations": [
                {
                    "iteration": r["iteration"],
                    "role": r["role"],
                    "width": r["model"]["width"],
                    "test_accuracy": r["test_accuracy"],
                    "corrupted_mean": r["corrupted_mean"],
                    "corrupted_accuracy": r["corrupted_accuracy"],
                    "pseudo_kept": None if r["pseudo"] is None else r["pseudo"]["kept"],
                    "seconds": r["seconds"],
                }
                for r in results
            ],
            "seconds_this_session": seconds,
            # ru_maxrss is KiB on Linux, bytes on macOS.
            "peak_rss_mb": peak / (1024 * 1024 if sys.platform == "darwin" else 1024),
        }
        folder.write_json("summary.json", summary)
        from primeval.labels.report import write_report

        write_report(folder.path)
        return summary
