"""Corrupted copies of a test set, for robustness (Hendrycks & Dietterich 2019, ImageNet-C;
Mu & Gilmer 2019, MNIST-C), which Noisy Student improves sharply (Xie et al. 2020, Sec. 4).

Five corruptions at one fixed severity each, drawn from a seeded generator so every model of a
run is tested on the same corrupted images:

- ``gaussian_noise``: add N(0, 0.3^2) (images clipped to [0, 1]; signals N(0, 0.5^2));
- ``blur``: Gaussian blur, standard deviation 5% of the side (signals: 1.5 samples);
- ``rotation``: rotate by 20-40 degrees either way (signals: shift by 5-15% of the length);
- ``contrast``: blend with the mean gray level, factor 0.3 (signals: amplitude x 0.5);
- ``elastic``: Simard et al. (2003)'s elastic distortion, a uniform random displacement field
  smoothed by a Gaussian of 15% of the side and scaled to 1.2 sides (signals: a smooth time warp).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from primeval.nn.augment import contrast, rotate, shift1d

CORRUPTIONS = ("gaussian_noise", "blur", "rotation", "contrast", "elastic")


def _sample(x: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Images ``x`` (n, C, H, W) read at each pixel plus ``(dx, dy)`` pixels (bilinear)."""
    h, w = x.shape[-2:]
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    gx = (2.0 * (xs + dx) + 1.0) / w - 1.0
    gy = (2.0 * (ys + dy) + 1.0) / h - 1.0
    grid = torch.as_tensor(np.stack([gx, gy], axis=-1), dtype=torch.float32)
    out = F.grid_sample(torch.as_tensor(x), grid, align_corners=False)
    return out.numpy()


def _image(name: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, _, h, w = x.shape
    if name == "gaussian_noise":
        return np.clip(x + rng.normal(0.0, 0.3, x.shape), 0.0, 1.0)
    if name == "blur":
        s = 0.05 * h
        return np.asarray(gaussian_filter(x, sigma=(0, 0, s, s), mode="constant"))
    if name == "rotation":
        deg = rng.uniform(20.0, 40.0, n) * rng.choice([-1.0, 1.0], n)
        return rotate(torch.as_tensor(x), torch.as_tensor(deg)).numpy()
    if name == "contrast":
        return contrast(torch.as_tensor(x), torch.full((n,), 0.3)).numpy()
    if name == "elastic":
        alpha, sigma = 1.2 * h, 0.15 * h
        d = rng.uniform(-1.0, 1.0, (2, n, h, w))
        dx = gaussian_filter(d[0], sigma=(0, sigma, sigma), mode="constant") * alpha
        dy = gaussian_filter(d[1], sigma=(0, sigma, sigma), mode="constant") * alpha
        return _sample(x, dx, dy)
    raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")


def _signal(name: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, _, length = x.shape
    if name == "gaussian_noise":
        return x + rng.normal(0.0, 0.5, x.shape)
    if name == "blur":
        return np.asarray(gaussian_filter1d(x, 1.5, axis=-1, mode="constant"))
    if name == "rotation":
        frac = rng.uniform(0.05, 0.15, n) * rng.choice([-1.0, 1.0], n)
        return shift1d(torch.as_tensor(x), torch.as_tensor(frac)).numpy()
    if name == "contrast":
        return 0.5 * x
    if name == "elastic":
        d = gaussian_filter1d(rng.uniform(-1.0, 1.0, (n, length)), 0.15 * length, axis=-1)
        d = d * 0.5 * length
        t = np.clip(np.arange(length) + d, 0, length - 1)
        lo = np.floor(t).astype(np.int64)
        hi = np.minimum(lo + 1, length - 1)
        frac = (t - lo)[:, None]
        take = np.take_along_axis
        out: np.ndarray = take(x, lo[:, None], -1) * (1 - frac) + take(x, hi[:, None], -1) * frac
        return out
    raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")


def corrupted(
    x: np.ndarray, kind: str, seed: int, names: tuple[str, ...] = CORRUPTIONS
) -> dict[str, np.ndarray]:
    """Each corruption of ``x`` (images ``(n, C, H, W)`` or signals ``(n, C, L)``), float32;
    corruption ``i`` draws from a generator seeded by ``(seed, i)``."""
    fn = _signal if kind == "signal" else _image
    out = {}
    for i, name in enumerate(names):
        rng = np.random.default_rng([seed, i])
        out[name] = np.asarray(fn(name, x.astype(np.float32), rng), dtype=np.float32)
    return out
