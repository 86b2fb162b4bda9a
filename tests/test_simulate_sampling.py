"""The simulator's draws match their parameters (large draws, stated tolerances); config parsing, validation and
the sweep's worlds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import digamma

from hf_ambiguity.distributions import normalized_entropy
from hf_ambiguity.errors import ConfigError
from hf_ambiguity.simulate.config import (DEFAULT_CONFIG_PATH, SimulationConfig, config_from_dict, load_config,
                                          proxy_worlds)
from hf_ambiguity.simulate.sampling import (proxy_distribution, sample_labels, sample_truth, simulate_world,
                                            truth_mean)

N = 20_000


def _expected_dirichlet_entropy(alpha: np.ndarray) -> float:
    """E[H(p)] (nats) for p ~ Dirichlet(alpha): psi(A + 1) - sum_k alpha_k / A * psi(alpha_k + 1)."""
    a0 = alpha.sum()
    return float(digamma(a0 + 1) - (alpha / a0 * digamma(alpha + 1)).sum())


@pytest.mark.parametrize("mass, conc", [(0.7, 10.0), (0.4, 3.0)])
def test_truth_entropy_and_mean_match_the_dirichlet(mass, conc):
    cfg = config_from_dict({"truth": {"dominant_mass": [mass, mass], "concentration": [conc, conc],
                                      "class_prior": [0.4, 0.3, 0.2, 0.1]}})
    truth = sample_truth(cfg.truth, N, 4, np.random.default_rng(0))
    np.testing.assert_allclose(truth.sum(axis=1), 1.0)
    m = np.array([mass] + [(1 - mass) / 3] * 3)
    expected = _expected_dirichlet_entropy(conc * m) / np.log(4)
    assert normalized_entropy(truth).mean() == pytest.approx(expected, abs=0.01)
    # E[truth_c] = P(c dominant) * mass + P(c not dominant) * (1 - mass) / 3
    prior = np.array([0.4, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(truth.mean(axis=0), prior * mass + (1 - prior) * (1 - mass) / 3, atol=0.01)


def test_labels_follow_the_panel_and_the_truth():
    truth = np.random.default_rng(2).dirichlet(np.ones(4), size=N)
    labels, lengths = sample_labels(truth, (3, 3, 5), np.random.default_rng(3))
    assert set(np.unique(lengths)) == {3, 5} and (lengths == 3).mean() == pytest.approx(2 / 3, abs=0.01)
    assert ((labels >= 0).sum(axis=1) == lengths).all() and labels.shape == (N, 5)
    onehot = (labels[:, :, None] == np.arange(4)).sum(axis=1)
    np.testing.assert_allclose(onehot.sum(axis=0) / lengths.sum(), (lengths[:, None] * truth).sum(0) / lengths.sum(),
                               atol=0.005)


def test_proxy_settings():
    truth = np.random.default_rng(4).dirichlet(np.ones(4), size=500)
    cfg = SimulationConfig()
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    exact = proxy_distribution(truth, cfg.confusion_matrix(), cfg.proxy, rng())
    np.testing.assert_allclose(exact, truth, rtol=1e-10)  # calibrated, unbiased, noise-free, correlation 1
    sharp = config_from_dict({"proxy": {"sharpness": 2.5}})
    p = proxy_distribution(truth, sharp.confusion_matrix(), sharp.proxy, rng())
    np.testing.assert_allclose(p, truth ** 2.5 / (truth ** 2.5).sum(axis=1, keepdims=True), rtol=1e-8)
    unrelated = config_from_dict({"proxy": {"correlation": 0.0}})
    p = proxy_distribution(truth, unrelated.confusion_matrix(), unrelated.proxy, rng())
    np.testing.assert_allclose(p, truth[np.random.default_rng(5).permutation(500)], rtol=1e-8)
    biased = config_from_dict({"proxy": {"bias_toward": "sad", "bias_strength": 0.3}})
    conf = biased.confusion_matrix()
    assert conf[0, 3] == pytest.approx(0.3) and conf[0, 0] == pytest.approx(0.7) and conf[3, 3] == 1.0
    noisy = config_from_dict({"proxy": {"noise": 0.8}})
    p = proxy_distribution(np.full((N, 4), 0.25), noisy.confusion_matrix(), noisy.proxy, rng())
    assert np.log(p[:, 1] / p[:, 0]).std() == pytest.approx(0.8 * np.sqrt(2), rel=0.03)


def test_worlds_share_truths_and_labels_across_proxies():
    cfg = config_from_dict({"n_items": 300})
    a = simulate_world(cfg, cfg.proxy, (3, 5), seed=11)
    b = simulate_world(cfg, cfg.proxy, (3, 5), seed=11)
    for field in ("truth", "labels", "synthetic"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    other = config_from_dict({"n_items": 300, "proxy": {"sharpness": 3.0}})
    c = simulate_world(other, other.proxy, (3, 5), seed=11)
    np.testing.assert_array_equal(a.labels, c.labels)
    assert not np.array_equal(a.synthetic, c.synthetic)
    np.testing.assert_allclose(a.synthetic.sum(axis=1), 1.0)
    assert np.all(a.synthetic * 8 == np.round(a.synthetic * 8))  # 8 sampled votes
    np.testing.assert_allclose(a.human_votes.sum(axis=1), a.lengths)
    dist = config_from_dict({"n_items": 300, "proxy": {"mode": "distribution"}})
    np.testing.assert_array_equal(simulate_world(dist, dist.proxy, (3,), 1).synthetic,
                                  simulate_world(dist, dist.proxy, (3,), 1).alm_dist)


def test_truth_mean_helper():
    np.testing.assert_allclose(truth_mean(np.array([2]), np.array([0.7]), 4), [[0.1, 0.1, 0.7, 0.1]])


def test_shipped_yaml_equals_the_defaults_and_is_a_sweep():
    assert load_config(DEFAULT_CONFIG_PATH) == SimulationConfig() == load_config(None)
    labels = [w.label for w in proxy_worlds(SimulationConfig())]
    assert labels == ["base", "sharpness=0.5", "sharpness=2", "sharpness=4", "bias_strength=0.3", "noise=0.5",
                      "noise=1.5", "correlation=0.5", "correlation=0"]
    cfg = SimulationConfig()
    assert cfg.humans.panels == ((3,), (5,), (10,)) and len(cfg.seeds) >= 3 and cfg.evaluation.margin > 0


def test_grid_sweep():
    cfg = config_from_dict({"sweep": {"design": "grid", "sharpness": [2.0], "bias_strength": [],
                                      "noise": [1.0], "correlation": []}})
    worlds = proxy_worlds(cfg)
    assert [w.label for w in worlds] == ["base", "noise=1", "sharpness=2", "sharpness=2, noise=1"]
    assert worlds[-1].proxy.sharpness == 2.0 and worlds[-1].proxy.noise == 1.0


@pytest.mark.parametrize("data, key, match", [
    ({"n_item": 10}, "n_item", r"unknown key 'n_item'"),
    ({"truth": {"dominant_mass": [0.1, 0.9]}}, "truth.dominant_mass", r"must be \[min, max\] with 0.25 <= min"),
    ({"humans": {"panels": [[1]]}}, "humans.panels[0]", r"rater counts >= 2"),
    ({"proxy": {"mode": "logits"}}, "proxy.mode", r"must be one of \['votes', 'distribution'\]"),
    ({"proxy": {"bias_toward": "bored"}}, "proxy.bias_toward", r"must be one of \['neutral', 'happy'"),
    ({"sweep": {"sharpness": [-1.0]}}, "sweep.sharpness", r"must be > 0, got -1.0"),
    ({"proxy": {"bias_toward": None}}, "proxy.bias_toward", r"is null but a bias_strength > 0 is used"),
    ({"evaluation": {"merges": ["mean"]}}, "evaluation.merges[0]", r"must be one of \['concat'"),
    ({"evaluation": {"design": "split_half"}}, "evaluation.design", r"split_half needs >= 4 raters"),
    ({"evaluation": {"margin": -0.1}}, "evaluation.margin", r"must be >= 0"),
    ({"seeds": []}, "seeds", r"at least one seed"),
])
def test_config_validation_names_the_key(data, key, match):
    with pytest.raises(ConfigError, match=match) as err:
        config_from_dict(data)
    assert err.value.key == key


def test_class_names_and_n_classes():
    assert config_from_dict({"n_classes": 3, "truth": {"dominant_mass": [0.4, 0.9]}}).names == (
        "class_0", "class_1", "class_2")
    assert config_from_dict({"class_names": ["a", "b"], "truth": {"dominant_mass": [0.5, 0.9]}}).n_classes == 2


def test_load_config_names_the_file(tmp_path):
    bad = tmp_path / "sim.yaml"
    bad.write_text("proxy:\n  sharpness: -1\n")
    with pytest.raises(ConfigError, match=r"sim.yaml: proxy.sharpness must be > 0"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_config(tmp_path / "missing.yaml")
