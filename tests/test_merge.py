"""merge_votes (concat / weighted / adaptive) and fit_adaptive_merge."""

from __future__ import annotations

import numpy as np
import pytest

from hf_ambiguity.annotate.merge import AdaptiveMerge, _loo_mean_loglik, _loo_terms, fit_adaptive_merge, merge_votes

HUMAN = np.array([[2.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0], [1.0, 1.0, 1.0, 2.0]])
SYNTH = np.array([[5.0, 0.0, 1.0, 2.0], [0.0, 4.0, 4.0, 0.0], [0.0, 0.0, 0.0, 8.0]])


def test_concat_equals_hand_computation():
    votes, dist = merge_votes(HUMAN, SYNTH)
    np.testing.assert_array_equal(votes, [[7, 1, 1, 2], [0, 4, 7, 0], [1, 1, 1, 10]])
    np.testing.assert_allclose(dist[0], [7 / 11, 1 / 11, 1 / 11, 2 / 11])
    np.testing.assert_allclose(dist[1], [0, 4 / 11, 7 / 11, 0])
    np.testing.assert_allclose(dist[2], [1 / 13, 1 / 13, 1 / 13, 10 / 13])
    res = merge_votes(HUMAN, SYNTH, strategy="concat")
    assert res.strategy == "concat"
    np.testing.assert_array_equal(res.synthetic_weight, [8, 8, 8])


def test_weighted_lambda_one_is_concat_and_zero_is_human_only():
    concat = merge_votes(HUMAN, SYNTH)
    np.testing.assert_array_equal(merge_votes(HUMAN, SYNTH, strategy="weighted", weight=1.0).votes, concat.votes)
    zero = merge_votes(HUMAN, SYNTH, strategy="weighted", weight=0.0)
    np.testing.assert_allclose(zero.dist, HUMAN / HUMAN.sum(axis=1, keepdims=True))
    half = merge_votes(HUMAN, SYNTH, strategy="weighted", weight=0.5)
    np.testing.assert_allclose(half.votes[2], [1, 1, 1, 6])
    np.testing.assert_allclose(half.synthetic_weight, [4, 4, 4])


def test_adaptive_posterior_mean_by_hand():
    params = AdaptiveMerge(concentration=4.0, entropy_reduction=0.5, smoothing=2.0)
    res = merge_votes(HUMAN, SYNTH, strategy="adaptive", adaptive=params)
    # row 0: h = (2,1,0,0), H = entropy([2/3, 1/3]) / log 4; a = 4 (1 - 0.5 H); ALM dist = (5,0,1,2)/8
    p = np.array([2 / 3, 1 / 3])
    h0 = float(-(p * np.log(p)).sum() / np.log(4))
    a0 = 4.0 * (1 - 0.5 * h0)
    expect0 = (np.array([2, 1, 0, 0]) + a0 * np.array([5, 0, 1, 2]) / 8 + 0.5) / (3 + a0 + 2)
    np.testing.assert_allclose(res.dist[0], expect0)
    # row 1: unanimous humans, H = 0, full concentration
    expect1 = (np.array([0, 0, 3, 0]) + 4.0 * np.array([0, 0.5, 0.5, 0]) + 0.5) / (3 + 4 + 2)
    np.testing.assert_allclose(res.dist[1], expect1)
    assert res.synthetic_weight[1] == pytest.approx(4.0) and res.synthetic_weight[0] == pytest.approx(a0)
    # the distribution may be passed instead of the votes: only the shape of the row matters
    as_dist = merge_votes(HUMAN, SYNTH / SYNTH.sum(axis=1, keepdims=True), strategy="adaptive", adaptive=params)
    np.testing.assert_allclose(as_dist.dist, res.dist)


def test_adaptive_row_without_synthetic_votes_is_human_only():
    params = AdaptiveMerge(concentration=10.0)
    syn = SYNTH.copy()
    syn[1] = 0.0  # every ALM answer of item 1 invalid
    res = merge_votes(HUMAN, syn, strategy="adaptive", adaptive=params)
    assert res.synthetic_weight[1] == 0.0
    np.testing.assert_allclose(res.dist[1], [0, 0, 1, 0])


@pytest.mark.parametrize("human, synth, kwargs, match", [
    (HUMAN, SYNTH[:2], {}, r"human_votes has shape \(3, 4\) but synthetic_votes has shape \(2, 4\)"),
    (HUMAN, np.where(np.arange(3)[:, None] == 2, -1.0, SYNTH), {}, r"synthetic_votes row 2 has a negative count"),
    (np.where(np.arange(3)[:, None] == 1, np.nan, HUMAN), SYNTH, {}, r"human_votes row 1 contains NaN or infinity"),
    (HUMAN[0], SYNTH[0], {}, r"human_votes must be a 2-D array"),
    (np.array([[1.0, 0], [0, 0]]), np.zeros((2, 2)), {}, r"row 1 has no votes inside the class set"),
    (HUMAN, SYNTH, {"strategy": "average"}, r"strategy must be one of \['concat', 'weighted', 'adaptive'\]"),
    (HUMAN, SYNTH, {"strategy": "weighted", "weight": -0.5}, r"weight \(λ of the weighted merge\) must be"),
    (HUMAN, SYNTH, {"strategy": "adaptive"}, r"needs adaptive=AdaptiveMerge"),
    (np.array([[1.0, 0], [0, 0]]), np.zeros((2, 2)), {"strategy": "adaptive", "adaptive": AdaptiveMerge(1.0, 0, 1.0)},
     r"row 1: neither human nor synthetic votes"),
])
def test_invalid_inputs_raise_naming_the_problem(human, synth, kwargs, match):
    with pytest.raises(ValueError, match=match):
        merge_votes(human, synth, **kwargs)


def test_adaptive_parameters_are_validated():
    with pytest.raises(ValueError, match=r"AdaptiveMerge.entropy_reduction must be a finite number in \[0.0, 1.0\]"):
        AdaptiveMerge(concentration=1.0, entropy_reduction=1.5)
    with pytest.raises(ValueError, match=r"AdaptiveMerge.concentration"):
        AdaptiveMerge(concentration=-1.0)


def _brute_force_loo(h, s, a0, rho, b):
    """Leave-one-annotator-out log-likelihood by explicit loops (independent of the vectorised code)."""
    k = h.shape[1]
    total, n_labels = 0.0, 0
    for hv, sv in zip(h, s):
        n = int(hv.sum())
        if n < 2:
            continue
        prior = sv / sv.sum()
        labels = [c for c in range(k) for _ in range(int(hv[c]))]
        for j, held in enumerate(labels):
            rest = np.bincount(labels[:j] + labels[j + 1:], minlength=k).astype(float)
            q = rest / rest.sum()
            ent = -sum(x * np.log(x) for x in q if x > 0) / np.log(k)
            a = a0 * (1 - rho * ent)
            pred = (rest + a * prior + b / k) / (rest.sum() + a + b)
            total += np.log(pred[held])
            n_labels += 1
    return total / n_labels


def test_loo_likelihood_matches_explicit_leave_one_annotator_out():
    rng = np.random.default_rng(3)
    truth = rng.dirichlet(np.ones(4), size=40)
    h = np.stack([rng.multinomial(rng.integers(1, 7), p) for p in truth]).astype(float)
    s = rng.dirichlet(np.ones(4), size=40)
    terms = _loo_terms(h, s)
    for a0, rho, b in [(3.0, 0.0, 0.5), (7.5, 0.8, 1.2), (0.0, 0.0, 2.0)]:
        assert _loo_mean_loglik(terms, a0, rho, b) == pytest.approx(_brute_force_loo(h, s, a0, rho, b), rel=1e-12)


def _corpus(seed=0, n=1500):
    rng = np.random.default_rng(seed)
    truth = rng.dirichlet(np.full(4, 0.7), size=n)
    human = np.stack([rng.multinomial(rng.integers(3, 8), p) for p in truth]).astype(float)
    return truth, human


def test_fit_gives_weight_to_a_good_proxy_and_none_to_a_contradicting_one():
    truth, human = _corpus()
    good = fit_adaptive_merge(human, truth)
    bad = fit_adaptive_merge(human, np.roll(truth, 2, axis=1))
    assert good.concentration > 20.0
    assert bad.concentration < 0.05 * good.concentration
    assert good.loo_loglik > good.loo_loglik_without_alm + 0.05
    assert bad.loo_loglik == pytest.approx(bad.loo_loglik_without_alm, abs=1e-3)
    assert good.n_items_used == 1500 and good.n_labels_used == int(human.sum())


def test_keep_smoothing_false_falls_back_to_exactly_human_only():
    truth, human = _corpus(seed=1)
    bad = fit_adaptive_merge(human, np.roll(truth, 2, axis=1), keep_smoothing=False)
    assert bad.smoothing == 0.0 and bad.concentration == 0.0
    np.testing.assert_allclose(bad.merge(human, truth).dist, human / human.sum(axis=1, keepdims=True))


def test_fixed_entropy_reduction_is_respected_and_checked():
    truth, human = _corpus(seed=2, n=400)
    assert fit_adaptive_merge(human, truth, entropy_reduction=0.3).entropy_reduction == 0.3
    with pytest.raises(ValueError, match=r"entropy_reduction must be in \[0, 1\] or None"):
        fit_adaptive_merge(human, truth, entropy_reduction=2.0)


def test_fractional_votes_hold_out_one_unit_or_the_whole_share():
    h = np.array([[1.5, 0.5, 1.0], [2.0, 0.0, 0.0]])
    s = np.array([[1.0, 1.0, 2.0], [0.0, 1.0, 0.0]])
    a0, b = 2.0, 0.3
    prior = s / s.sum(axis=1, keepdims=True)
    expect = 0.0
    for hv, p in zip(h, prior):
        for c in range(3):
            if hv[c] == 0:
                continue
            w = min(1.0, hv[c])
            rest = hv.copy()
            rest[c] -= w
            expect += hv[c] * np.log((rest[c] + a0 * p[c] + b / 3) / (rest.sum() + a0 + b))
    assert _loo_mean_loglik(_loo_terms(h, s), a0, 0.0, b) == pytest.approx(expect / h.sum(), rel=1e-12)
    truth, human = _corpus(seed=4, n=600)
    half = np.concatenate([human, np.zeros((600, 1))], axis=1)
    half[:, 0] -= np.minimum(half[:, 0], 0.5)  # one annotator per item split 0.5 onto an out-of-set label
    fitted = fit_adaptive_merge(half[:, :4], truth)
    assert fitted.concentration > 5.0 and np.isfinite(fitted.loo_loglik)


def test_fit_needs_items_with_two_votes():
    with pytest.raises(ValueError, match="needs items with at least 2 human votes"):
        fit_adaptive_merge(np.array([[1.0, 0.0], [0.0, 1.0]]), np.ones((2, 2)))
