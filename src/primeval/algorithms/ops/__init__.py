"""The 65 AutoML-Zero ops. Importing this package registers them all in :data:`REGISTRY`."""

from primeval.algorithms.ops import arithmetic, data, linalg, stats  # noqa: F401  (registers)
from primeval.algorithms.ops.registry import (
    REGISTRY,
    Cost,
    DataField,
    DataInit,
    DataMutation,
    Family,
    Kind,
    OpRegistry,
    OpSpec,
    register,
)
from primeval.engine.registry import RegistryError

__all__ = [
    "REGISTRY",
    "Cost",
    "DataField",
    "DataInit",
    "DataMutation",
    "Family",
    "Kind",
    "OpRegistry",
    "OpSpec",
    "RegistryError",
    "register",
]
