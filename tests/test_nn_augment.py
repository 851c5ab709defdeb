"""RandAugment's operations, each against a direct expression on a known image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from primeval.nn import augment as A


def image(h: int = 6, w: int = 6, c: int = 1, seed: int = 0) -> torch.Tensor:
    """A known image: 8-bit values in [0, 1], one per pixel."""
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.integers(0, 256, (1, c, h, w)) / 255.0, dtype=torch.float64)


def p(v: float) -> torch.Tensor:
    return torch.tensor([v], dtype=torch.float64)


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[y, x] = in[y - dy, x - dx]``, zero outside."""
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    for y in range(h):
        for xx in range(w):
            sy, sx = y - dy, xx - dx
            if 0 <= sy < h and 0 <= sx < w:
                out[..., y, xx] = x[..., sy, sx]
    return out


def test_identity_returns_the_image() -> None:
    x = image()
    assert torch.equal(A.identity(x, p(0)), x)


def test_rotate_by_90_degrees_turns_the_picture_counter_clockwise() -> None:
    x = image()
    out = A.rotate(x, p(90.0))
    np.testing.assert_allclose(out.numpy(), np.rot90(x.numpy(), 1, axes=(2, 3)), atol=1e-12)


@pytest.mark.parametrize("frac, pixels", [(1 / 3, 2), (-1 / 6, -1)])
def test_translate_moves_by_a_fraction_of_the_side(frac: float, pixels: int) -> None:
    x = image()
    xn = x.numpy()
    np.testing.assert_allclose(
        A.translate_x(x, p(frac)).numpy(), shifted(xn, 0, pixels), atol=1e-12
    )
    np.testing.assert_allclose(
        A.translate_y(x, p(frac)).numpy(), shifted(xn, pixels, 0), atol=1e-12
    )


def test_shear_x_reads_each_row_shifted_by_its_distance_from_the_centre() -> None:
    x = image(5, 5)  # centre row 2: row y reads columns x + (y - 2)
    xn = x.numpy()
    expected = np.zeros_like(xn)
    for y in range(5):
        for xx in range(5):
            src = xx + (y - 2)
            if 0 <= src < 5:
                expected[..., y, xx] = xn[..., y, src]
    np.testing.assert_allclose(A.shear_x(x, p(1.0)).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(
        A.shear_y(x.transpose(2, 3), p(1.0)).numpy(), expected.transpose(0, 1, 3, 2), atol=1e-12
    )


def test_auto_contrast_stretches_each_channel_to_the_unit_range() -> None:
    x = image(c=3) * 0.5 + 0.2
    xn = x.numpy()
    lo = xn.min(axis=(2, 3), keepdims=True)
    hi = xn.max(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(A.auto_contrast(x, p(0)).numpy(), (xn - lo) / (hi - lo))
    flat = torch.full((1, 1, 4, 4), 0.3, dtype=torch.float64)
    assert torch.equal(A.auto_contrast(flat, p(0)), flat)


def test_equalize_spreads_four_equal_levels_as_pil_does() -> None:
    # 1024 pixels, 256 at each of 10, 60, 120, 200: step = (1024 - 256) // 255 = 3, and value v
    # maps to (pixels below v + 1) // 3: 0, 257 // 3, 513 // 3, 769 // 3 -> clipped to 255.
    levels = np.repeat([10, 60, 120, 200], 256).reshape(1, 1, 32, 32)
    out = A.equalize(torch.as_tensor(levels / 255.0), p(0)).numpy() * 255.0
    expected = np.repeat([0, 85, 171, 255], 256).reshape(1, 1, 32, 32)
    np.testing.assert_allclose(out, expected, atol=1e-9)


def test_solarize_inverts_values_at_or_above_the_threshold() -> None:
    x = image()
    xn = x.numpy()
    np.testing.assert_allclose(A.solarize(x, p(0.5)).numpy(), np.where(xn < 0.5, xn, 1 - xn))


def test_posterize_keeps_the_high_bits() -> None:
    x = image()
    b = np.round(x.numpy() * 255).astype(np.int64)
    np.testing.assert_allclose(A.posterize(x, p(3)).numpy(), (b & 0b11100000) / 255.0)


def test_enhancements_blend_with_their_degenerate_image() -> None:
    x = image(c=3)
    xn = x.numpy()
    f = 1.5
    gray = 0.299 * xn[:, 0] + 0.587 * xn[:, 1] + 0.114 * xn[:, 2]
    np.testing.assert_allclose(
        A.color(x, p(f)).numpy(), np.clip(gray[:, None] + f * (xn - gray[:, None]), 0, 1)
    )
    m = gray.mean()
    np.testing.assert_allclose(A.contrast(x, p(f)).numpy(), np.clip(m + f * (xn - m), 0, 1))
    np.testing.assert_allclose(A.brightness(x, p(f)).numpy(), np.clip(f * xn, 0, 1))


def test_sharpness_blends_with_pil_smoothing_and_keeps_the_border() -> None:
    x = image()
    xn = x.numpy()[0, 0]
    smooth = xn.copy()
    k = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]]) / 13.0
    for y in range(1, 5):
        for xx in range(1, 5):
            smooth[y, xx] = (xn[y - 1 : y + 2, xx - 1 : xx + 2] * k).sum()
    f = 2.0
    expected = np.clip(smooth + f * (xn - smooth), 0, 1)
    np.testing.assert_allclose(A.sharpness(x, p(f)).numpy()[0, 0], expected, atol=1e-12)
    np.testing.assert_allclose(A.sharpness(x, p(f)).numpy()[0, 0, 0], xn[0])


def test_color_is_left_out_for_grayscale_images() -> None:
    assert "color" not in A.GRAY_OPS and "color" in A.COLOR_OPS
    assert len(A.COLOR_OPS) == 14


def test_signal_ops_against_direct_expressions() -> None:
    x = torch.as_tensor(np.random.default_rng(1).normal(size=(1, 1, 8)))
    xn = x.numpy()
    np.testing.assert_allclose(A.shift1d(x, p(0.25)).numpy()[..., 2:], xn[..., :6], atol=1e-12)
    np.testing.assert_allclose(A.shift1d(x, p(0.25)).numpy()[..., :2], 0.0, atol=1e-12)
    np.testing.assert_allclose(A.scale1d(x, p(1.5)).numpy(), 1.5 * xn)
    np.testing.assert_allclose(A.stretch1d(x, p(1.0)).numpy(), xn, atol=1e-12)
    # Stretching by 2 about the centre reads position t at (t - 3.5) / 2 + 3.5.
    t = (np.arange(8) - 3.5) / 2 + 3.5
    np.testing.assert_allclose(
        A.stretch1d(x, p(2.0)).numpy()[0, 0], np.interp(t, np.arange(8), xn[0, 0])
    )
    g = torch.Generator().manual_seed(3)
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    np.testing.assert_allclose(A.noise1d(x, p(0.5), g).numpy(), (x + 0.5 * z).numpy())
    w = np.exp(-0.5 * (np.arange(-2, 3) / 1.0) ** 2)
    w /= w.sum()
    np.testing.assert_allclose(
        A.blur1d(x, p(1.0)).numpy()[0, 0], np.convolve(np.pad(xn[0, 0], 2), w, "valid"), atol=1e-12
    )


def test_randaugment_applies_n_ops_at_the_magnitude_and_is_seeded() -> None:
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ra = A.RandAugment(n=2, magnitude=27)
    a = ra(x, torch.Generator().manual_seed(5))
    b = ra(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert torch.equal(A.RandAugment(n=0)(x, torch.Generator()), x)
    # Only identity at magnitude 0: the batch is unchanged.
    assert torch.equal(A.RandAugment(n=3, ops=("identity",))(x, torch.Generator()), x)
    with pytest.raises(ValueError, match="unknown RandAugment ops"):
        A.RandAugment(ops=("warp",))
    with pytest.raises(ValueError, match="outside"):
        A.RandAugment(magnitude=31)


def test_magnitude_sets_each_ops_parameter() -> None:
    side = torch.tensor([1.0, -1.0], dtype=torch.float64)
    r = 27 / 30
    assert A.IMAGE_OPS["rotate"].level(r, side).tolist() == pytest.approx([27.0, -27.0])
    assert A.IMAGE_OPS["posterize"].level(r, side).tolist() == [4.0, 4.0]
    assert A.IMAGE_OPS["solarize"].level(r, side).tolist() == pytest.approx([0.1, 0.1])
    assert A.IMAGE_OPS["contrast"].level(r, side).tolist() == pytest.approx([1.81, 0.19])
