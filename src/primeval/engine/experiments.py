"""The experiment loop: experiments on an archipelago until solved or out of budget, with
checkpoints, resume, progress and the summary.

Follows AutoML-Zero's ``run_search_experiment`` (Real et al. 2020): an experiment is one
search of up to ``budgets.max_evals`` evaluations (here on the islands of an
:class:`~primeval.engine.archipelago.Archipelago`); experiments repeat until the app says
the run is solved, ``budgets.max_experiments`` have run, or the time budget is spent. What an
experiment's outcome means (select tasks, NAS run traces) is the app's, through
:class:`Experiments`.

Every ``checkpoint_every_seconds`` the run folder's ``checkpoint.npz`` is rewritten atomically
(:mod:`primeval.engine.checkpoint`): every island's arrays under ``island{i}.``, the
migration pool under ``pool.``, and as JSON metadata the config fingerprint, the experiment,
per-island counters, the app's own state (``selection``) and the counters before this
experiment. A run killed at any moment resumes from it (:func:`load_resume`) and loses at
most one checkpoint interval; SIGINT or SIGTERM stops it cleanly after a final checkpoint
and summary (``stopped: "interrupted"``). A finished run's checkpoint says why it stopped;
one stopped by its time budget keeps its islands, so that a resume with a longer budget
continues it exactly, and one stopped after ``max_experiments`` resumes with a larger limit
(:func:`extends`); a solved run is over.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

import numpy as np

from primeval.engine.archipelago import FACTORY, Archipelago, IslandStatus, Snapshot
from primeval.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from primeval.engine.config import Budgets, WorkersConfig
from primeval.engine.island import IslandApp
from primeval.engine.runs import RunFolder, RunFolderError
from primeval.engine.search import SearchProgress
from primeval.engine.workers import make_pool, peak_rss_mb

META_KEYS = {
    "config_hash",
    "experiment",
    "islands",
    "evaluations_before",
    "full_before",
    "elapsed",
    "selection",
    "finished",
}


class ResumeError(ValueError):
    """A run folder that cannot be resumed as asked (one line, naming the reason)."""


@dataclass
class Outcome:
    """How a run ended: the counters over all experiments and the last islands."""

    stopped: str  # solved, max_experiments, time_budget, interrupted
    evaluations: int
    full_evaluations: int
    elapsed_seconds: float
    experiments: int
    islands: list[IslandStatus] = field(default_factory=list)


class Experiments(Protocol):
    """What an app adds to the loop: how many islands an experiment has, what to do with
    progress and with an experiment's end, when the run is solved, and its summary."""

    writes_ticks: bool  # whether progress ticks go to progress.jsonl

    @property
    def solved(self) -> bool:
        """Whether the run has reached its goal (no further experiment)."""

    def islands(self, experiment: int) -> int: ...

    def on_tick(self, experiment: int, arch: Archipelago, p: SearchProgress) -> None:
        """During an experiment, about every ``progress_every_seconds``."""

    def on_experiment_end(self, experiment: int, arch: Archipelago, complete: bool) -> None:
        """After an experiment (``complete`` False: interrupted, to be resumed)."""

    def on_next(self, experiment: int) -> None:
        """Before experiment ``experiment + 1`` (e.g. tell the user)."""

    def to_json(self) -> Any:
        """The app's state for a checkpoint."""

    def load_json(self, data: Any) -> None: ...

    def summary(self, outcome: Outcome) -> dict[str, Any]:
        """``summary.json``'s content."""


@dataclass
class ResumePoint:
    """A checked checkpoint to continue from."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    warnings: list[str]

    def snapshot(self) -> Snapshot | None:
        """The islands of the interrupted experiment (None: it had finished)."""
        islands = self.meta["islands"]
        if islands is None:
            return None
        states = []
        for i in range(len(islands)):
            prefix = f"island{i}."
            states.append(
                {k[len(prefix) :]: v for k, v in self.arrays.items() if k.startswith(prefix)}
            )
        pool = {k[5:]: v for k, v in self.arrays.items() if k.startswith("pool.")}
        return Snapshot(states=states, islands=list(islands), pool=pool)


def extends(meta: dict[str, Any], budgets: Budgets) -> bool:
    """Whether ``budgets`` let a run that stopped on a budget (checkpoint ``meta``) go on."""
    stopped = meta.get("stopped")
    if stopped == "max_experiments":
        mx = budgets.max_experiments
        return mx is None or mx > int(meta["experiment"])
    if stopped == "time_budget":
        return budgets.time_budget is None or budgets.time_budget > float(meta["elapsed"])
    return False


def load_resume(folder: RunFolder, fingerprint: str, workers: int, budgets: Budgets) -> ResumePoint:
    """The checkpoint of ``folder``, checked against the run's ``fingerprint`` (what must
    not change), worker count and ``budgets`` (a finished run resumes only if they let it
    go on); raises a one-line error and writes nothing."""
    path = folder.file(RunFolder.CHECKPOINT)
    arrays, meta, warnings = load_checkpoint(path)
    if not isinstance(meta, dict) or not set(meta) >= META_KEYS:
        raise CheckpointError(f"{path}: not a search checkpoint (fields missing)")
    if meta["finished"] and not extends(meta, budgets):
        raise RunFolderError(
            f"{folder.path}: this run has finished ({meta.get('stopped')}); there is nothing "
            "to resume (a run stopped by a budget resumes with a larger budget)"
        )
    if meta["config_hash"] != fingerprint:
        raise ResumeError(
            f"{folder.path}: the config differs from the one this run was checkpointed with "
            "(resume it with its own config.yaml)"
        )
    islands = meta["islands"]
    if islands is not None:
        if len(islands) > workers:
            raise ResumeError(
                f"{folder.path}: checkpointed with {len(islands)} worker(s), not {workers}"
            )
        for i in range(len(islands)):
            if not any(k.startswith(f"island{i}.") for k in arrays):
                raise CheckpointError(f"{path}: island {i} is missing")
    return ResumePoint(meta, arrays, warnings)


class StopFlag:
    """SIGINT / SIGTERM set a flag the loop polls (a second signal interrupts at once)."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclass
class LoopSettings:
    """The loop's settings that are not the app's."""

    workers: WorkersConfig
    budgets: Budgets
    fingerprint: str  # what a resume must match (see load_resume)
    progress_every_seconds: float = 1.0
    checkpoint_every_seconds: float | None = 5.0  # None: no checkpoints


class _Checkpointer:
    """Writes the run folder's checkpoint."""

    def __init__(self, folder: RunFolder, settings: LoopSettings, hooks: Experiments) -> None:
        self.folder = folder
        self.settings = settings
        self.hooks = hooks
        self.t0 = 0.0
        self.last = -math.inf  # when the last checkpoint was written (time.perf_counter)

    def due(self) -> bool:
        """Whether a checkpoint interval has passed since the last one: experiments that end
        faster (short NAS runs) are checkpointed together."""
        every = self.settings.checkpoint_every_seconds
        return every is not None and time.perf_counter() - self.last >= every

    def save(
        self,
        experiment: int,
        snap: Snapshot | None,
        before: tuple[int, int],
        stopped: str | None = None,
    ) -> None:
        """``stopped``: why the run ended (it is then finished), None while it runs."""
        if self.settings.checkpoint_every_seconds is None:
            return
        self.last = time.perf_counter()
        arrays = {}
        if snap is not None:
            for i, state in enumerate(snap.states):
                arrays.update({f"island{i}.{k}": v for k, v in state.items()})
            arrays.update({f"pool.{k}": v for k, v in snap.pool.items()})
        save_checkpoint(
            self.folder.file(RunFolder.CHECKPOINT),
            arrays,
            {
                "config_hash": self.settings.fingerprint,
                "experiment": experiment,
                "islands": snap.islands if snap is not None else None,
                "evaluations_before": before[0],
                "full_before": before[1],
                "elapsed": time.perf_counter() - self.t0,
                "selection": self.hooks.to_json(),
                "finished": stopped is not None,
                "stopped": stopped,
                "workers": self.settings.workers.count,
            },
        )


def run_experiments(
    app: IslandApp,
    hooks: Experiments,
    folder: RunFolder,
    settings: LoopSettings,
    resume: ResumePoint | None = None,
) -> Outcome:
    """Experiments on islands until solved or out of budget; see the module docstring.

    Writes progress lines, checkpoints and ``summary.json`` (``hooks.summary``); the
    caller writes ``config.yaml`` first.
    """
    wc, budgets = settings.workers, settings.budgets
    ckpt = _Checkpointer(folder, settings, hooks)
    meta = resume.meta if resume is not None else None
    if meta is None:
        elapsed0, experiment, total_evals, total_full = 0.0, 0, 0, 0
    else:
        hooks.load_json(meta["selection"])
        elapsed0 = float(meta["elapsed"])
        experiment = int(meta["experiment"])
        total_evals, total_full = int(meta["evaluations_before"]), int(meta["full_before"])
        folder.end_progress_line()
        folder.append_progress(
            {
                "event": "resumed",
                "experiment": experiment,
                "evaluations": total_evals
                + sum(int(s["evaluations"]) for s in (meta["islands"] or [])),
                "elapsed_seconds": round(elapsed0, 3),
                "warnings": resume.warnings if resume is not None else [],
            }
        )
    t0 = time.perf_counter() - elapsed0
    ckpt.t0 = t0
    deadline = None if budgets.time_budget is None else t0 + budgets.time_budget
    snapshot = resume.snapshot() if resume is not None else None
    mid_experiment = snapshot is not None
    stopped = "max_experiments"
    mx = budgets.max_experiments
    pool = make_pool(wc.resolved_backend(), FACTORY, wc.count, wc.ray_address)
    arch: Archipelago | None = None
    try:
        with StopFlag() as stop:
            for i in range(wc.count):
                pool.start(i)
            folder.append_progress(
                {
                    "event": "workers_started",
                    "backend": wc.resolved_backend(),
                    "workers": wc.count,
                    "pids": pool.pids(),
                }
            )
            while True:
                if not mid_experiment:
                    if mx and experiment >= mx:
                        stopped = "max_experiments"
                        break
                    experiment += 1
                    snapshot = None
                mid_experiment = False
                if deadline is not None and time.perf_counter() >= deadline:
                    stopped = "time_budget"
                    experiment -= snapshot is None  # not started: a resume starts it
                    ckpt.save(experiment, snapshot, (total_evals, total_full), stopped)
                    experiment += snapshot is None
                    break
                before = (total_evals, total_full)
                if arch is not None:
                    arch.release()  # the last experiment's islands go before the next are built
                arch = None
                arch = Archipelago(
                    app,
                    experiment,
                    pool,
                    snapshot,
                    folder.append_progress,
                    islands=hooks.islands(experiment),
                )

                def on_tick(
                    p: SearchProgress,
                    exp: int = experiment,
                    a: Archipelago = arch,
                    b: tuple[int, int] = before,
                ) -> bool:
                    if hooks.writes_ticks:
                        record = p.to_json()
                        record["evaluations"] += b[0]
                        record["elapsed_seconds"] = round(time.perf_counter() - t0, 3)
                        record["experiment"] = exp
                        if a.n > 1:
                            record["island_evaluations"] = [st.evaluations for st in a.status]
                        folder.append_progress(record)
                    hooks.on_tick(exp, a, p)
                    return hooks.solved

                def on_snapshot(
                    snap: Snapshot, exp: int = experiment, b: tuple[int, int] = before
                ) -> None:
                    ckpt.save(exp, snap, b)

                reason = arch.run(
                    budgets.max_evals,
                    deadline,
                    on_tick,
                    on_snapshot,
                    lambda: stop.set,
                    settings.progress_every_seconds,
                    settings.checkpoint_every_seconds,
                )
                total_evals = before[0] + arch.evaluations
                total_full = before[1] + arch.full_evaluations
                if reason in ("interrupted", "time_budget"):
                    # The islands are kept, and the app's state from before it looks at this
                    # experiment's end: an interrupted run, or one given more time, continues
                    # this experiment as if it had never stopped.
                    if settings.checkpoint_every_seconds is not None:
                        final = arch.collect_snapshot()
                        why = None if reason == "interrupted" else reason
                        ckpt.save(experiment, final, before, why)
                    hooks.on_experiment_end(experiment, arch, complete=False)
                    stopped = "solved" if hooks.solved else reason
                    break
                hooks.on_experiment_end(experiment, arch, complete=True)
                if hooks.solved:
                    stopped = "solved"
                    break
                if mx and experiment >= mx:
                    stopped = "max_experiments"
                    break
                if ckpt.due():  # the experiment is done; the next one starts fresh
                    ckpt.save(experiment, None, (total_evals, total_full))
                hooks.on_next(experiment)
    finally:
        pool.close()
    elapsed = time.perf_counter() - t0
    outcome = Outcome(
        stopped,
        total_evals,
        total_full,
        elapsed,
        experiment,
        list(arch.status) if arch is not None else [],
    )
    folder.write_json(RunFolder.SUMMARY, hooks.summary(outcome))
    if stopped in ("solved", "max_experiments"):
        ckpt.save(experiment, None, (total_evals, total_full), stopped)
    folder.append_progress(
        {
            "event": "finished",
            "stopped": stopped,
            "evaluations": total_evals,
            "elapsed_seconds": round(elapsed, 3),
            "islands": [
                {
                    "evaluations": s.evaluations,
                    "best_fitness": s.best_fitness if math.isfinite(s.best_fitness) else None,
                    "restarts": s.restarts,
                    "migrations": s.migrations,
                    "peak_rss_mb": round(s.peak_rss_mb, 1),
                }
                for s in outcome.islands
            ],
            "coordinator_peak_rss_mb": round(peak_rss_mb(), 1),
        }
    )
    return outcome
