"""Seeded sampling of one simulated world: latent true distributions, human labels and an ALM proxy.

Each stage draws from its own child of ``np.random.default_rng(seed)`` (``Generator.spawn``), so the same seed gives
identical arrays, and changing only the proxy leaves truths and human labels unchanged (common random numbers
across the worlds of a sweep: differences between proxies are not sampling noise of the humans).

>>> from hf_ambiguity.simulate.config import SimulationConfig
>>> cfg = SimulationConfig(n_items=100)
>>> w = simulate_world(cfg, cfg.proxy, (3,), seed=0)
>>> w.truth.shape, bool((w.lengths == 3).all()), w.synthetic.shape, float(w.synthetic.sum(axis=1).max())
((100, 4), True, (100, 4), 1.0)
>>> bool(np.array_equal(w.labels, simulate_world(cfg, cfg.proxy, (3,), seed=0).labels))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hf_ambiguity.simulate.config import ProxyConfig, SimulationConfig, TruthConfig

__all__ = ["SimulatedWorld", "simulate_world", "sample_truth", "sample_categorical", "sample_labels",
           "proxy_distribution", "truth_mean"]


@dataclass(frozen=True)
class SimulatedWorld:
    """One simulated corpus. Arrays are ``(n_items, n_classes)`` unless noted.

    ``truth``: latent true distributions; ``labels`` (``(n_items, max raters)``, -1 padded) and ``lengths``
    (``(n_items,)``): human labels; ``human_votes``: their counts; ``alm_dist``: the proxy's distribution;
    ``synthetic``: what the study merges (``alm_dist`` in distribution mode, the sampled votes / n_annotators in
    votes mode).
    """

    truth: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    human_votes: np.ndarray
    alm_dist: np.ndarray
    synthetic: np.ndarray

    def label_lists(self) -> list[list[int]]:
        """Human labels as one list of class indices per item."""
        return [row[:n].tolist() for row, n in zip(self.labels, self.lengths)]


def truth_mean(dominant: np.ndarray, dominant_mass: np.ndarray, k: int) -> np.ndarray:
    """The Dirichlet mean ``m``: ``dominant_mass`` on the dominant class, the rest spread evenly (``(n, k)``)."""
    mass = np.asarray(dominant_mass, dtype=np.float64)
    m = np.repeat(((1.0 - mass) / (k - 1))[:, None], k, axis=1)
    m[np.arange(len(mass)), np.asarray(dominant)] = mass
    return m


def sample_truth(cfg: TruthConfig, n_items: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``truth_i ~ Dirichlet(concentration_i * m_i)`` (``(n_items, k)``), vectorised via normalised gammas."""
    prior = None if cfg.class_prior is None else np.asarray(cfg.class_prior, dtype=np.float64)
    dominant = rng.choice(k, size=n_items, p=prior)
    lo, hi = cfg.dominant_mass
    mass = rng.uniform(lo, hi, size=n_items) if hi > lo else np.full(n_items, lo)
    clo, chi = cfg.concentration
    conc = np.exp(rng.uniform(np.log(clo), np.log(chi), size=n_items)) if chi > clo else np.full(n_items, clo)
    alpha = conc[:, None] * truth_mean(dominant, mass, k)
    g = rng.standard_gamma(np.maximum(alpha, 1e-300))
    tot = g.sum(axis=1, keepdims=True)
    zero = tot[:, 0] <= 0  # all gammas underflowed: fall back to the mean
    if zero.any():
        g[zero] = alpha[zero]
        tot = g.sum(axis=1, keepdims=True)
    return g / tot


def sample_categorical(p: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``n_draws`` independent class indices per row of ``p`` (``(n_items, n_draws)``), inverse CDF, vectorised."""
    cdf = np.cumsum(p, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((p.shape[0], n_draws))
    return np.minimum((u[:, :, None] >= cdf[:, None, :]).sum(axis=2), p.shape[1] - 1)


def sample_labels(truth: np.ndarray, panel: tuple[int, ...], rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Rater count per item uniform over ``panel``; every label an independent draw from the truth.
    Returns ``(labels, lengths)``, ``labels`` padded with -1 to the panel's largest count."""
    lengths = np.asarray(panel, dtype=np.int64)[rng.integers(0, len(panel), size=truth.shape[0])]
    labels = sample_categorical(truth, int(max(panel)), rng)
    labels[np.arange(labels.shape[1])[None, :] >= lengths[:, None]] = -1
    return labels, lengths


def proxy_distribution(truth: np.ndarray, confusion: np.ndarray, proxy: ProxyConfig,
                       rng: np.random.Generator) -> np.ndarray:
    """``softmax(sharpness * (c log(t_i C) + (1 - c) log(t_j C)) + noise * z)`` with ``t_j`` the truth of a random
    other item (a permutation), ``z ~ N(0, 1)`` per item and class."""
    other = truth[rng.permutation(truth.shape[0])]
    own = np.log(np.maximum(truth @ confusion, 1e-300))
    unrelated = np.log(np.maximum(other @ confusion, 1e-300))
    c = proxy.correlation
    logits = proxy.sharpness * (c * own + (1.0 - c) * unrelated)
    z = rng.standard_normal(truth.shape)
    if proxy.noise > 0:
        logits = logits + proxy.noise * z
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def simulate_world(cfg: SimulationConfig, proxy: ProxyConfig, panel: tuple[int, ...], seed: int) -> SimulatedWorld:
    """Draw one world: truths and human labels depend on ``seed`` and ``panel`` only; the proxy on all three."""
    r_truth, r_human, r_proxy, r_votes = np.random.default_rng(seed).spawn(4)
    k = cfg.n_classes
    truth = sample_truth(cfg.truth, cfg.n_items, k, r_truth)
    labels, lengths = sample_labels(truth, panel, r_human)
    valid = labels >= 0
    item = np.repeat(np.arange(cfg.n_items), valid.sum(axis=1))
    votes = np.bincount(item * k + labels[valid], minlength=cfg.n_items * k).reshape(cfg.n_items, k)
    alm = proxy_distribution(truth, cfg.confusion_matrix(proxy), proxy, r_proxy)
    if proxy.mode == "votes":
        draws = sample_categorical(alm, proxy.n_annotators, r_votes)
        counts = (draws[:, :, None] == np.arange(k)).sum(axis=1)
        synthetic = counts / float(proxy.n_annotators)
    else:
        synthetic = alm
    return SimulatedWorld(truth=truth, labels=labels, lengths=lengths, human_votes=votes.astype(np.float64),
                          alm_dist=alm, synthetic=synthetic)
