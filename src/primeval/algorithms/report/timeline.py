"""The discovery timeline: when each technique appears along the best algorithm's ancestry.

Real et al. (2020), "AutoML-Zero", Figure 6: the ancestors of the best algorithm, oldest
first, with their fitness, annotated with the techniques evolution found on the way. Each
ancestor's program goes through :func:`primeval.algorithms.detectors.detect`; a technique's
*discovery* is the first ancestor from which it stays present to the end of the chain
(a technique that appears, is lost and comes back is dated from its last appearance, the
one the best algorithm inherited).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from primeval.algorithms.lineage import Ancestor


@dataclass(frozen=True)
class Discovery:
    technique: str
    index: int  # position in the ancestry, oldest first
    evaluation: int
    fitness: float
    description: str


def detections(chain: list[Ancestor]) -> list[set[str]]:
    """The techniques found in each ancestor's program."""
    from primeval.algorithms.detectors import detect

    seen: dict[Any, set[str]] = {}
    out = []
    for a in chain:
        key = a.program.fingerprint()
        if key not in seen:
            seen[key] = {d.technique for d in detect(a.program)}
        out.append(seen[key])
    return out


def discoveries(chain: list[Ancestor]) -> list[Discovery]:
    """Each technique of the last ancestor, dated by the start of its final unbroken run."""
    from primeval.algorithms.detectors import DETECTORS

    if not chain:
        return []
    found = detections(chain)
    described = {d.name: d.description for d in DETECTORS}
    out = []
    for technique in sorted(found[-1]):
        k = len(chain) - 1
        while k > 0 and technique in found[k - 1]:
            k -= 1
        a = chain[k]
        out.append(Discovery(technique, k, a.evaluation, a.fitness, described.get(technique, "")))
    return sorted(out, key=lambda d: (d.index, d.technique))
