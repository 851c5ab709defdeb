"""Tasks AutoML-Zero algorithms are trained and validated on (Real et al. 2020).

Synthetic teacher tasks (:mod:`.synthetic`), projected binary classification from image data sets
(:mod:`.projected`) and offline loaders for those data sets (:mod:`.datasets`).
"""

from primeval.algorithms.tasks.base import Task, TaskSet, shuffled_order
from primeval.algorithms.tasks.projected import (
    ALL_PAIRS,
    SELECTION_PAIRS,
    projected_binary_tasks,
    search_pairs,
)
from primeval.algorithms.tasks.synthetic import linear_regression_tasks, nonlinear_teacher_tasks
from primeval.datasets import (
    DATASETS,
    DatasetNotFound,
    load_cifar10,
    load_dataset,
    load_digits,
    load_mnist,
    read_idx,
)

__all__ = [
    "ALL_PAIRS",
    "DATASETS",
    "SELECTION_PAIRS",
    "DatasetNotFound",
    "Task",
    "TaskSet",
    "linear_regression_tasks",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "nonlinear_teacher_tasks",
    "projected_binary_tasks",
    "read_idx",
    "search_pairs",
    "shuffled_order",
]
