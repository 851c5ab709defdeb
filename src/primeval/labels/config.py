"""What a Noisy Student run does: data, models, noise, pseudo-labels and training budgets.

The models are pre-activation ResNets of three stages, ``base_width`` x (1, 2, 4) channels at
width 1 (:mod:`primeval.nn.models`). The defaults are a CPU proxy of Xie et al. (2020)'s recipe:
RandAugment N = 2, M = 27, dropout 0.5 before the classifier, stochastic depth with survival 0.8
at the last block, soft pseudo-labels, confidence threshold 0.3, balanced classes, a student a
size up per iteration (width x ``width_growth``). ``noise=False`` switches every student noise
off (the paper's ablation); each noise also has its own switch. The first teacher trains with
the students' noise (``teacher_noise``), as the paper's teachers are themselves noised models
(its baseline EfficientNets train with RandAugment); without it, it trains plainly. With few
labels the labeled examples would vanish among the pseudo-labeled ones, so they are repeated to
make up ``labeled_share`` of the student's examples (the paper's ratio of labeled to unlabeled
batch sizes, here 1:1 by default).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from primeval.nn.data import DATASETS

FAMILIES = ("cnn", "resnet")


@dataclass(frozen=True)
class NoisyStudentConfig:
    dataset: str = "mnist"
    data_path: str | None = None
    image_size: int | None = 14
    labels_per_class: int = 10
    unlabeled: int | None = 3000
    test_size: int | None = None
    corrupted_size: int = 2000
    iterations: int = 3
    seed: int = 0
    family: str = "resnet"
    base_width: int = 8
    teacher_width: float = 1.0
    width_growth: float = 1.25
    depth: float = 1.0
    noise: bool = True
    randaugment: bool = True
    randaugment_n: int = 2
    randaugment_magnitude: float = 27.0
    dropout: float = 0.5
    survival: float = 0.8
    label_smoothing: float = 0.0
    teacher_noise: bool = True
    hard_labels: bool = False
    confidence: float = 0.3
    balance: bool = True
    per_class: int | None = None
    labeled_share: float = 0.5
    teacher_steps: int = 300
    student_steps: int = 400
    batch_size: int = 64
    lr: float = 0.05
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown data set {self.dataset!r}; known: {', '.join(DATASETS)}")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}; known: {', '.join(FAMILIES)}")
        checks = [
            (self.iterations >= 0, "--iterations must be >= 0"),
            (self.labels_per_class >= 1, "--labels-per-class must be >= 1"),
            (0.0 <= self.confidence < 1.0, "--confidence must be in [0, 1)"),
            (self.width_growth >= 1.0, "the student must be equal or larger: width growth >= 1"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (0.0 <= self.labeled_share < 1.0, "the labeled share must be in [0, 1)"),
            (0.0 < self.survival <= 1.0, "stochastic depth survival must be in (0, 1]"),
            (self.teacher_steps >= 1 and self.student_steps >= 1, "steps must be >= 1"),
            (self.threads >= 1, "--threads must be >= 1"),
            (self.base_width >= 1, "the base width must be >= 1"),
            (self.device in ("cpu", "cuda"), "--device must be cpu or cuda"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def width(self, iteration: int) -> float:
        """Width multiplier of the model of ``iteration`` (0: the first teacher)."""
        return self.teacher_width * self.width_growth**iteration

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NoisyStudentConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown Noisy Student settings {unknown}")
        return cls(**d)

    def replace(self, **changes: Any) -> NoisyStudentConfig:
        return dataclasses.replace(self, **changes)
