"""A MobileNetV2-style family: inverted-residual blocks with depthwise convolutions.

Sandler et al. 2018 ("MobileNetV2: Inverted residuals and linear bottlenecks"): each block
expands its input with a 1x1 convolution, filters it with a depthwise 3x3 convolution (one
filter per channel) and projects it back with a 1x1 convolution that has no activation (the
linear bottleneck); a residual connection joins blocks of equal shape. The expansion and the
depthwise convolution are each followed by the normalization-activation slot
``norm_act(channels, dims)`` of :mod:`primeval.nn.models`, and the projection by nothing, so
that every normalization in the network is the slot's (a searched layer replaces them all;
Liu et al. 2020 evaluated EvoNorm on MobileNetV2 this way).

:func:`build` reads the same :class:`~primeval.nn.models.ModelSpec` as the other families
(``family="mobile"``): stage widths and depths scaled by the multipliers, a stride of 2 at
the start of every stage after the first, and ``expansion`` times wider hidden layers.
"""

from __future__ import annotations

from torch import Tensor, nn

from primeval.nn.models import (
    Head,
    ModelSpec,
    NormAct,
    conv,
    resolve,
)

EXPANSION = 4


def depthwise(dims: int, channels: int, stride: int) -> nn.Module:
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    return cls(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False)


class InvertedResidual(nn.Module):
    """``project(norm_act(depthwise(norm_act(expand(x)))))``, plus ``x`` when the shapes
    agree."""

    def __init__(
        self, dims: int, cin: int, cout: int, stride: int, expansion: int, norm_act: NormAct
    ) -> None:
        super().__init__()
        hidden = cin * expansion
        self.body = nn.Sequential(
            conv(dims, cin, hidden, 1),
            norm_act(hidden, dims),
            depthwise(dims, hidden, stride),
            norm_act(hidden, dims),
            conv(dims, hidden, cout, 1),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.body(x)
        return x + y if self.residual else y


def build(
    spec: ModelSpec,
    input_shape: tuple[int, ...],
    n_classes: int,
    norm_act: NormAct | None = None,
    expansion: int = EXPANSION,
) -> nn.Module:
    """The MobileNetV2-style network ``spec`` describes for inputs ``(C, H, W)`` or ``(C, L)``."""
    norm_act, dims, widths, depths = resolve(spec, input_shape, norm_act)
    c = widths[0]
    layers: list[nn.Module] = [conv(dims, input_shape[0], c), norm_act(c, dims)]
    for s, (w, d) in enumerate(zip(widths, depths, strict=True)):
        for b in range(d):
            layers.append(
                InvertedResidual(dims, c, w, 2 if s and not b else 1, expansion, norm_act)
            )
            c = w
    layers.append(Head(dims, c, n_classes, norm_act, spec.dropout))
    return nn.Sequential(*layers)
