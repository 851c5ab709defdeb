"""Small model families for images (2-D) and signals (1-D) with width and depth multipliers.

Two families, each a function of the input shape, the class count and multipliers, so a student
can be a larger member of its teacher's family (Xie et al. 2020, Noisy Student: "equal-or-larger
student") and a compound scaling can grow width and depth (Tan & Le 2019, EfficientNet):

- ``cnn``: stages of ``conv -> norm-act`` layers, max-pooled between stages;
- ``resnet``: pre-activation residual blocks (He et al. 2016, "Identity mappings in deep residual
  networks"): ``norm-act -> conv -> norm-act -> conv`` plus the shortcut, with stochastic depth
  (Huang et al. 2016) on the residual branch.

Both end with ``norm-act``, global average pooling, dropout and a linear classifier. Every
normalization-activation pair is made by one factory ``norm_act(channels, dims)``
(:data:`NORM_ACTS` names the usual ones), the slot a searched layer plugs into (Liu et al. 2020,
"Evolving normalization-activation layers").

Widths are ``round(base * width)`` to a multiple of :data:`WIDTH_DIVISOR` (at least one
multiple); depths ``ceil(base * depth)``: :func:`scaled_width`, :func:`scaled_depth`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

NormAct = Callable[[int, int], nn.Module]
WIDTH_DIVISOR = 4


def scaled_width(base: int, width: float, divisor: int = WIDTH_DIVISOR) -> int:
    """``base * width`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, round(base * width / divisor) * divisor)


def scaled_depth(base: int, depth: float) -> int:
    """``ceil(base * depth)``, at least one (EfficientNet's rounding of layer counts)."""
    return max(1, math.ceil(base * depth - 1e-9))


def _bn(channels: int, dims: int) -> nn.Module:
    return nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)


def bn_relu(channels: int, dims: int) -> nn.Module:
    return nn.Sequential(_bn(channels, dims), nn.ReLU())


def gn_relu(channels: int, dims: int) -> nn.Module:
    """GroupNorm with up to 8 groups (as many as divide the channels) and ReLU."""
    groups = max(g for g in range(1, 9) if channels % g == 0)
    return nn.Sequential(nn.GroupNorm(groups, channels), nn.ReLU())


def relu(channels: int, dims: int) -> nn.Module:
    """No normalization: the baseline a normalization layer must beat."""
    return nn.ReLU()


NORM_ACTS: dict[str, NormAct] = {"bn_relu": bn_relu, "gn_relu": gn_relu, "relu": relu}


def conv(dims: int, cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Module:
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    return cls(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016): in training, zero a sample's residual branch with
    probability ``1 - survival`` and divide the kept ones by ``survival``; identity in eval."""

    def __init__(self, survival: float = 1.0) -> None:
        super().__init__()
        if not 0.0 < survival <= 1.0:
            raise ValueError(f"stochastic depth survival must be in (0, 1], got {survival}")
        self.survival = survival

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.survival == 1.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype) < self.survival
        return x * keep.to(x.dtype) / self.survival


class PreActBlock(nn.Module):
    """``x + droppath(conv(norm_act(conv(norm_act(x)))))``; a strided 1x1 conv shortcut when
    the shape changes."""

    def __init__(
        self, dims: int, cin: int, cout: int, stride: int, norm_act: NormAct, survival: float
    ) -> None:
        super().__init__()
        self.act1 = norm_act(cin, dims)
        self.conv1 = conv(dims, cin, cout, 3, stride)
        self.act2 = norm_act(cout, dims)
        self.conv2 = conv(dims, cout, cout, 3)
        self.drop = DropPath(survival)
        self.shortcut = (
            conv(dims, cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.shortcut(x) + self.drop(self.conv2(self.act2(self.conv1(self.act1(x)))))
        return out


class Head(nn.Module):
    """``norm_act``, global average pooling, dropout, linear."""

    def __init__(self, dims: int, c: int, n_classes: int, norm_act: NormAct, dropout: float):
        super().__init__()
        self.act = norm_act(c, dims)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(x)
        x = x.mean(dim=tuple(range(2, x.dim())))
        return self.fc(self.dropout(x))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ModelSpec:
    """A member of a family: which family, its multipliers and its model noise.

    ``widths`` and ``depths`` are the base stage widths and layer counts at multiplier 1;
    ``survival`` is the stochastic-depth survival probability of the last block, decreasing
    linearly from 1 at the input (Huang et al. 2016); ``dropout`` is before the classifier."""

    family: str = "resnet"
    width: float = 1.0
    depth: float = 1.0
    widths: tuple[int, ...] = (16, 32, 64)
    depths: tuple[int, ...] = (1, 1, 1)
    norm_act: str = "bn_relu"
    dropout: float = 0.0
    survival: float = 1.0

    def replace(self, **changes: object) -> ModelSpec:
        from dataclasses import replace

        return replace(self, **changes)  # type: ignore[arg-type]


FAMILIES = ("cnn", "resnet")


def resolve(
    spec: ModelSpec, input_shape: tuple[int, ...], norm_act: NormAct | None
) -> tuple[NormAct, int, list[int], list[int]]:
    """What every family builds from: the norm-act factory (``norm_act``, else the spec's
    named one), the input's spatial dimensions (1 or 2) and the scaled stage widths and
    depths."""
    if norm_act is None:
        if spec.norm_act not in NORM_ACTS:
            raise ValueError(f"unknown norm-act {spec.norm_act!r}; known: {', '.join(NORM_ACTS)}")
        norm_act = NORM_ACTS[spec.norm_act]
    dims = len(input_shape) - 1
    if dims not in (1, 2):
        raise ValueError(f"inputs must be (C, L) or (C, H, W), got {input_shape}")
    widths = [scaled_width(w, spec.width) for w in spec.widths]
    depths = [scaled_depth(d, spec.depth) for d in spec.depths]
    return norm_act, dims, widths, depths


def build(
    spec: ModelSpec,
    input_shape: tuple[int, ...],
    n_classes: int,
    norm_act: NormAct | None = None,
) -> nn.Module:
    """The network ``spec`` describes for inputs ``(C, H, W)`` (2-D) or ``(C, L)`` (1-D);
    ``norm_act`` overrides the named factory (a searched layer)."""
    if spec.family not in FAMILIES:
        raise ValueError(f"unknown model family {spec.family!r}; known: {', '.join(FAMILIES)}")
    norm_act, dims, widths, depths = resolve(spec, input_shape, norm_act)
    cin = input_shape[0]
    layers: list[nn.Module] = [conv(dims, cin, widths[0])]
    c = widths[0]
    if spec.family == "cnn":
        for s, (w, d) in enumerate(zip(widths, depths, strict=True)):
            if s:
                layers.append(
                    nn.MaxPool1d(2, ceil_mode=True)
                    if dims == 1
                    else nn.MaxPool2d(2, ceil_mode=True)
                )
            for _ in range(d):
                layers += [norm_act(c, dims), conv(dims, c, w)]
                c = w
    else:
        total = sum(depths)
        i = 0
        for s, (w, d) in enumerate(zip(widths, depths, strict=True)):
            for b in range(d):
                survival = 1.0 - (1.0 - spec.survival) * (i + 1) / total
                layers.append(PreActBlock(dims, c, w, 2 if s and not b else 1, norm_act, survival))
                c = w
                i += 1
    layers.append(Head(dims, c, n_classes, norm_act, spec.dropout))
    return nn.Sequential(*layers)
