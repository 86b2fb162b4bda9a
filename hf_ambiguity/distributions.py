"""Emotion distributions from votes: normalisation, entropy and validation, vectorised over utterances.

Shapes: ``votes`` and ``dist`` are ``(n_items, n_classes)`` (or ``(n_classes,)`` for one item). A row whose votes
sum to zero has no distribution: it raises (naming the row) instead of producing NaN.

>>> votes_to_distribution(np.array([[2.0, 1.0, 0.0, 1.0]]))
array([[0.5 , 0.25, 0.  , 0.25]])
>>> float(normalized_entropy(np.array([0.5, 0.5, 0.0, 0.0])))
0.5
"""

from __future__ import annotations

import numpy as np

__all__ = ["votes_to_distribution", "normalized_entropy", "validate_distributions", "DIST_ATOL"]

#: Tolerance for "sums to one" used everywhere a probability vector is checked.
DIST_ATOL = 1e-4


def votes_to_distribution(votes: np.ndarray) -> np.ndarray:
    """Counts (or fractional votes) → distribution = votes / total, row-wise.

    Raises ``ValueError`` naming the first row with negative, non-finite or all-zero votes.
    """
    v = np.asarray(votes, dtype=np.float64)
    rows = v.reshape(1, -1) if v.ndim == 1 else v
    bad = ~np.isfinite(rows).all(axis=1) | (rows < 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"row {i}: votes must be finite and non-negative, got {rows[i].tolist()}")
    total = rows.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        i = int(np.flatnonzero(total[:, 0] <= 0)[0])
        raise ValueError(f"row {i}: no votes inside the class set, so it has no distribution; drop the row first")
    out = rows / total
    return out.reshape(v.shape)


def normalized_entropy(dist: np.ndarray, *, n_classes: int | None = None) -> np.ndarray:
    """Shannon entropy divided by ``log(n_classes)`` (default: the vector length), in [0, 1], row-wise."""
    p = np.asarray(dist, dtype=np.float64)
    k = p.shape[-1] if n_classes is None else n_classes
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)
    return h / np.log(k) if k > 1 else np.zeros_like(h)


def validate_distributions(dist: np.ndarray, *, n_classes: int | None = None, atol: float = DIST_ATOL,
                           name: str = "distribution") -> np.ndarray:
    """Return ``dist`` as a float64 2-D array, or raise ``ValueError`` naming the first invalid row and why.

    Valid: finite, non-negative, summing to 1 within ``atol``, and ``n_classes`` long when given.
    """
    p = np.asarray(dist, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_items, n_classes), got shape {p.shape}")
    if p.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one row is needed")
    if n_classes is not None and p.shape[1] != n_classes:
        raise ValueError(f"{name} rows have {p.shape[1]} entries but the class set has {n_classes}")
    checks = (
        (~np.isfinite(p).all(axis=1), "contains NaN or infinity"),
        ((p < 0).any(axis=1), "has a negative entry"),
        (np.abs(p.sum(axis=1) - 1.0) > atol, f"does not sum to 1 (tolerance {atol})"),
    )
    for bad, why in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} row {i} {why}: {p[i].tolist()}")
    return p
