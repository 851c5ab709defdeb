"""Hand-designed normalization-activation layers written as graphs, from their formulas.

- ``bn_relu``: ``max(v1 * (x - mean_bhw) / sqrt(var_bhw + eps) + v0, 0)`` (Ioffe & Szegedy
  2015, BatchNorm's own affine in ``v1``, ``v0``);
- ``gn_relu``: the same over channel groups ``(h,w,c/g)`` (Wu & He 2018, GroupNorm);
- ``ln_relu``: the same over ``(h,w,c)`` (Ba et al. 2016, LayerNorm);
- ``evonorm_b0``: ``x / max(sqrt(var_bhw(x) + eps), v1 * x + sqrt(var_hw(x) + eps))``;
- ``evonorm_s0``: ``x * sigmoid(v1 * x) / sqrt(var_hwcg(x) + eps)`` (Liu et al., NeurIPS
  2020, the batch-dependent and batch-independent layers their search found);
- ``relu``: ``max(x, 0)``, no normalization (the yardstick a proxy task must separate).

Every graph is followed by the per-channel affine ``* gamma + beta`` (identity at
initialisation), as every searched layer is.
"""

from __future__ import annotations

from collections.abc import Callable

from primeval.layers.genome import LayerGraph, graph


def _norm_relu(over: str) -> LayerGraph:
    return graph(
        (f"mean_{over}", ["x"]),  # 4
        ("neg", [4]),  # 5
        ("add", ["x", 5]),  # 6: x - mean
        (f"var_{over}", ["x"]),  # 7
        ("sqrt", [7]),  # 8
        ("div", [6, 8]),  # 9: normalized
        ("mul", ["v1", 9]),  # 10
        ("add", [10, "v0"]),  # 11
        ("max", [11, "zero"]),  # 12
    )


def bn_relu() -> LayerGraph:
    return _norm_relu("bhw")


def gn_relu() -> LayerGraph:
    return _norm_relu("hwcg")


def ln_relu() -> LayerGraph:
    return _norm_relu("hwc")


def evonorm_b0() -> LayerGraph:
    return graph(
        ("var_bhw", ["x"]),  # 4
        ("sqrt", [4]),  # 5
        ("mul", ["v1", "x"]),  # 6
        ("var_hw", ["x"]),  # 7
        ("sqrt", [7]),  # 8
        ("add", [6, 8]),  # 9
        ("max", [5, 9]),  # 10
        ("div", ["x", 10]),  # 11
    )


def evonorm_s0() -> LayerGraph:
    return graph(
        ("mul", ["v1", "x"]),  # 4
        ("sigmoid", [4]),  # 5
        ("mul", ["x", 5]),  # 6
        ("var_hwcg", ["x"]),  # 7
        ("sqrt", [7]),  # 8
        ("div", [6, 8]),  # 9
    )


def relu() -> LayerGraph:
    return graph(("max", ["x", "zero"]))


NAMED: dict[str, Callable[[], LayerGraph]] = {
    "bn_relu": bn_relu,
    "gn_relu": gn_relu,
    "ln_relu": ln_relu,
    "evonorm_b0": evonorm_b0,
    "evonorm_s0": evonorm_s0,
    "relu": relu,
}


def named(name: str) -> LayerGraph:
    if name not in NAMED:
        raise ValueError(f"unknown layer {name!r}; known: {', '.join(NAMED)}")
    return NAMED[name]()
