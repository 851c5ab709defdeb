"""The compiled search job on islands, with checkpoints and resume.

:func:`run_islands` is ``run_experiments`` for the compiled interpreter: each experiment
runs on ``workers.count`` islands (:class:`~primeval.algorithms.islands.Archipelago`; Real
et al. 2020, AutoML-Zero, Sec. 4.2), and every ``checkpoint.every_seconds`` the run folder's
``checkpoint.npz`` is rewritten atomically (:mod:`primeval.engine.checkpoint`): every
island's arrays (population, FEC cache, hurdle window, best, counters, generator state) under
``island{i}.``, the migration pool under ``pool.``, and as JSON metadata the config hash,
the experiment, per-island counters, the best algorithm so far and the select generator.
A run killed at any moment resumes from it (:func:`load_resume`) and loses at most one
checkpoint interval; SIGINT or SIGTERM stops it cleanly after a final checkpoint and summary
(``stopped: "interrupted"``). With one worker the search makes the same candidates as an
uninterrupted single-process run, checkpoints and resumes included.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

import numpy as np

from primeval.algorithms.evaluate import Interpreter
from primeval.algorithms.experiment import Reporter, RunSummary, _Selection, preload_datasets
from primeval.algorithms.islands import FACTORY, Archipelago, Snapshot
from primeval.algorithms.program import Program
from primeval.config import Config, ConfigError, dump_config
from primeval.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from primeval.engine.search import SearchProgress
from primeval.engine.workers import make_pool, peak_rss_mb
from primeval.runs import RunFolder, RunFolderError

_META_KEYS = {
    "config_hash",
    "experiment",
    "islands",
    "evaluations_before",
    "full_before",
    "elapsed",
    "selection",
    "finished",
}


def config_hash(config: Config) -> str:
    """What a checkpoint must be resumed with: the config less where workers run."""
    where = {"workers.backend": "auto", "workers.ray_address": None}
    return hashlib.sha256(dump_config(config.with_overrides(**where)).encode()).hexdigest()[:16]


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


def load_resume(folder: RunFolder, config: Config) -> ResumePoint:
    """The checkpoint of ``folder``, checked against ``config``; raises a one-line
    ``CheckpointError``, ``ConfigError`` or ``RunFolderError`` and writes nothing."""
    path = folder.file(RunFolder.CHECKPOINT)
    arrays, meta, warnings = load_checkpoint(path)
    if not isinstance(meta, dict) or not set(meta) >= _META_KEYS:
        raise CheckpointError(f"{path}: not a search checkpoint (fields missing)")
    if meta["finished"]:
        raise RunFolderError(f"{folder.path}: this run has finished; there is nothing to resume")
    if meta["config_hash"] != config_hash(config):
        raise ConfigError(
            f"{folder.path}: the config differs from the one this run was checkpointed with "
            "(resume it with its own config.yaml)"
        )
    islands = meta["islands"]
    if islands is not None:
        if len(islands) != config.workers.count:
            raise ConfigError(
                f"{folder.path}: checkpointed with {len(islands)} worker(s), "
                f"not {config.workers.count}"
            )
        for i in range(len(islands)):
            if not any(k.startswith(f"island{i}.") for k in arrays):
                raise CheckpointError(f"{path}: island {i} is missing")
    return ResumePoint(meta, arrays, warnings)


class StopFlag:
    """SIGINT / SIGTERM set a flag the job polls (a second signal interrupts at once)."""

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


LINEAGE_FOLDER = "lineage"
ANCESTRY = "ancestry.json"


def _chain_document(header: dict[str, Any], links: list[str]) -> str:
    """A lineage file: the header's fields, then ``chain`` with one link per line (written
    from the links' texts, so a chain of thousands of programs never exists as dicts)."""
    return json.dumps(header)[:-1] + _CHAIN_OPEN + "\n" + ",\n".join(links) + "\n]}\n"


_CHAIN_OPEN = ', "chain": ['


def _save_ancestry(
    folder: RunFolder, config: Config, arch: Archipelago, experiment: int, island: int
) -> None:
    """The ancestry of the experiment's best, as ``lineage/experiment_NNNN.json``."""
    if not config.search.lineage:
        return
    links = arch.ancestry(island)
    if links is None:
        return
    folder.file(LINEAGE_FOLDER).mkdir(exist_ok=True)
    folder.write_text(
        f"{LINEAGE_FOLDER}/experiment_{experiment:04d}.json",
        _chain_document({"experiment": experiment, "island": island}, links),
    )


def _select_ancestry(folder: RunFolder, key: tuple[int, ...] | None) -> None:
    """``ancestry.json``: the saved ancestry of the selected algorithm's experiment, with
    ``selected`` telling whether the chain ends in the selected candidate itself (it ends in
    the experiment's best, which the selection may have passed over for an earlier one).
    Only the header and the last link are parsed."""
    if key is None:
        return
    path = folder.file(f"{LINEAGE_FOLDER}/experiment_{key[0]:04d}.json")
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    header = json.loads(lines[0].removesuffix(_CHAIN_OPEN) + "}")
    links = [line.removesuffix(",") for line in lines[1:-1] if line]
    last = json.loads(links[-1]) if links else None
    header["selected"] = last is not None and header["island"] == key[1] and last["id"] == key[2]
    folder.write_text(ANCESTRY, _chain_document(header, links))


def run_islands(
    config: Config,
    folder: RunFolder,
    rep: Reporter,
    interp: Interpreter,
    resume: ResumePoint | None = None,
) -> tuple[RunSummary, Program]:
    """``run_experiments`` on islands, checkpointed; see the module docstring."""
    sel = _Selection(config, folder, rep, interp)
    wc = config.workers
    meta = resume.meta if resume is not None else None
    if meta is None:
        folder.write_text(RunFolder.CONFIG, dump_config(config))
        elapsed0, experiment, total_evals, total_full = 0.0, 0, 0, 0
    else:
        sel.load_json(meta["selection"])
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
    budget = config.search.time_budget
    deadline = None if budget is None else t0 + budget
    snapshot = resume.snapshot() if resume is not None else None
    mid_experiment = snapshot is not None
    chash = config_hash(config)
    stopped = "max_experiments"

    def save(snap: Snapshot | None, before: tuple[int, int], finished: bool = False) -> None:
        arrays = {}
        if snap is not None:
            for i, state in enumerate(snap.states):
                arrays.update({f"island{i}.{k}": v for k, v in state.items()})
            arrays.update({f"pool.{k}": v for k, v in snap.pool.items()})
        save_checkpoint(
            folder.file(RunFolder.CHECKPOINT),
            arrays,
            {
                "config_hash": chash,
                "experiment": experiment,
                "islands": snap.islands if snap is not None else None,
                "evaluations_before": before[0],
                "full_before": before[1],
                "elapsed": time.perf_counter() - t0,
                "selection": sel.to_json(),
                "finished": finished,
                "workers": wc.count,
            },
        )

    preload_datasets(config)
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
                    experiment += 1
                    snapshot = None
                mid_experiment = False
                if deadline is not None and time.perf_counter() >= deadline:
                    stopped = "time_budget"
                    break
                before = (total_evals, total_full)
                if arch is not None:
                    arch.release()  # the last experiment's islands go before the next are built
                arch = None
                arch = Archipelago(config, experiment, pool, snapshot, folder.append_progress)

                def on_tick(
                    p: SearchProgress,
                    exp: int = experiment,
                    a: Archipelago = arch,
                    b: tuple[int, int] = before,
                ) -> bool:
                    record = p.to_json()
                    record["evaluations"] += b[0]
                    record["elapsed_seconds"] = round(time.perf_counter() - t0, 3)
                    record["experiment"] = exp
                    if a.n > 1:
                        record["island_evaluations"] = [st.evaluations for st in a.status]
                    folder.append_progress(record)
                    rep.progress(exp, p)
                    found = a.best()
                    if config.select.check_during_search and found is not None:
                        island, best = found
                        sel.consider((exp, island, best.id), best)
                    return sel.solved

                def on_snapshot(snap: Snapshot, b: tuple[int, int] = before) -> None:
                    save(snap, b)

                reason = arch.run(
                    config.search.max_evals,
                    deadline,
                    on_tick,
                    on_snapshot,
                    lambda: stop.set,
                    config.progress_every_seconds,
                    config.checkpoint.every_seconds,
                )
                total_evals = before[0] + arch.evaluations
                total_full = before[1] + arch.full_evaluations
                if reason == "interrupted":
                    save(arch.collect_snapshot(), before)
                    stopped = "interrupted"
                    found = arch.best()
                    if found is not None:
                        sel.consider((experiment, found[0], found[1].id), found[1])
                        _save_ancestry(folder, config, arch, experiment, found[0])
                    break
                found = arch.best()
                assert found is not None
                sel.consider((experiment, found[0], found[1].id), found[1])
                _save_ancestry(folder, config, arch, experiment, found[0])
                if sel.solved:
                    stopped = "solved"
                    break
                if reason == "time_budget":
                    stopped = "time_budget"
                    break
                mx = config.select.max_experiments
                if mx and experiment >= mx:
                    stopped = "max_experiments"
                    break
                save(None, (total_evals, total_full))  # experiment done; next one fresh
                rep.message(
                    f"experiment {experiment}: best select fitness {sel.select:.6f}; "
                    "starting another"
                )
    finally:
        pool.close()
    elapsed = time.perf_counter() - t0
    if sel.program is None:
        raise ConfigError("the run stopped before any algorithm was evaluated")
    summary = sel.summary(total_evals, total_full, elapsed, experiment, stopped)
    _select_ancestry(folder, sel.key)
    folder.write_json(RunFolder.SUMMARY, summary.to_json())
    if stopped != "interrupted":
        save(None, (total_evals, total_full), finished=True)
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
                for s in (arch.status if arch is not None else [])
            ],
            "coordinator_peak_rss_mb": round(peak_rss_mb(), 1),
        }
    )
    return summary, sel.program
