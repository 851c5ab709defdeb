"""Noisy Student self-training (Xie, Luong, Hovy, Le 2020, "Self-training with Noisy Student
improves ImageNet classification") in PyTorch: a teacher trained on the labeled examples labels
an unlabeled pool without noise; an equal-or-larger student learns from the labeled and the
confident, class-balanced pseudo-labeled examples with noise (RandAugment, dropout, stochastic
depth); the student becomes the next teacher. Importing this package imports torch.
"""

from primeval.labels.config import NoisyStudentConfig
from primeval.labels.loop import NoisyStudent, NoisyStudentError
from primeval.labels.pseudo import balance, select

__all__ = ["NoisyStudent", "NoisyStudentConfig", "NoisyStudentError", "balance", "select"]
