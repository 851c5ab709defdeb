"""RandAugment for images and signals: input noise for Noisy Student and data augmentation.

Cubuk, Zoph, Shlens, Le (2020), "RandAugment: Practical automated data augmentation with a
reduced search space": each image gets ``n`` operations drawn uniformly from a fixed list, all
at one global magnitude ``m``; Xie et al. (2020), "Self-training with Noisy Student improves
ImageNet classification", noise their students with ``n = 2, m = 27`` on a scale whose top is
:data:`MAX_MAGNITUDE` = 30.

The image operations are RandAugment's fourteen (identity, auto-contrast, equalize, rotate,
solarize, color, posterize, contrast, brightness, sharpness, shear x/y, translate x/y), written on
float tensors ``(B, C, H, W)`` in ``[0, 1]`` with PIL's definitions (posterize and equalize on
the 8-bit values); color is left out for grayscale images, where it is the identity. A
magnitude ``m`` is the fraction ``r = m / 30`` of each operation's range (:data:`IMAGE_OPS`):
rotations up to 30 degrees, shears up to 0.3, translations up to 45% of the side, enhancement
factors ``1 +- 0.9 r`` (the side drawn per image, as rotations, shears and translations are),
solarize threshold ``1 - r``, posterize to ``8 - round(4 r)`` bits. Geometric operations fill
with 0 (the background of digit images).

Signals ``(B, C, L)`` (mnist1d) get the 1-D analogues (:data:`SIGNAL_OPS`): identity, shift,
time stretch, amplitude scale, Gaussian noise and blur.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

MAX_MAGNITUDE = 30.0

# An operation: images (k, C, H, W) and one parameter per image (k,) -> images; the generator
# serves operations that draw (noise).
Op = Callable[[Tensor, Tensor, torch.Generator], Tensor]
# Per image parameter from the magnitude fraction r and a random side (+1 / -1) per image.
Level = Callable[[float, Tensor], Tensor]


# --- image operations, each with an explicit parameter per image -----------------------------


def identity(x: Tensor, p: Tensor, g: torch.Generator | None = None) -> Tensor:
    return x


def _per_image(p: Tensor, x: Tensor) -> Tensor:
    return p.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


def _affine(x: Tensor, theta: Tensor) -> Tensor:
    """Sample ``x`` at ``theta @ (u, v, 1)`` for each output position in normalised coordinates
    (pixel centres, ``align_corners=False``), zero outside."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _eye(p: Tensor) -> Tensor:
    theta = torch.zeros(p.shape[0], 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    return theta


def rotate(x: Tensor, degrees: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Rotate counter-clockwise (as PIL) by ``degrees`` about the centre (square images)."""
    a = degrees.to(torch.float64) * math.pi / 180.0
    theta = torch.zeros(a.shape[0], 2, 3, dtype=torch.float64)
    # output (u, v) reads input R(-a) (u, v); v grows downwards, so this turns the picture
    # counter-clockwise as seen.
    theta[:, 0, 0] = torch.cos(a)
    theta[:, 0, 1] = -torch.sin(a)
    theta[:, 1, 0] = torch.sin(a)
    theta[:, 1, 1] = torch.cos(a)
    return _affine(x, theta)


def shear_x(x: Tensor, s: Tensor, g: torch.Generator | None = None) -> Tensor:
    """``out[y, x] = in[y, x + s (y - centre)]`` (square images)."""
    theta = _eye(s)
    theta[:, 0, 1] = s.to(torch.float64)
    return _affine(x, theta)


def shear_y(x: Tensor, s: Tensor, g: torch.Generator | None = None) -> Tensor:
    """``out[y, x] = in[y + s (x - centre), x]`` (square images)."""
    theta = _eye(s)
    theta[:, 1, 0] = s.to(torch.float64)
    return _affine(x, theta)


def translate_x(x: Tensor, frac: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Shift right by ``frac`` of the width: ``out[y, x] = in[y, x - frac W]``."""
    theta = _eye(frac)
    theta[:, 0, 2] = -2.0 * frac.to(torch.float64)
    return _affine(x, theta)


def translate_y(x: Tensor, frac: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Shift down by ``frac`` of the height."""
    theta = _eye(frac)
    theta[:, 1, 2] = -2.0 * frac.to(torch.float64)
    return _affine(x, theta)


def auto_contrast(x: Tensor, p: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Per image and channel, stretch ``[min, max]`` to ``[0, 1]`` (flat channels unchanged)."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (x - lo) / torch.where(span > 0, span, 1.0), x)


def _bytes(x: Tensor) -> Tensor:
    return torch.round(x.clamp(0.0, 1.0) * 255.0).to(torch.int64)


def equalize(x: Tensor, p: Tensor, g: torch.Generator | None = None) -> Tensor:
    """PIL's ``ImageOps.equalize`` per image and channel on the 8-bit values: with ``n`` pixels,
    ``c`` of them at the largest value present and ``step = (n - c) // 255``, value ``v`` maps to
    ``min(255, (pixels below v + step // 2) // step)`` (unchanged when ``step`` is 0)."""
    b = _bytes(x)
    k, c = b.shape[:2]
    flat = b.reshape(k * c, -1)
    out = torch.empty_like(flat)
    for i in range(flat.shape[0]):
        hist = torch.bincount(flat[i], minlength=256)
        last = hist[hist.nonzero().max()]
        step = int((flat.shape[1] - last) // 255)
        if step == 0:
            out[i] = flat[i]
            continue
        below = torch.cumsum(hist, 0) - hist
        lut = torch.clamp((below + step // 2) // step, max=255)
        out[i] = lut[flat[i]]
    return out.reshape(b.shape).to(x.dtype) / 255.0


def solarize(x: Tensor, threshold: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Invert the values at or above ``threshold``: ``x if x < t else 1 - x``."""
    t = _per_image(threshold, x)
    return torch.where(x < t, x, 1.0 - x)


def posterize(x: Tensor, bits: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Keep the ``bits`` high bits of each 8-bit value."""
    shift = (8 - bits.to(torch.int64)).reshape(-1, *([1] * (x.dim() - 1)))
    b = _bytes(x)
    return ((b >> shift) << shift).to(x.dtype) / 255.0


def _blend(degenerate: Tensor, x: Tensor, factor: Tensor) -> Tensor:
    """PIL's ``ImageEnhance``: ``degenerate + factor (x - degenerate)``, clipped to [0, 1]."""
    f = _per_image(factor, x)
    return (degenerate + f * (x - degenerate)).clamp(0.0, 1.0)


def _gray(x: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).reshape(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def color(x: Tensor, factor: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Saturation: blend with the image's gray version (ITU-R 601 luma)."""
    return _blend(_gray(x).expand_as(x), x, factor)


def contrast(x: Tensor, factor: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Blend with the mean gray level of the image."""
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(mean.expand_as(x), x, factor)


def brightness(x: Tensor, factor: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Blend with black: ``x * factor`` clipped."""
    return _blend(torch.zeros_like(x), x, factor)


SMOOTH = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64) / 13


def sharpness(x: Tensor, factor: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Blend with PIL's smoothed image (3x3 kernel 1-1-1 / 1-5-1 / 1-1-1 over 13; the border
    pixels are kept as they are)."""
    c = x.shape[1]
    kernel = SMOOTH.to(x.dtype).expand(c, 1, 3, 3)
    smooth = x.clone()
    smooth[..., 1:-1, 1:-1] = F.conv2d(x, kernel, groups=c)
    return _blend(smooth, x, factor)


def _signed(top: float) -> Level:
    return lambda r, side: side * top * r


def _enhance(r: float, side: Tensor) -> Tensor:
    return 1.0 + side * 0.9 * r


def _none(r: float, side: Tensor) -> Tensor:
    return torch.zeros_like(side)


@dataclass(frozen=True)
class AugmentOp:
    """An operation and how the magnitude fraction ``r`` sets its parameter."""

    fn: Op
    level: Level


IMAGE_OPS: dict[str, AugmentOp] = {
    "identity": AugmentOp(identity, _none),
    "auto_contrast": AugmentOp(auto_contrast, _none),
    "equalize": AugmentOp(equalize, _none),
    "rotate": AugmentOp(rotate, _signed(30.0)),
    "solarize": AugmentOp(solarize, lambda r, side: torch.full_like(side, 1.0 - r)),
    "color": AugmentOp(color, _enhance),
    "posterize": AugmentOp(posterize, lambda r, side: torch.full_like(side, 8 - round(4 * r))),
    "contrast": AugmentOp(contrast, _enhance),
    "brightness": AugmentOp(brightness, _enhance),
    "sharpness": AugmentOp(sharpness, _enhance),
    "shear_x": AugmentOp(shear_x, _signed(0.3)),
    "shear_y": AugmentOp(shear_y, _signed(0.3)),
    "translate_x": AugmentOp(translate_x, _signed(0.45)),
    "translate_y": AugmentOp(translate_y, _signed(0.45)),
}
COLOR_OPS = tuple(IMAGE_OPS)
GRAY_OPS = tuple(name for name in IMAGE_OPS if name != "color")


# --- signal operations (B, C, L) ---------------------------------------------------------------


def _warp1d(x: Tensor, stretch: Tensor, shift: Tensor) -> Tensor:
    """``out(t) = in(t / stretch - shift)`` in normalised time about the centre (zero outside)."""
    theta = torch.zeros(x.shape[0], 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = 1.0 / stretch.to(torch.float64)
    theta[:, 0, 2] = -2.0 * shift.to(torch.float64)
    theta[:, 1, 1] = 1.0
    return _affine(x.unsqueeze(2), theta).squeeze(2)


def shift1d(x: Tensor, frac: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Shift later in time by ``frac`` of the length: ``out[t] = in[t - frac L]``, zero fill."""
    return _warp1d(x, torch.ones_like(frac), frac)


def stretch1d(x: Tensor, factor: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Stretch time about the centre by ``factor`` (linear interpolation, zero fill)."""
    return _warp1d(x, factor, torch.zeros_like(factor))


def scale1d(x: Tensor, factor: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Multiply the amplitude by ``factor``."""
    return x * _per_image(factor, x)


def noise1d(x: Tensor, sigma: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Add Gaussian noise of standard deviation ``sigma``."""
    z = torch.randn(x.shape, generator=g, dtype=x.dtype)
    return x + _per_image(sigma, x) * z


def blur1d(x: Tensor, sigma: Tensor, g: torch.Generator | None = None) -> Tensor:
    """Gaussian blur of standard deviation ``sigma`` samples (5 taps, zero padding)."""
    t = torch.arange(-2, 3, dtype=x.dtype)
    s = _per_image(sigma, x).reshape(-1, 1).clamp_min(1e-3)
    w = torch.exp(-0.5 * (t / s) ** 2)
    w = w / w.sum(dim=1, keepdim=True)  # (k, 5)
    padded = F.pad(x, (2, 2))
    windows = padded.unfold(-1, 5, 1)  # (k, C, L, 5)
    return (windows * w[:, None, None, :]).sum(-1)


SIGNAL_OPS: dict[str, AugmentOp] = {
    "identity": AugmentOp(identity, _none),
    "shift": AugmentOp(shift1d, _signed(0.25)),
    "stretch": AugmentOp(stretch1d, lambda r, side: 1.0 + side * 0.3 * r),
    "scale": AugmentOp(scale1d, lambda r, side: 1.0 + side * 0.5 * r),
    "noise": AugmentOp(noise1d, lambda r, side: torch.full_like(side, 0.3 * r)),
    "blur": AugmentOp(blur1d, lambda r, side: torch.full_like(side, 1.5 * r)),
}


@dataclass(frozen=True)
class RandAugment:
    """``n`` operations per example drawn uniformly from ``ops`` (names in ``table``), each at
    magnitude ``magnitude`` on the 0-30 scale; the random side of signed operations is drawn per
    example. Called with a batch and a generator; returns a new batch."""

    n: int = 2
    magnitude: float = 27.0
    ops: tuple[str, ...] = GRAY_OPS
    signals: bool = False

    def __post_init__(self) -> None:
        table = SIGNAL_OPS if self.signals else IMAGE_OPS
        unknown = [o for o in self.ops if o not in table]
        if unknown:
            raise ValueError(f"unknown RandAugment ops {unknown}; known: {', '.join(table)}")
        if not 0 <= self.magnitude <= MAX_MAGNITUDE:
            raise ValueError(f"RandAugment magnitude {self.magnitude} outside [0, 30]")

    @classmethod
    def for_data(cls, kind: str, channels: int, n: int = 2, magnitude: float = 27.0) -> RandAugment:
        """The paper's list for images (color only with three channels) or the signal list."""
        if kind == "signal":
            return cls(n, magnitude, tuple(SIGNAL_OPS), signals=True)
        return cls(n, magnitude, COLOR_OPS if channels == 3 else GRAY_OPS)

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        table = SIGNAL_OPS if self.signals else IMAGE_OPS
        r = self.magnitude / MAX_MAGNITUDE
        out = x.clone()
        for _ in range(self.n):
            which = torch.randint(len(self.ops), (x.shape[0],), generator=g)
            side = torch.randint(2, (x.shape[0],), generator=g).to(torch.float64) * 2.0 - 1.0
            for k, name in enumerate(self.ops):
                idx = (which == k).nonzero().flatten()
                if idx.numel() == 0 or name == "identity":
                    continue
                op = table[name]
                out[idx] = op.fn(out[idx], op.level(r, side[idx]), g).to(out.dtype)
        return out
