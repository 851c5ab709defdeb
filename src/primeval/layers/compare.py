"""Layers compared on the proxy architectures: layers x architectures x batch sizes x seeds.

Every layer gets the same learning-rate grid: for each (layer, architecture, batch size)
every rate is trained with every seed, the rate with the best mean validation accuracy is
kept, and its test accuracy is reported as mean and standard error over the seeds, with the
per-seed values so that two layers can be compared seed by seed (the seed fixes the
initialisation and the batch order). Runs are spread over ``workers`` processes with one
torch thread each.
"""

from __future__ import annotations

import math
import multiprocessing as mp
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from primeval.layers.genome import LayerGraph, from_json

_PROXY: Any = None


def _init(settings: dict[str, Any], data: dict[str, int], archs: Sequence[str]) -> None:
    global _PROXY
    from primeval.layers.evaluate import Proxy, ProxySettings
    from primeval.nn.runtime import set_threads

    set_threads(1)
    _PROXY = Proxy.mnist(archs, ProxySettings.from_dict(settings), **data)


def _run(task: tuple[str, dict[str, Any], str, int, float, int]) -> dict[str, Any]:
    from primeval.layers.module import factory
    from primeval.nn.train import accuracy

    name, layer, arch, batch, lr, seed = task
    p = _PROXY
    model, info = p.train(factory(from_json(layer), p.settings.groups), arch, seed, batch, lr)
    d = p.data
    return {
        "layer": name,
        "arch": arch,
        "batch_size": batch,
        "lr": lr,
        "seed": seed,
        "val": accuracy(model, d.x_val, d.y_val, p.device),
        "test": accuracy(model, d.x_test, d.y_test, p.device),
        "curve": info["curve"],
    }


def _mean_se(xs: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(xs, dtype=float)
    se = float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else math.nan
    return float(a.mean()), se


def runs(
    layers: dict[str, LayerGraph],
    archs: Sequence[str],
    batch_sizes: Sequence[int],
    seeds: Sequence[int],
    lrs: Sequence[float],
    settings: dict[str, Any] | None = None,
    data: dict[str, int] | None = None,
    workers: int = 1,
) -> Iterator[dict[str, Any]]:
    """Every training run, as it completes (in task order)."""
    settings = settings or {}
    data = data or {}
    tasks = [
        (name, g.to_json(), arch, b, lr, seed)
        for name, g in layers.items()
        for arch in archs
        for b in batch_sizes
        for lr in lrs
        for seed in seeds
    ]
    if workers <= 1:
        _init(settings, data, archs)
        for t in tasks:
            yield _run(t)
        return
    with ProcessPoolExecutor(
        workers, mp.get_context("spawn"), initializer=_init, initargs=(settings, data, archs)
    ) as ex:
        yield from ex.map(_run, tasks)


def table(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (layer, architecture, batch size): the rate with the best mean
    validation accuracy and its test accuracy's mean, s.e. and per-seed values."""
    groups: dict[tuple[str, str, int], dict[float, list[dict[str, Any]]]] = {}
    for r in results:
        key = (r["layer"], r["arch"], r["batch_size"])
        groups.setdefault(key, {}).setdefault(r["lr"], []).append(r)
    rows = []
    for (layer, arch, batch), by_lr in groups.items():
        val = {lr: float(np.mean([r["val"] for r in rs])) for lr, rs in by_lr.items()}
        best = max(val, key=lambda lr: (val[lr], -lr))
        chosen = sorted(by_lr[best], key=lambda r: r["seed"])
        mean, se = _mean_se([r["test"] for r in chosen])
        rows.append(
            {
                "layer": layer,
                "arch": arch,
                "batch_size": batch,
                "lr": best,
                "seeds": [r["seed"] for r in chosen],
                "test_mean": mean,
                "test_se": se,
                "test": [r["test"] for r in chosen],
                "val_by_lr": val,
            }
        )
    return rows


def paired(rows: Sequence[dict[str, Any]], a: str, b: str) -> list[dict[str, Any]]:
    """Layer ``a`` minus layer ``b`` seed by seed, per (architecture, batch size): mean and
    s.e. of the differences and how many s.e. the mean is from zero."""
    index = {(r["layer"], r["arch"], r["batch_size"]): r for r in rows}
    out = []
    for (layer, arch, batch), ra in index.items():
        rb = index.get((b, arch, batch))
        if layer != a or rb is None:
            continue
        tb = dict(zip(rb["seeds"], rb["test"], strict=True))
        diffs = [t - tb[s] for s, t in zip(ra["seeds"], ra["test"], strict=True) if s in tb]
        if not diffs:
            continue
        mean, se = _mean_se(diffs)
        z = mean / se if se and math.isfinite(se) and se > 0 else math.nan
        out.append(
            {
                "a": a,
                "b": b,
                "arch": arch,
                "batch_size": batch,
                "n": len(diffs),
                "diff_mean": mean,
                "diff_se": se,
                "z": z,
            }
        )
    return out
