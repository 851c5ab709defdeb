"""Pseudo-labels: the confidence filter and class balancing of Noisy Student (Xie et al. 2020,
Sec. 3: "we filter images that the teacher model has low confidences on" and "we duplicate
images in classes where there are not enough images. For classes where we have too many
images, we take the images with the highest confidence"). Pure numpy, so exact tests are easy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

HIST_BINS = 20


def balance(
    labels: np.ndarray, confidence: np.ndarray, n_classes: int, per_class: int
) -> np.ndarray:
    """Indices into ``labels`` giving each class exactly ``per_class`` examples: its most
    confident ones when it has more, all of them repeated in order of decreasing confidence
    (ties by index) until ``per_class`` when it has fewer; a class with none stays empty.
    Classes come in order."""
    out = []
    for c in range(n_classes):
        ids = np.flatnonzero(labels == c)
        if len(ids) == 0:
            continue
        ranked = ids[np.argsort(-confidence[ids], kind="stable")]
        out.append(np.resize(ranked, per_class))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def select(
    probs: np.ndarray, threshold: float, balanced: bool, per_class: int | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The pool examples a student learns from, as indices into ``probs`` (repeats allowed), and
    statistics for the report.

    Keeps the examples whose top probability is at least ``threshold``; with ``balanced``, then
    balances the classes to ``per_class`` each (default: the kept count over the class count,
    rounded, at least one)."""
    n_classes = probs.shape[1]
    conf = probs.max(axis=1)
    label = probs.argmax(axis=1)
    kept = np.flatnonzero(conf >= threshold)
    before = np.bincount(label, minlength=n_classes)
    filtered = np.bincount(label[kept], minlength=n_classes)
    if balanced and len(kept):
        target = per_class if per_class is not None else max(1, round(len(kept) / n_classes))
        chosen = kept[balance(label[kept], conf[kept], n_classes, target)]
    else:
        chosen = kept
    hist, _ = np.histogram(conf, bins=HIST_BINS, range=(0.0, 1.0))
    stats = {
        "pool": len(probs),
        "kept": len(kept),
        "used": len(chosen),
        "confidence_histogram": hist.tolist(),
        "class_counts_before": before.tolist(),
        "class_counts_filtered": filtered.tolist(),
        "class_counts_after": np.bincount(label[chosen], minlength=n_classes).tolist(),
    }
    return chosen, stats
