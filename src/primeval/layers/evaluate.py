"""Evaluating a layer: proxy networks, the two rejection stages, training, fingerprints.

Liu et al. (NeurIPS 2020, Section 4) evaluate a candidate by replacing every
normalization-activation pair of several small networks with it and training them briefly;
most candidates are rejected before that costs much:

- **stability**: the gradient norm at initialisation is compared with the gradient norm
  after a small step of the weights in the direction that increases the loss (an
  adversarial perturbation of relative size ``stability_eps``); a layer whose ratio exceeds
  ``stability_max_ratio``, or whose loss or gradient is not finite, is rejected;
- **quality**: training stops at step ``quality_step`` if validation accuracy is below
  ``quality_threshold`` (the paper used a fixed low accuracy after about a hundred steps).

A survivor's fitness on an architecture is its validation accuracy after ``steps`` steps;
over several architectures the fitness is a vector (the Pareto tournament's objectives)
whose mean is the scalar fitness.

:func:`fingerprint` hashes a layer's outputs on a fixed random batch with fixed *random*
parameter values (at the initial values ``v1 = 1`` makes ``v1 * x`` equal ``x``, so distinct
layers would collide), so that layers computing the same function share a cache entry.

:class:`Proxy` is the Python API: it takes any model builders (``norm_act -> nn.Module``)
and arrays, so a layer can be searched for a user's own network.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from primeval.layers.genome import LayerGraph
from primeval.layers.module import factory, to_module
from primeval.nn import mobile, models, runtime
from primeval.nn.models import ModelSpec, NormAct
from primeval.nn.runtime import derive_seed, seeded
from primeval.nn.train import TrainSpec, accuracy, fit, one_hot

Builder = Callable[[NormAct], nn.Module]

#: Proxy architectures for 1-channel 14x14 images. The search uses the first three;
#: ``resnet_deep`` (twice as many blocks) is kept out of it to test transfer.
ARCH_SPECS: dict[str, ModelSpec] = {
    "resnet": ModelSpec("resnet", widths=(8, 16, 32), depths=(1, 1, 1)),
    "mobile": ModelSpec("mobile", widths=(8, 16, 24), depths=(1, 1, 1)),
    "cnn": ModelSpec("cnn", widths=(8, 16, 32), depths=(1, 1, 1)),
    "resnet_deep": ModelSpec("resnet", widths=(8, 16, 32), depths=(2, 2, 2)),
}
SEARCH_ARCHS = ("resnet", "mobile", "cnn")


def arch_builder(name: str, input_shape: tuple[int, ...], n_classes: int) -> Builder:
    """A builder for proxy architecture ``name`` (one of :data:`ARCH_SPECS`)."""
    if name not in ARCH_SPECS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCH_SPECS)}")
    spec = ARCH_SPECS[name]
    build = mobile.build if spec.family == "mobile" else models.build

    def builder(norm_act: NormAct) -> nn.Module:
        return build(spec, input_shape, n_classes, norm_act)

    return builder


@dataclass(frozen=True)
class ProxySettings:
    """How a candidate is trained and rejected (Liu et al. 2020, Section 4)."""

    steps: int = 200
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4
    quality_step: int = 60
    quality_threshold: float = 0.2
    quality_examples: int = 500
    stability_eps: float = 0.01
    stability_max_ratio: float = 100.0
    groups: int = 8
    seed: int = 0
    device: str = "cpu"  # training only; "cuda" when given and available

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> ProxySettings:
        known = {f.name for f in fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"unknown proxy setting(s): {', '.join(sorted(unknown))}")
        return cls(**obj)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Arrays:
    """Training, validation and test arrays: images ``(n, C, H, W)`` float32, labels int."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def mnist_arrays(
    size: int = 14, n_train: int = 10_000, n_val: int = 2_000, n_test: int = 5_000
) -> Arrays:
    """MNIST shrunk to ``size`` pixels: a training subset of the first 50,000 images, a
    validation subset of the last 10,000 training images and a test subset (fixed, seed 0)."""
    from primeval.nn.data import load

    d = load("mnist", size)
    rng = np.random.default_rng(0)
    train = rng.choice(50_000, n_train, replace=False)
    val = 50_000 + rng.choice(len(d.y_train) - 50_000, n_val, replace=False)
    test = rng.choice(len(d.y_test), n_test, replace=False)
    return Arrays(
        d.x_train[train],
        d.y_train[train],
        d.x_train[val],
        d.y_train[val],
        d.x_test[test],
        d.y_test[test],
        d.n_classes,
    )


def loader_arrays(loader: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The ``(x, y)`` batches of a data loader (e.g. ``torch.utils.data.DataLoader``) as two
    arrays, for :class:`Arrays`."""
    xs, ys = [], []
    for x, y in loader:
        xs.append(np.asarray(x, dtype=np.float32))
        ys.append(np.asarray(y, dtype=np.int64))
    if not xs:
        raise ValueError("the data loader yielded no batches")
    return np.concatenate(xs), np.concatenate(ys)


def _grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    params = [p for p in model.parameters() if p.requires_grad]
    loss = F.cross_entropy(model(x), y)
    if not torch.isfinite(loss):
        return math.inf
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    total = sum(float((g * g).sum()) for g in grads if g is not None)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    return math.sqrt(total)


def stability_ratio(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """``|grad L(w + d)| / |grad L(w)|`` with ``d = eps * |w| * grad L(w) / |grad L(w)|``
    (a loss-increasing step of relative size ``eps``); ``inf`` when anything is not finite.
    The model's state (weights, running statistics) is restored afterwards."""
    state = copy.deepcopy(model.state_dict())
    model.train()
    try:
        g0 = _grad_norm(model, x, y)
        if not math.isfinite(g0) or g0 == 0.0:
            return math.inf if not math.isfinite(g0) else 1.0
        params = [p for p in model.parameters() if p.requires_grad]
        with torch.no_grad():
            w = math.sqrt(sum(float((p * p).sum()) for p in params))
            for p in params:
                if p.grad is not None:
                    p.add_(p.grad, alpha=eps * w / g0)
        g1 = _grad_norm(model, x, y)
        return g1 / g0 if math.isfinite(g1) else math.inf
    finally:
        for p in model.parameters():
            p.grad = None
        model.load_state_dict(state)


_FP_SHAPE = (4, 8, 3, 3)


def fingerprint(graph: LayerGraph) -> str:
    """A hash of ``graph``'s training-mode outputs on a fixed random batch with fixed random
    parameter values, rounded to 4 significant digits (equal functions, equal hashes)."""
    g = torch.Generator().manual_seed(20201)
    x = torch.randn(_FP_SHAPE, generator=g)
    layer = to_module(graph, _FP_SHAPE[1], 2)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        y = layer.train()(x).double().numpy() + 0.0  # -0.0 -> 0.0
    text = ",".join(f"{v:.4g}" for v in y.ravel())
    return hashlib.sha1(text.encode()).hexdigest()[:20]


@dataclass
class Outcome:
    """What evaluating a layer found: ``status`` is ``ok``, ``rejected_stability``,
    ``rejected_quality`` or ``invalid``; ``accuracy`` per architecture (validation)."""

    status: str
    accuracy: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    stability: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    detail: str = ""

    @property
    def fitness(self) -> float:
        if self.status != "ok" or not self.accuracy:
            return math.nan
        return float(np.mean(list(self.accuracy.values())))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fitness"] = None if math.isnan(self.fitness) else self.fitness
        return out


class Proxy:
    """Trains a layer inside each of ``builders``' networks on ``data``.

    ``builders`` maps an architecture's name to a function from a ``norm_act(channels,
    dims)`` factory to a fresh network (a user's own model builder works as well as the
    proxies of :data:`ARCH_SPECS`)."""

    def __init__(
        self, builders: Mapping[str, Builder], data: Arrays, settings: ProxySettings | None = None
    ) -> None:
        if not builders:
            raise ValueError("a proxy needs at least one architecture")
        self.builders = dict(builders)
        self.data = data
        self.settings = settings or ProxySettings()
        s = self.settings
        self.device = runtime.device(s.device)
        rng = np.random.default_rng(derive_seed(s.seed, 7))
        self._batch_idx = rng.choice(len(data.y_train), min(s.batch_size, len(data.y_train)), False)
        self._quality_idx = rng.choice(
            len(data.y_val), min(s.quality_examples, len(data.y_val)), False
        )

    @classmethod
    def mnist(
        cls, archs: Iterable[str] = SEARCH_ARCHS, settings: ProxySettings | None = None, **kw: int
    ) -> Proxy:
        data = mnist_arrays(**kw)
        builders = {a: arch_builder(a, data.input_shape, data.n_classes) for a in archs}
        return cls(builders, data, settings)

    def _model(self, arch: str, norm_act: NormAct, seed: int) -> nn.Module:
        with seeded(derive_seed(seed, 11)):
            return self.builders[arch](norm_act)

    def train(
        self,
        norm_act: NormAct,
        arch: str,
        seed: int,
        batch_size: int | None = None,
        lr: float | None = None,
        quality: bool = False,
    ) -> tuple[nn.Module, dict[str, Any]]:
        """A network of ``arch`` with ``norm_act`` trained from scratch for ``steps`` steps;
        with ``quality`` training stops at the quality step below the threshold (``info
        ["rejected"]``). ``info["curve"]``: the training loss every 10 steps."""
        s = self.settings
        d = self.data
        model = self._model(arch, norm_act, seed)
        spec = TrainSpec(
            steps=s.steps,
            batch_size=batch_size or s.batch_size,
            lr=lr or s.lr,
            weight_decay=s.weight_decay,
        )
        info: dict[str, Any] = {"rejected": None, "curve": []}
        xq, yq = d.x_val[self._quality_idx], d.y_val[self._quality_idx]

        def on_step(step: int, loss: float) -> bool:
            if step % 10 == 0:
                info["curve"].append(loss)
            if not math.isfinite(loss):
                info["rejected"] = "rejected_stability"
                return True
            if quality and step + 1 == s.quality_step:
                acc = accuracy(model, xq, yq, self.device)
                model.train()
                info["quality_accuracy"] = acc
                if acc < s.quality_threshold:
                    info["rejected"] = "rejected_quality"
                    return True
            return False

        fit(
            model,
            d.x_train,
            one_hot(d.y_train, d.n_classes),
            spec,
            derive_seed(seed, 13),
            device=self.device,
            on_step=on_step,
        )
        return model, info

    def evaluate(self, graph: LayerGraph) -> Outcome:
        """Stability on every architecture, then training with the quality stage; the
        validation accuracy per architecture of a survivor."""
        s = self.settings
        seconds = {"stability": 0.0, "train": 0.0}
        out = Outcome("ok", seconds=seconds)
        try:
            norm_act = factory(graph, s.groups)
            xb = torch.as_tensor(self.data.x_train[self._batch_idx])
            yb = torch.as_tensor(self.data.y_train[self._batch_idx])
            t = time.perf_counter()
            for arch in self.builders:
                model = self._model(arch, norm_act, s.seed)  # stability runs on the CPU
                ratio = stability_ratio(model, xb, yb, s.stability_eps)
                out.stability[arch] = ratio if math.isfinite(ratio) else -1.0
                if not ratio <= s.stability_max_ratio:
                    seconds["stability"] += time.perf_counter() - t
                    out.status = "rejected_stability"
                    out.detail = f"{arch}: gradient-norm ratio {ratio:.3g}"
                    return out
            seconds["stability"] += time.perf_counter() - t
            for arch in self.builders:
                t = time.perf_counter()
                model, info = self.train(norm_act, arch, s.seed, quality=True)
                out.curves[arch] = info["curve"]
                if info["rejected"] is not None:
                    seconds["train"] += time.perf_counter() - t
                    out.status = info["rejected"]
                    q = info.get("quality_accuracy")
                    out.detail = f"{arch}: " + (
                        "loss not finite" if q is None else f"accuracy {q:.3f} at the quality step"
                    )
                    return out
                out.accuracy[arch] = accuracy(model, self.data.x_val, self.data.y_val, self.device)
                seconds["train"] += time.perf_counter() - t
        except (RuntimeError, ValueError, FloatingPointError) as e:
            # A layer torch cannot run (a shape it cannot broadcast) is a rejected candidate.
            out.status = "invalid"
            out.detail = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        return out
