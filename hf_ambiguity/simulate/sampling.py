"""Seeded sampling of a simulated corpus: latent true distributions, sparse human votes and an ALM proxy.

Each stage draws from its own child of ``np.random.default_rng(config.seed)`` (``Generator.spawn``), so the same
seed gives identical arrays, and e.g. changing the ALM settings leaves truths and human votes unchanged.
Synthetic labels are drawn once for the largest K; the votes for a smaller K are the first K of those labels (as
if annotators were added one at a time), so a grid over K compares nested annotator sets.

>>> from hf_ambiguity.simulate.config import SimulationConfig
>>> corpus = simulate_corpus(SimulationConfig(n_items=100))
>>> corpus.truth.shape, bool(corpus.human_votes.sum(axis=1).min() >= 3), float(corpus.synthetic_votes(4).sum(axis=1).max())
((100, 4), True, 4.0)
>>> bool(np.array_equal(corpus.human_votes, simulate_corpus(SimulationConfig(n_items=100)).human_votes))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hf_ambiguity.simulate.config import AlmConfig, SimulationConfig, TruthConfig

__all__ = ["SimulatedCorpus", "simulate_corpus", "sample_truth", "sample_categorical", "sample_human_votes",
           "alm_distribution", "truth_mean"]


@dataclass(frozen=True)
class SimulatedCorpus:
    """One simulated corpus. Arrays are ``(n_items, n_classes)`` unless noted.

    ``truth``: latent true distributions; ``dominant`` / ``dominant_mass`` / ``concentration`` (``(n_items,)``):
    the parameters each truth was drawn with; ``human_votes``: whole-count human votes; ``alm_dist``: the ALM
    proxy's distribution; ``synthetic_labels`` (``(n_items, max K)`` class indices, ``votes`` mode only).
    """

    truth: np.ndarray
    dominant: np.ndarray
    dominant_mass: np.ndarray
    concentration: np.ndarray
    human_votes: np.ndarray
    alm_dist: np.ndarray
    mode: str
    synthetic_labels: np.ndarray | None = field(default=None, repr=False)

    def synthetic_votes(self, k: int) -> np.ndarray:
        """Votes of K synthetic annotators: counts of the first ``k`` labels; ``k * alm_dist`` in distribution mode."""
        if self.mode == "distribution":
            return k * self.alm_dist
        if self.synthetic_labels is None or not 1 <= k <= self.synthetic_labels.shape[1]:
            have = 0 if self.synthetic_labels is None else self.synthetic_labels.shape[1]
            raise ValueError(f"k must be in [1, {have}] (the largest K simulated), got {k!r}")
        return _counts(self.synthetic_labels[:, :k], self.truth.shape[1])


def _counts(labels: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    onehot = labels[..., None] == np.arange(k)
    if mask is not None:
        onehot &= mask[..., None]
    return onehot.sum(axis=1).astype(np.float64)


def truth_mean(dominant: np.ndarray, dominant_mass: np.ndarray, k: int) -> np.ndarray:
    """The Dirichlet mean ``m``: ``dominant_mass`` on the dominant class, the rest spread evenly (``(n, k)``)."""
    dom = np.asarray(dominant)
    mass = np.asarray(dominant_mass, dtype=np.float64)
    m = np.repeat(((1.0 - mass) / (k - 1))[:, None], k, axis=1)
    m[np.arange(len(dom)), dom] = mass
    return m


def sample_truth(cfg: TruthConfig, n_items: int, k: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``(truth, dominant, dominant_mass, concentration)``; ``truth_i ~ Dirichlet(concentration_i * m_i)``."""
    prior = None if cfg.class_prior is None else np.asarray(cfg.class_prior, dtype=np.float64)
    dominant = rng.choice(k, size=n_items, p=prior)
    lo, hi = cfg.dominant_mass
    mass = rng.uniform(lo, hi, size=n_items) if hi > lo else np.full(n_items, lo)
    clo, chi = cfg.concentration
    conc = np.exp(rng.uniform(np.log(clo), np.log(chi), size=n_items)) if chi > clo else np.full(n_items, clo)
    alpha = conc[:, None] * truth_mean(dominant, mass, k)
    # Dirichlet via normalised gammas (vectorised over rows with different parameters); guard all-zero underflow
    g = rng.standard_gamma(np.maximum(alpha, 1e-300))
    tot = g.sum(axis=1, keepdims=True)
    zero = tot[:, 0] <= 0
    if zero.any():
        g[zero] = alpha[zero]
        tot = g.sum(axis=1, keepdims=True)
    return g / tot, dominant, mass, conc


def sample_categorical(p: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``n_draws`` independent class indices per row of ``p`` (``(n_items, n_draws)``), inverse-CDF, vectorised."""
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((p.shape[0], n_draws))
    return np.minimum((u[:, :, None] >= cdf[:, None, :]).sum(axis=2), p.shape[1] - 1)


def sample_human_votes(truth: np.ndarray, votes_per_item: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Whole-count votes: ``n_i ~ U{min..max}`` annotators per item, each label an independent draw from ``truth``."""
    lo, hi = votes_per_item
    n = rng.integers(lo, hi + 1, size=truth.shape[0])
    labels = sample_categorical(truth, hi, rng)
    return _counts(labels, truth.shape[1], mask=np.arange(hi)[None, :] < n[:, None])


def alm_distribution(truth: np.ndarray, confusion: np.ndarray, cfg: AlmConfig, rng: np.random.Generator) -> np.ndarray:
    """The proxy: ``softmax(sharpness * log(truth @ confusion) + noise * z)``, ``z ~ N(0, 1)`` per item and class."""
    with np.errstate(divide="ignore"):
        logits = cfg.sharpness * np.log(truth @ confusion)
    if cfg.noise > 0:
        logits = logits + cfg.noise * rng.standard_normal(truth.shape)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def simulate_corpus(cfg: SimulationConfig, *, max_k: int | None = None) -> SimulatedCorpus:
    """Draw a whole corpus for ``cfg`` (synthetic labels for K up to ``max_k``, default the largest configured K)."""
    r_truth, r_human, r_alm, r_syn = np.random.default_rng(cfg.seed).spawn(4)
    truth, dominant, mass, conc = sample_truth(cfg.truth, cfg.n_items, cfg.n_classes, r_truth)
    human = sample_human_votes(truth, cfg.humans.votes_per_item, r_human)
    alm = alm_distribution(truth, cfg.confusion_matrix(), cfg.alm, r_alm)
    labels = None
    if cfg.alm.mode == "votes":
        labels = sample_categorical(alm, max_k or max(cfg.evaluation.k_values), r_syn)
    return SimulatedCorpus(truth=truth, dominant=dominant, dominant_mass=mass, concentration=conc,
                           human_votes=human, alm_dist=alm, mode=cfg.alm.mode, synthetic_labels=labels)
