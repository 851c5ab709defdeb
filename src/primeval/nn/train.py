"""A seeded training loop for small classifiers, with input noise, soft targets and progress.

One call to :func:`fit` trains a model for a number of SGD steps (Nesterov momentum, cosine
learning-rate decay, weight decay) on examples with probability targets (one-hot, smoothed or a
teacher's soft pseudo-labels), drawing mini-batches without replacement within each pass and
noising each batch with an augmentation when given. The batch order and augmentation draw from a
generator seeded by ``seed``; module noise (dropout, stochastic depth) from torch's global
generator, seeded with a derived seed for the call and restored afterwards
(:func:`primeval.nn.runtime.seeded`), so a call is reproducible on its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from primeval.nn.runtime import derive_seed, generator, seeded

Augment = Callable[[Tensor, torch.Generator], Tensor]
# Called after every step with (step, loss); returning True stops training early.
StepHook = Callable[[int, float], bool | None]


@dataclass(frozen=True)
class TrainSpec:
    """How long and how a model trains. ``label_smoothing`` mixes targets with the uniform
    distribution (Szegedy et al. 2016)."""

    steps: int = 500
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("training needs at least one step and one example per batch")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(y), n_classes), dtype=np.float32)
    out[np.arange(len(y)), y] = 1.0
    return out


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over the batch of ``-sum_k t_k log softmax(z)_k``."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def fit(
    model: nn.Module,
    x: np.ndarray,
    targets: np.ndarray,
    spec: TrainSpec,
    seed: int,
    augment: Augment | None = None,
    device: torch.device | None = None,
    progress: str | None = None,
    on_step: StepHook | None = None,
) -> dict[str, float]:
    """Train ``model`` in place on ``x`` with probability ``targets`` ``(n, K)``; returns
    ``{"steps", "final_loss", "seconds"}``. ``progress``: a description to show a rich progress
    bar under (none when None)."""
    dev = device or torch.device("cpu")
    n, k = targets.shape
    if n == 0:
        raise ValueError("no training examples")
    xt = torch.as_tensor(x, dtype=torch.float32)
    tt = torch.as_tensor(targets, dtype=torch.float32)
    if spec.label_smoothing:
        tt = (1.0 - spec.label_smoothing) * tt + spec.label_smoothing / k
    model.to(dev).train()
    opt = torch.optim.SGD(
        model.parameters(),
        lr=spec.lr,
        momentum=spec.momentum,
        nesterov=True,
        weight_decay=spec.weight_decay,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * s / spec.steps))
    )
    g = generator(derive_seed(seed, 0))
    batch = min(spec.batch_size, n)
    order = torch.randperm(n, generator=g)
    pos = 0
    loss_value = math.nan
    start = time.perf_counter()
    bar = _Bar(progress, spec.steps)
    with seeded(derive_seed(seed, 1)), bar:
        for step in range(spec.steps):
            if pos + batch > n:
                order, pos = torch.randperm(n, generator=g), 0
            idx = order[pos : pos + batch]
            pos += batch
            xb = xt[idx]
            if augment is not None:
                xb = augment(xb, g)
            loss = soft_cross_entropy(model(xb.to(dev)), tt[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            loss_value = float(loss.detach())
            bar.advance(loss_value)
            if on_step is not None and on_step(step, loss_value):
                break
    model.eval()
    return {"steps": step + 1, "final_loss": loss_value, "seconds": time.perf_counter() - start}


class _Bar:
    """A rich progress bar, or nothing."""

    def __init__(self, description: str | None, total: int) -> None:
        self.progress = None
        if description is not None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.3f}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.task = self.progress.add_task(description, total=total, loss=math.nan)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def advance(self, loss: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, loss=loss)


@torch.no_grad()
def predict_proba(
    model: nn.Module, x: np.ndarray, batch_size: int = 1000, device: torch.device | None = None
) -> np.ndarray:
    """Class probabilities ``(n, K)`` of ``model`` in eval mode (no noise), float64."""
    dev = device or torch.device("cpu")
    model.to(dev).eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = torch.as_tensor(x[i : i + batch_size], dtype=torch.float32, device=dev)
        out.append(F.softmax(model(xb), dim=1).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def accuracy(
    model: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device | None = None
) -> float:
    """Fraction of ``x`` whose most probable class is ``y``."""
    return float(np.mean(predict_proba(model, x, device=device).argmax(1) == y))
