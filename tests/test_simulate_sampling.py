"""The simulator's draws match its parameters (large draws, stated tolerances); config parsing and validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import digamma

from hf_ambiguity.distributions import normalized_entropy
from hf_ambiguity.simulate.config import DEFAULT_CONFIG_PATH, SimulationConfig, load_config
from hf_ambiguity.simulate.sampling import (alm_distribution, sample_human_votes, sample_truth, simulate_corpus,
                                            truth_mean)

N = 20_000


def _expected_dirichlet_entropy(alpha: np.ndarray) -> float:
    """E[H(p)] (nats) for p ~ Dirichlet(alpha): psi(A + 1) - sum_k alpha_k / A * psi(alpha_k + 1)."""
    a0 = alpha.sum()
    return float(digamma(a0 + 1) - (alpha / a0 * digamma(alpha + 1)).sum())


@pytest.mark.parametrize("mass, conc", [(0.7, 10.0), (0.4, 3.0), (0.9, 40.0)])
def test_truth_mean_and_entropy_match_the_dirichlet(mass, conc):
    cfg = SimulationConfig.from_dict({"truth": {"dominant_mass": mass, "concentration": conc}})
    truth, dom, m, c = sample_truth(cfg.truth, N, 4, np.random.default_rng(0))
    assert np.all(m == mass) and np.all(c == conc)
    np.testing.assert_allclose(truth.sum(axis=1), 1.0)
    # rotate every row so that its dominant class comes first: the mean must be m (tolerance 0.01)
    rolled = np.stack([np.roll(t, -d) for t, d in zip(truth, dom)])
    mean = np.array([mass] + [(1 - mass) / 3] * 3)
    np.testing.assert_allclose(rolled.mean(axis=0), mean, atol=0.01)
    # mean normalised entropy within 0.01 of the closed form
    expected = _expected_dirichlet_entropy(conc * mean) / np.log(4)
    assert normalized_entropy(truth).mean() == pytest.approx(expected, abs=0.01)


def test_truth_parameter_ranges_and_class_prior():
    cfg = SimulationConfig.from_dict({"truth": {"dominant_mass": [0.3, 0.9], "concentration": [2.0, 50.0],
                                                "class_prior": [0.4, 0.3, 0.2, 0.1]}})
    truth, dom, mass, conc = sample_truth(cfg.truth, N, 4, np.random.default_rng(1))
    assert mass.min() >= 0.3 and mass.max() <= 0.9 and mass.mean() == pytest.approx(0.6, abs=0.01)
    assert conc.min() >= 2.0 and conc.max() <= 50.0
    assert np.log(conc).mean() == pytest.approx((np.log(2) + np.log(50)) / 2, abs=0.03)  # log-uniform
    np.testing.assert_allclose(np.bincount(dom, minlength=4) / N, [0.4, 0.3, 0.2, 0.1], atol=0.01)
    # more dominant mass -> lower entropy
    lo, hi = mass < 0.45, mass > 0.75
    assert normalized_entropy(truth[lo]).mean() > normalized_entropy(truth[hi]).mean() + 0.2


def test_human_votes_count_and_frequencies():
    rng = np.random.default_rng(2)
    truth = rng.dirichlet(np.ones(4), size=N)
    votes = sample_human_votes(truth, (3, 7), np.random.default_rng(3))
    n = votes.sum(axis=1)
    assert n.min() == 3 and n.max() == 7 and set(np.unique(n)) == {3, 4, 5, 6, 7}
    assert n.mean() == pytest.approx(5.0, abs=0.05)
    assert np.all(votes == np.round(votes))
    # each label is a draw from the truth: E[votes_i] = n_i * truth_i (pooled, tolerance 0.005 per class)
    np.testing.assert_allclose(votes.sum(axis=0) / n.sum(), (n[:, None] * truth).sum(axis=0) / n.sum(), atol=0.005)


def test_alm_without_noise_is_the_sharpened_confused_truth():
    cfg = SimulationConfig.from_dict({"alm": {"bias_toward": "sad", "bias_strength": 0.3, "sharpness": 2.5,
                                              "noise": 0.0}})
    conf = cfg.confusion_matrix()
    np.testing.assert_allclose(conf.sum(axis=1), 1.0)
    assert conf[0, 3] == pytest.approx(0.3) and conf[0, 0] == pytest.approx(0.7) and conf[3, 3] == 1.0
    truth = np.random.default_rng(4).dirichlet(np.ones(4), size=500)
    p = alm_distribution(truth, conf, cfg.alm, np.random.default_rng(5))
    expect = (truth @ conf) ** 2.5
    np.testing.assert_allclose(p, expect / expect.sum(axis=1, keepdims=True), rtol=1e-10)
    assert normalized_entropy(p).mean() < normalized_entropy(truth @ conf).mean() - 0.1  # over-confident


def test_alm_noise_has_the_configured_spread():
    cfg = SimulationConfig.from_dict({"alm": {"bias_strength": 0.0, "sharpness": 1.0, "noise": 0.8}})
    truth = np.random.default_rng(6).dirichlet(np.full(4, 5.0), size=N)
    p = alm_distribution(truth, cfg.confusion_matrix(), cfg.alm, np.random.default_rng(7))
    # log-ratio to class 0 shifts by noise * (z_j - z_0): standard deviation noise * sqrt(2)
    shift = (np.log(p[:, 1:]) - np.log(p[:, :1])) - (np.log(truth[:, 1:]) - np.log(truth[:, :1]))
    assert shift.std() == pytest.approx(0.8 * np.sqrt(2), rel=0.03)
    assert abs(shift.mean()) < 0.03


def test_synthetic_votes_follow_the_alm_and_are_nested_over_k():
    cfg = SimulationConfig.from_dict({"n_items": 5000, "evaluation": {"k_values": [2, 8]}})
    corpus = simulate_corpus(cfg)
    v2, v8 = corpus.synthetic_votes(2), corpus.synthetic_votes(8)
    assert np.all(v8.sum(axis=1) == 8) and np.all(v2 <= v8)
    np.testing.assert_allclose(v8.sum(axis=0) / v8.sum(), corpus.alm_dist.mean(axis=0), atol=0.01)
    with pytest.raises(ValueError, match=r"k must be in \[1, 8\]"):
        corpus.synthetic_votes(9)
    dist_mode = simulate_corpus(SimulationConfig.from_dict({"n_items": 100, "alm": {"mode": "distribution"}}))
    np.testing.assert_allclose(dist_mode.synthetic_votes(4), 4 * dist_mode.alm_dist)


def test_seeded_corpora_are_identical_and_stages_independent():
    a = simulate_corpus(SimulationConfig(n_items=300, seed=11))
    b = simulate_corpus(SimulationConfig(n_items=300, seed=11))
    for field in ("truth", "human_votes", "alm_dist", "synthetic_labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c = simulate_corpus(SimulationConfig(n_items=300, seed=12))
    assert not np.array_equal(a.truth, c.truth)
    # changing only the ALM leaves truths and human votes unchanged
    d = simulate_corpus(SimulationConfig.from_dict({"n_items": 300, "seed": 11, "alm": {"sharpness": 1.0}}))
    np.testing.assert_array_equal(a.human_votes, d.human_votes)
    assert not np.array_equal(a.alm_dist, d.alm_dist)


def test_truth_mean_helper():
    np.testing.assert_allclose(truth_mean(np.array([2]), np.array([0.7]), 4), [[0.1, 0.1, 0.7, 0.1]])


def test_reference_lambda_is_always_in_the_grid():
    assert SimulationConfig.from_dict({"evaluation": {"lambdas": [2.0, 0.5, 0.5]}}).evaluation.lambdas == (0.5, 1.0,
                                                                                                          2.0)


def test_shipped_yaml_equals_the_defaults():
    assert load_config(DEFAULT_CONFIG_PATH) == SimulationConfig()
    assert load_config(None) == SimulationConfig()


@pytest.mark.parametrize("data, match", [
    ({"n_item": 10}, r"config: unknown key 'n_item'; valid keys: \["),
    ({"truth": {"dominant_mass": [0.1, 0.9]}}, r"truth.dominant_mass must satisfy 0.25 <= min <= max <= 1.0"),
    ({"humans": {"votes_per_item": [3.5, 7]}}, r"humans.votes_per_item must hold whole numbers"),
    ({"alm": {"mode": "logits"}}, r"alm.mode must be one of \['votes', 'distribution'\], got 'logits'"),
    ({"alm": {"bias_toward": "bored"}}, r"alm.bias_toward must be one of \['neutral', 'happy', 'angry', 'sad'\]"),
    ({"alm": {"confusion": [[1, 0], [0, 1]]}}, r"alm.confusion must be a 4x4 matrix"),
    ({"alm": {"confusion": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 1]]}},
     r"alm.confusion row 2 must be non-negative and sum to 1"),
    ({"evaluation": {"k_values": []}}, r"evaluation.k_values must be a non-empty list"),
    ({"n_classes": 3, "truth": {"dominant_mass": [0.4, 0.9]}}, None),
])
def test_config_validation(data, match):
    if match is None:
        cfg = SimulationConfig.from_dict(data | {"alm": {"bias_toward": None}})
        assert cfg.names == ("class_0", "class_1", "class_2")
        return
    with pytest.raises(ValueError, match=match):
        SimulationConfig.from_dict(data)


def test_load_config_names_the_file(tmp_path):
    bad = tmp_path / "sim.yaml"
    bad.write_text("alm:\n  sharpness: -1\n")
    with pytest.raises(ValueError, match=r"sim.yaml: alm.sharpness must be > 0"):
        load_config(bad)
    with pytest.raises(FileNotFoundError, match=r"missing.yaml does not exist"):
        load_config(tmp_path / "missing.yaml")
