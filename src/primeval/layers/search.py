"""The layer search: evolution with Pareto tournaments (or random search) on an
asynchronous island over worker processes, with a run folder, checkpoints and resume.

Liu et al. (NeurIPS 2020) evolve layers with regularized evolution whose tournament keeps
the Pareto front over several architectures' accuracies (:class:`ArchParetoEvolution`), and
compare with random search. Candidates are evaluated by :class:`LayerWorker` processes
(spawned; one torch thread each) that share a results cache in the run folder
(:class:`~primeval.layers.cache.SharedCache`); the island
(:class:`~primeval.engine.async_island.AsyncIsland`) keeps every worker busy and requeues a
dead worker's candidates.

A run folder holds ``settings.json``, ``candidates.jsonl`` (one line per evaluated
candidate: its graph, formula, outcome and cache use), ``progress.jsonl``, ``cache.jsonl``,
``checkpoint.npz`` (the island's state and the counters, every ``checkpoint_every`` seconds
and at the end) and ``summary.json`` (the best layer, the counts of rejected candidates, the
cache hits, throughput and where the time went). A search resumed from its folder continues
from the last checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from primeval.engine.async_island import AsyncIsland, EvaluationWorker
from primeval.engine.checkpoint import load_checkpoint, save_checkpoint
from primeval.engine.genome import Individual
from primeval.engine.pareto import ParetoEvolution, pareto_front
from primeval.engine.runs import RunFolder, read_json_lines
from primeval.engine.strategies import RandomSearch, Strategy
from primeval.engine.workers import make_pool
from primeval.layers.genome import LayerFormatError, LayerGraph, LayerSpace, formula, from_json

#: The run folder a worker process reads its settings from (spawned workers inherit it).
RUN_ENV = "PRIMEVAL_LAYERS_RUN"
STATUSES = ("ok", "rejected_stability", "rejected_quality", "invalid")


@dataclass(frozen=True)
class SearchSettings:
    """A layer search: strategy, space, proxy task and budget (``settings.json``)."""

    strategy: str = "evolution"  # or "random" (the control)
    population_size: int = 20
    tournament_size: int = 5
    min_nodes: int = 3
    max_nodes: int = 8
    batch_independent: bool = False
    archs: tuple[str, ...] = ("resnet", "mobile", "cnn")
    image_size: int = 14
    n_train: int = 10_000
    n_val: int = 2_000
    workers: int = 2
    seed: int = 0
    time_budget: float = 600.0
    max_candidates: int | None = None
    checkpoint_every: float = 60.0
    proxy: dict[str, Any] = field(default_factory=dict)  # ProxySettings overrides

    def __post_init__(self) -> None:
        if self.strategy not in ("evolution", "random"):
            raise ValueError(f"strategy must be evolution or random, got {self.strategy!r}")
        if self.workers < 1:
            raise ValueError("--workers must be at least 1")
        if not self.archs:
            raise ValueError("a search needs at least one architecture")
        from primeval.layers.evaluate import ARCH_SPECS, ProxySettings

        for a in self.archs:
            if a not in ARCH_SPECS:
                raise ValueError(f"unknown architecture {a!r}; known: {', '.join(ARCH_SPECS)}")
        ProxySettings.from_dict(self.proxy)  # refuses unknown keys now, not in a worker

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> SearchSettings:
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"unknown search setting(s): {', '.join(sorted(unknown))}")
        obj = dict(obj)
        if "archs" in obj:
            archs = obj["archs"]
            obj["archs"] = tuple(archs.split(",") if isinstance(archs, str) else archs)
        try:
            return cls(**obj)
        except TypeError as e:
            raise ValueError(f"bad search settings ({e})") from None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["archs"] = list(self.archs)
        return out

    def with_overrides(self, **changes: Any) -> SearchSettings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


class LayerWorker(EvaluationWorker):
    """Evaluates layers on the proxy task of the run folder named by :data:`RUN_ENV`,
    looking each one up in the shared cache first."""

    def __init__(self) -> None:
        from primeval.layers.cache import SharedCache
        from primeval.layers.evaluate import Proxy, ProxySettings
        from primeval.nn.runtime import set_threads

        folder = RunFolder.open(os.environ[RUN_ENV])
        s = SearchSettings.from_dict(folder.read_json("settings.json"))
        set_threads(1)
        self.space = LayerSpace(s.min_nodes, s.max_nodes, s.batch_independent)
        self.proxy = Proxy.mnist(
            s.archs,
            ProxySettings.from_dict(s.proxy),
            size=s.image_size,
            n_train=s.n_train,
            n_val=s.n_val,
        )
        self.cache = SharedCache(folder.file("cache.jsonl"))

    def evaluate(self, genome: LayerGraph) -> dict[str, Any]:
        from primeval.layers.evaluate import Outcome, fingerprint

        t = time.perf_counter()
        key = genome.key()
        hit = self.cache.get(key, None)
        fp = None
        if hit is None:
            try:
                fp = fingerprint(genome)
            except (RuntimeError, ValueError) as e:
                bad = Outcome("invalid", detail=f"{type(e).__name__}: {e}")
                return {**bad.to_dict(), "cache": None, "lookup_seconds": 0.0}
            hit = self.cache.get(key, fp)
        lookup = time.perf_counter() - t
        if hit is not None:
            kind, outcome = hit
            return {**outcome, "seconds": {}, "cache": kind, "lookup_seconds": lookup}
        result = self.proxy.evaluate(genome).to_dict()
        assert fp is not None
        self.cache.put(key, fp, result)
        return {**result, "cache": None, "lookup_seconds": lookup}


class ArchParetoEvolution(ParetoEvolution[LayerGraph]):
    """Regularized evolution with the Pareto tournament over per-architecture accuracies;
    the vector of the individual just told is set by :meth:`set_vector`."""

    def set_vector(self, individual_id: int, vector: list[float]) -> None:
        for k in range(len(self.population) - 1, -1, -1):
            if self.population[k][0].id == individual_id:
                self.population[k] = (self.population[k][0], tuple(vector))
                return


def _strategy(s: SearchSettings, space: LayerSpace) -> Strategy[LayerGraph]:
    if s.strategy == "random":
        return RandomSearch(space)
    return ArchParetoEvolution(space, s.population_size, s.tournament_size)


@dataclass
class Counters:
    candidates: int = 0
    ok: int = 0
    rejected_stability: int = 0
    rejected_quality: int = 0
    invalid: int = 0
    cache_hits_key: int = 0
    cache_hits_fingerprint: int = 0
    failed: int = 0  # a worker error or death
    seconds: dict[str, float] = field(
        default_factory=lambda: {"lookup": 0.0, "stability": 0.0, "train": 0.0}
    )


Tick = Callable[[dict[str, Any]], None]


def _vector(value: Any, archs: tuple[str, ...]) -> list[float]:
    acc = value.get("accuracy", {}) if isinstance(value, dict) else {}
    if not isinstance(value, dict) or value.get("status") != "ok":
        return [-math.inf] * len(archs)
    return [float(acc.get(a, -math.inf)) for a in archs]


def search(
    folder: RunFolder, settings: SearchSettings | None = None, on_tick: Tick | None = None
) -> dict[str, Any]:
    """Run (or, when ``folder`` holds a checkpoint, resume) a search; returns the summary.
    A new search needs ``settings``; a resumed one reads them from the folder."""
    ckpt = folder.file(RunFolder.CHECKPOINT)
    resuming = ckpt.exists() or ckpt.with_name("checkpoint.prev.npz").exists()
    if resuming:
        settings = SearchSettings.from_dict(folder.read_json("settings.json"))
    elif settings is None:
        raise ValueError("a new search needs settings")
    else:
        folder.write_json("settings.json", settings.to_dict())
    s = settings
    space = LayerSpace(s.min_nodes, s.max_nodes, s.batch_independent)
    strategy = _strategy(s, space)
    counters = Counters()
    records_file = folder.file("candidates.jsonl")
    elapsed0 = 0.0

    def on_result(ind: Individual[LayerGraph], value: Any) -> None:
        counters.candidates += 1
        rec: dict[str, Any] = {"id": ind.id, "parent": ind.parent, "mutation": ind.mutation}
        if not isinstance(value, dict):
            counters.failed += 1
            rec["status"] = "failed"
        else:
            status = value.get("status")
            if status not in STATUSES:
                status = "invalid"
            setattr(counters, status, getattr(counters, status) + 1)
            if value.get("cache") == "key":
                counters.cache_hits_key += 1
            elif value.get("cache") == "fingerprint":
                counters.cache_hits_fingerprint += 1
            counters.seconds["lookup"] += float(value.get("lookup_seconds", 0.0))
            for stage, sec in value.get("seconds", {}).items():
                counters.seconds[stage] = counters.seconds.get(stage, 0.0) + float(sec)
            rec.update(
                status=status,
                accuracy=value.get("accuracy", {}),
                cache=value.get("cache"),
                detail=value.get("detail", ""),
                fitness=value.get("fitness"),
                curves=value.get("curves", {}),
            )
        if isinstance(strategy, ArchParetoEvolution):
            strategy.set_vector(ind.id, _vector(value, s.archs))
        rec["layer"] = ind.genome.to_json()
        rec["formula"] = formula(ind.genome)
        with records_file.open("a") as f:
            f.write(json.dumps(rec) + "\n")

    os.environ[RUN_ENV] = str(folder.path.resolve())
    pool = make_pool(
        "processes" if s.workers > 1 else "inline", f"{__name__}.LayerWorker", s.workers
    )
    rng = np.random.default_rng(s.seed)
    island: AsyncIsland[LayerGraph] = AsyncIsland(
        strategy, pool, rng, per_worker=1, on_result=on_result
    )
    if resuming:
        _, meta, _ = load_checkpoint(ckpt)
        island.restore(meta["island"])
        c = meta["counters"]
        counters = Counters(**c)
        elapsed0 = float(meta["elapsed"])
        _truncate(records_file, int(meta["records"]))
        folder.end_progress_line()
        folder.append_progress({"event": "resumed", "evaluations": counters.candidates})

    def checkpoint(elapsed: float) -> None:
        n = sum(1 for _ in records_file.open()) if records_file.exists() else 0
        meta = {
            "island": island.state(),
            "counters": asdict(counters),
            "elapsed": elapsed,
            "records": n,
        }
        save_checkpoint(ckpt, {}, meta)

    start = time.perf_counter()
    last_ckpt = start
    elapsed = elapsed0
    try:
        while True:
            elapsed = elapsed0 + time.perf_counter() - start
            left = s.time_budget - elapsed
            if left <= 0 or (
                s.max_candidates is not None and counters.candidates >= s.max_candidates
            ):
                break
            island.advance(1, timeout=max(left, 1.0))
            elapsed = elapsed0 + time.perf_counter() - start
            best = strategy.best
            tick = {
                "elapsed": round(elapsed, 2),
                "candidates": counters.candidates,
                "ok": counters.ok,
                "rejected_stability": counters.rejected_stability,
                "rejected_quality": counters.rejected_quality,
                "cache_hits": counters.cache_hits_key + counters.cache_hits_fingerprint,
                "best_fitness": None
                if best is None or not math.isfinite(best.fitness)
                else best.fitness,
            }
            folder.append_progress(tick)
            if on_tick is not None:
                on_tick(tick)
            if time.perf_counter() - last_ckpt >= s.checkpoint_every:
                checkpoint(elapsed)
                last_ckpt = time.perf_counter()
        checkpoint(elapsed)
    except KeyboardInterrupt:
        checkpoint(elapsed0 + time.perf_counter() - start)  # resumable from here
        raise
    finally:
        island.close()
    summary = _summary(folder, s, counters, island, elapsed)
    folder.write_json(RunFolder.SUMMARY, summary)
    return summary


def _truncate(path: Any, lines: int) -> None:
    if not path.exists():
        return
    kept = path.read_text().splitlines(keepends=True)[:lines]
    path.write_text("".join(kept))


def read_candidates(folder: RunFolder) -> list[dict[str, Any]]:
    """The candidates of a run folder (a line cut short by a kill is skipped)."""
    return read_json_lines(folder.file("candidates.jsonl"))


def _summary(
    folder: RunFolder,
    s: SearchSettings,
    c: Counters,
    island: AsyncIsland[LayerGraph],
    elapsed: float,
) -> dict[str, Any]:
    recs = read_candidates(folder)
    ok = [r for r in recs if r.get("status") == "ok"]
    best_rec = max(ok, key=lambda r: r["fitness"], default=None)
    front: list[dict[str, Any]] = []
    if ok:
        pts = [[r["accuracy"].get(a, -math.inf) for a in s.archs] for r in ok]
        front = [
            {"id": ok[i]["id"], "formula": ok[i]["formula"], "accuracy": ok[i]["accuracy"]}
            for i in pareto_front(pts)
        ]
    hits = c.cache_hits_key + c.cache_hits_fingerprint
    n = max(c.candidates, 1)
    stage_total = sum(c.seconds.values()) or 1.0
    return {
        "strategy": s.strategy,
        "archs": list(s.archs),
        "batch_independent": s.batch_independent,
        "seconds": round(elapsed, 2),
        "workers": s.workers,
        "candidates": c.candidates,
        "trained": c.ok,
        "rejected_stability": c.rejected_stability,
        "rejected_quality": c.rejected_quality,
        "invalid": c.invalid,
        "failed": c.failed,
        "rejection_rate_stability": c.rejected_stability / n,
        "rejection_rate_quality": c.rejected_quality / n,
        "cache_hits": hits,
        "cache_hits_key": c.cache_hits_key,
        "cache_hits_fingerprint": c.cache_hits_fingerprint,
        "cache_hit_rate": hits / n,
        "candidates_per_hour": c.candidates / elapsed * 3600 if elapsed > 0 else None,
        "stage_seconds": {k: round(v, 2) for k, v in c.seconds.items()},
        "stage_share": {k: v / stage_total for k, v in c.seconds.items()},
        "worker_restarts": island.restarts,
        "errors": island.errors[-5:],
        "best": None
        if best_rec is None
        else {
            "formula": best_rec["formula"],
            "layer": best_rec["layer"],
            "accuracy": best_rec["accuracy"],
            "fitness": best_rec["fitness"],
        },
        "pareto_front": front,
    }


def load_layer(text: str) -> LayerGraph:
    """A graph from JSON text: a layer, or a record or summary holding one."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise LayerFormatError(f"not JSON ({e})") from None
    if isinstance(obj, dict) and isinstance(obj.get("best"), dict):
        obj = obj["best"]
    if isinstance(obj, dict) and "layer" in obj:
        obj = obj["layer"]
    return from_json(obj)
