"""Tasks AutoML-Zero algorithms are trained and validated on (Real et al. 2020).

Synthetic teacher tasks (:mod:`.synthetic`), projected binary classification from image data sets
(:mod:`.projected`, also as task pools), multi-class tasks (:mod:`.multiclass`), tasks from the
user's own table (:mod:`.table`) and offline loaders for those data sets (:mod:`primeval.datasets`).
"""

from primeval.algorithms.tasks.base import Task, TaskSet, shuffled_order
from primeval.algorithms.tasks.multiclass import multiclass_tasks
from primeval.algorithms.tasks.projected import (
    ALL_PAIRS,
    SELECTION_PAIRS,
    draw_members,
    member_seed,
    pooled_binary_tasks,
    projected_binary_tasks,
    search_pairs,
)
from primeval.algorithms.tasks.synthetic import linear_regression_tasks, nonlinear_teacher_tasks
from primeval.algorithms.tasks.table import table_objective, table_tasks
from primeval.datasets import (
    DATASETS,
    DatasetNotFound,
    TableError,
    load_cifar10,
    load_dataset,
    load_digits,
    load_mnist,
    load_mnist1d,
    load_table,
    read_idx,
)

__all__ = [
    "ALL_PAIRS",
    "DATASETS",
    "SELECTION_PAIRS",
    "DatasetNotFound",
    "TableError",
    "Task",
    "TaskSet",
    "draw_members",
    "linear_regression_tasks",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_mnist1d",
    "load_table",
    "member_seed",
    "multiclass_tasks",
    "nonlinear_teacher_tasks",
    "pooled_binary_tasks",
    "projected_binary_tasks",
    "read_idx",
    "search_pairs",
    "shuffled_order",
    "table_objective",
    "table_tasks",
]
