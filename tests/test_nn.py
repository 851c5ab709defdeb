"""The torch toolkit: model families, stochastic depth, data splits, corruptions, the trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from primeval.nn import corrupt, data, models, runtime, train


@pytest.fixture(autouse=True)
def one_thread() -> None:
    """One torch thread, as every primeval torch process runs (two would fight over the cores
    the test workers share)."""
    runtime.set_threads(1)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("family", models.FAMILIES)
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 8, 8), (1, 40)])
def test_families_build_for_images_and_signals_and_grow_with_the_multipliers(
    family: str, shape: tuple[int, ...]
) -> None:
    base = models.ModelSpec(family=family, widths=(4, 8), depths=(1, 1))
    small = models.build(base, shape, 10)
    wide = models.build(base.replace(width=2.0), shape, 10)
    deep = models.build(base.replace(depth=2.0), shape, 10)
    assert small(torch.zeros(2, *shape)).shape == (2, 10)
    assert n_params(small) < n_params(wide) and n_params(small) < n_params(deep)


def test_widths_and_depths_round_as_documented() -> None:
    assert models.scaled_width(16, 1.25) == 20 and models.scaled_width(16, 1.1) == 16
    assert models.scaled_width(3, 0.1) == models.WIDTH_DIVISOR
    assert models.scaled_depth(2, 1.2) == 3 and models.scaled_depth(3, 1.0) == 3
    assert models.scaled_depth(1, 0.1) == 1


def test_the_norm_act_slot_takes_any_factory() -> None:
    made: list[tuple[int, int]] = []

    def tanh(channels: int, dims: int) -> nn.Module:
        made.append((channels, dims))
        return nn.Tanh()

    spec = models.ModelSpec(widths=(4, 8), depths=(1, 1))
    m = models.build(spec, (1, 8, 8), 10, norm_act=tanh)
    assert made and all(d == 2 for _, d in made)
    assert not any(isinstance(x, nn.BatchNorm2d) for x in m.modules())
    with pytest.raises(ValueError, match="unknown norm-act"):
        models.build(spec.replace(norm_act="evo"), (1, 8, 8), 10)


def test_stochastic_depth_drops_whole_samples_and_is_identity_in_eval() -> None:
    drop = models.DropPath(0.5)
    x = torch.ones(2000, 3)
    with runtime.seeded(0):
        y = drop(x)
    kept = y[:, 0] > 0
    assert torch.equal(y[kept], torch.full_like(y[kept], 2.0))
    assert 0.45 < kept.float().mean() < 0.55
    assert torch.equal(drop.eval()(x), x)


def test_few_labels_draws_k_per_class_and_refuses_too_many() -> None:
    y = np.repeat(np.arange(3), [5, 6, 7])
    lab, unl = data.few_labels(y, 2, 3, None, np.random.default_rng(0))
    assert np.bincount(y[lab]).tolist() == [2, 2, 2]
    assert len(unl) == len(y) - 6 and not set(lab) & set(unl)
    _, unl = data.few_labels(y, 2, 3, 4, np.random.default_rng(0))
    assert len(unl) == 4
    with pytest.raises(ValueError, match="smallest class has only 5"):
        data.few_labels(y, 6, 3, None, np.random.default_rng(0))


def test_shrink_averages_blocks() -> None:
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    assert data.shrink(x, 2)[0, 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]


def test_digits_load_as_images() -> None:
    d = data.load("digits")
    assert d.kind == "image" and d.input_shape == (1, 8, 8)
    assert len(d.y_train) + len(d.y_test) == 1797
    with pytest.raises(ValueError, match="unknown data set"):
        data.load("imagenet")


@pytest.mark.parametrize("shape, kind", [((6, 1, 8, 8), "image"), ((6, 1, 20), "signal")])
def test_corruptions_are_seeded_and_change_the_inputs(shape: tuple[int, ...], kind: str) -> None:
    x = np.random.default_rng(0).uniform(0.2, 0.8, shape).astype(np.float32)
    a = corrupt.corrupted(x, kind, seed=1)
    b = corrupt.corrupted(x, kind, seed=1)
    assert set(a) == set(corrupt.CORRUPTIONS)
    for name in a:
        assert a[name].shape == x.shape and np.array_equal(a[name], b[name])
        assert not np.allclose(a[name], x), name
    np.testing.assert_allclose(corrupt.corrupted(x, kind, 1, ("contrast",))["contrast"],
                               a["contrast"])  # fmt: skip


def test_fit_is_reproducible_and_learns_a_separable_task() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    x = (rng.normal(size=(64, 1, 8)) + 2.0 * (2 * y[:, None, None] - 1)).astype(np.float32)
    spec = models.ModelSpec(widths=(4,), depths=(1,), dropout=0.5, survival=0.8)
    runs = []
    for _ in range(2):
        with runtime.seeded(3):
            m = models.build(spec, (1, 8), 2)
        stats = train.fit(m, x, train.one_hot(y, 2), train.TrainSpec(steps=30, batch_size=16), 7)
        runs.append((stats["final_loss"], [p.detach().clone() for p in m.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    assert train.accuracy(m, x, y) > 0.9
