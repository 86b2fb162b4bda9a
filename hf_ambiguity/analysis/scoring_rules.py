"""Proper scoring rules for a forecast distribution of one categorical label, vectorised over items.

A forecast ``q`` (``(n_items, n_classes)``, rows summing to 1) is scored against an observed label ``y``
(``(n_items,)`` class indices) or, for the *expected* score over several observed labels, against their empirical
distribution ``t`` (``(n_items, n_classes)``, e.g. the labels of the other half of an item's raters):

- Brier score: ``sum_k (q_k - [k = y])**2``; expected over ``t``: ``sum_k q_k**2 - 2 q . t + 1`` (0–2, lower is
  better);
- log-loss: ``-log q_y``; expected over ``t``: ``-sum_k t_k log q_k`` (>= 0, lower is better; infinite where a label
  that occurs gets probability 0, so forecasts must be smoothed).

Both are *strictly proper*: when the label is drawn from ``p``, the expected score is minimised only by ``q = p``,
so a forecaster cannot gain by reporting a sharper (or flatter) distribution than it believes. The Jensen–Shannon
divergence to a one-hot held-out label is not proper: for ``p = (0.8, 0.2)`` the over-confident ``q = (1, 0)``
has a lower expected JS divergence (0.200 bits) than the truth itself (0.208 bits), which is why the held-out-annotator
test (:mod:`hf_ambiguity.analysis.synthetic_benefit`) scores with these rules instead.

>>> q = np.array([[0.7, 0.2, 0.1], [0.2, 0.2, 0.6]])
>>> brier_score(q, np.array([0, 2])).round(4)
array([0.14, 0.24])
>>> log_loss(q, np.array([0, 2])).round(4)
array([0.3567, 0.5108])
>>> expected = brier_score(q, np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))  # mean over the labels of t
>>> bool(np.isclose(expected[0], (brier_score(q[:1], [0])[0] + brier_score(q[:1], [1])[0]) / 2))
True
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

__all__ = ["SCORES", "brier_score", "log_loss", "score"]

#: The proper scores the synthetic-benefit test reports (``primary`` picks the one that decides the verdict).
SCORES: tuple[str, ...] = ("brier", "log_loss")

ScoreName = Literal["brier", "log_loss"]


def _outcome(forecast: np.ndarray, outcome: Any) -> tuple[np.ndarray, np.ndarray]:
    """``forecast`` as ``(n, K)`` floats and ``outcome`` as ``(n, K)`` target distributions (labels → one-hot)."""
    q = np.asarray(forecast, dtype=np.float64)
    if q.ndim != 2:
        raise ValueError(f"forecast must be a 2-D array (n_items, n_classes), got shape {q.shape}")
    o = np.asarray(outcome)
    if o.ndim == 1:
        if o.shape[0] != q.shape[0]:
            raise ValueError(f"forecast has {q.shape[0]} rows but outcome has {o.shape[0]} labels")
        if not np.issubdtype(o.dtype, np.integer):
            raise ValueError(f"outcome labels must be class indices (integers), got dtype {o.dtype}")
        if o.size and (o.min() < 0 or o.max() >= q.shape[1]):
            i = int(np.flatnonzero((o < 0) | (o >= q.shape[1]))[0])
            raise ValueError(f"outcome row {i}: label {int(o[i])} is not a class index in [0, {q.shape[1] - 1}]")
        return q, np.eye(q.shape[1])[o]
    t = o.astype(np.float64)
    if t.shape != q.shape:
        raise ValueError(f"outcome distributions have shape {t.shape} but the forecast has {q.shape}")
    return q, t


def brier_score(forecast: Any, outcome: Any) -> np.ndarray:
    """Brier score per row (``(n_items,)``): against labels, or its expectation over target distributions."""
    q, t = _outcome(forecast, outcome)
    return (q * q).sum(axis=1) - 2.0 * (q * t).sum(axis=1) + t.sum(axis=1)


def log_loss(forecast: Any, outcome: Any) -> np.ndarray:
    """Log-loss (natural log) per row (``(n_items,)``); ``inf`` where an observed class has probability 0."""
    q, t = _outcome(forecast, outcome)
    with np.errstate(divide="ignore"):
        logq = np.log(q)
    return -np.where(t > 0, t * logq, 0.0).sum(axis=1)


def score(name: ScoreName, forecast: Any, outcome: Any) -> np.ndarray:
    """The score called ``name`` (one of :data:`SCORES`) per row."""
    if name == "brier":
        return brier_score(forecast, outcome)
    if name == "log_loss":
        return log_loss(forecast, outcome)
    raise ValueError(f"score must be one of {list(SCORES)}, got {name!r}")
