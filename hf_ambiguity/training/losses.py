"""Losses between a target emotion distribution and a predicted one, for training distribution heads.

All losses take the model's **log-probabilities** ``log_pred`` (``(batch, n_classes)``, from ``log_softmax``) and the
target distribution ``target`` (``(batch, n_classes)``, rows summing to 1) and return a scalar (the batch mean).
Zeros in either vector are handled with ``xlogy`` (0·log 0 = 0), so one-hot or sparse targets never produce NaN.

- ``js_entropy`` (the reference recipe): Jensen–Shannon divergence in nats (natural log) **plus** ``entropy_weight``
  × mean Shannon entropy of the predictions, in nats (0.08 in the reference). Sign convention: the entropy
  H(p̂) = −Σ p̂ log p̂ ≥ 0 is *added*, so minimising the loss lowers the prediction entropy — a penalty on overly
  uniform predictions (the authors' code calls it ``uniformity_penalty`` and adds ``0.08 * H``), not an entropy
  bonus. Its effect is small against JS: a uniform 4-class prediction costs 0.08 · log 4 ≈ 0.11 nats.
- ``kl``: KL(target ‖ prediction).
- ``soft_ce``: soft-label cross-entropy −Σ target · log prediction (KL plus the constant target entropy).

>>> import torch
>>> t = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
>>> round(float(js_divergence(t.log(), t)), 6)
0.0
>>> round(float(soft_cross_entropy(torch.full((1, 4), 0.25).log(), t)), 4)  # log 4
1.3863
>>> u = torch.full((1, 4), 0.25)  # a perfect but uniform prediction still pays + 0.08 · log 4
>>> round(float(get_loss("js_entropy")(u.log(), u)), 4)
0.1109
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch

__all__ = [
    "LossName", "LOSS_NAMES", "js_divergence", "prediction_entropy", "kl_divergence", "soft_cross_entropy",
    "DistributionLoss", "get_loss",
]

LossName = Literal["js_entropy", "kl", "soft_ce"]
LOSS_NAMES: tuple[str, ...] = ("js_entropy", "kl", "soft_ce")


def js_divergence(log_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Jensen–Shannon divergence (natural log, in [0, log 2]) between ``target`` and ``exp(log_pred)``."""
    pred = log_pred.exp()
    mid = 0.5 * (pred + target)
    log_mid = torch.log(mid.clamp_min(torch.finfo(mid.dtype).tiny))
    kl_t = (torch.special.xlogy(target, target) - target * log_mid).sum(-1)
    kl_p = (torch.special.xlogy(pred, pred) - pred * log_mid).sum(-1)
    return (0.5 * (kl_t + kl_p)).mean()


def prediction_entropy(log_pred: torch.Tensor) -> torch.Tensor:
    """Mean Shannon entropy (nats) of the predicted distributions."""
    return -(log_pred.exp() * log_pred).sum(-1).mean()


def kl_divergence(log_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean KL(target ‖ prediction) in nats."""
    return (torch.special.xlogy(target, target) - target * log_pred).sum(-1).mean()


def soft_cross_entropy(log_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean soft-label cross-entropy −Σ target · log prediction, in nats."""
    return -(target * log_pred).sum(-1).mean()


@dataclass(frozen=True)
class DistributionLoss:
    """A configured loss: ``loss(log_pred, target) -> scalar``; ``name`` and ``entropy_weight`` as chosen."""

    name: str
    entropy_weight: float = 0.0

    def __call__(self, log_pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.to(log_pred.dtype)
        base: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = {
            "js_entropy": js_divergence, "kl": kl_divergence, "soft_ce": soft_cross_entropy,
        }[self.name]
        loss = base(log_pred, target)
        if self.entropy_weight:
            loss = loss + self.entropy_weight * prediction_entropy(log_pred)
        return loss


def get_loss(name: str, *, entropy_weight: float | None = None) -> DistributionLoss:
    """The loss called ``name`` (one of :data:`LOSS_NAMES`).

    ``entropy_weight`` defaults to 0.08 for ``js_entropy`` (the reference) and 0 for the others; pass it to add the
    entropy term to any loss.

    >>> get_loss("js_entropy")
    DistributionLoss(name='js_entropy', entropy_weight=0.08)
    >>> get_loss("focal")
    Traceback (most recent call last):
    ...
    ValueError: loss must be one of ['js_entropy', 'kl', 'soft_ce'], got 'focal'
    """
    if name not in LOSS_NAMES:
        raise ValueError(f"loss must be one of {list(LOSS_NAMES)}, got {name!r}")
    if entropy_weight is None:
        entropy_weight = 0.08 if name == "js_entropy" else 0.0
    return DistributionLoss(name, float(entropy_weight))
