"""Paired significance tests cross-checked against scipy.stats and statsmodels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from hf_ambiguity.analysis.divergences import js_divergence
from hf_ambiguity.analysis.significance import compare_candidates, paired_comparison


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def _pairs(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = rng.uniform(0.1, 0.6, n)
    return b + shift + rng.normal(0, 0.05, n), b


def test_wilcoxon_and_rank_biserial_match_scipy() -> None:
    a, b = _pairs(80, -0.01, 0)
    res = paired_comparison(a, b, n_resamples=500).overall
    ref = stats.wilcoxon(a, b)
    assert res.wilcoxon_statistic == pytest.approx(ref.statistic)
    assert res.wilcoxon_pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    r_plus = stats.wilcoxon(a - b, alternative="greater").statistic  # sum of ranks of positive differences
    total = len(a) * (len(a) + 1) / 2
    assert res.rank_biserial == pytest.approx((r_plus - (total - r_plus)) / total)
    assert res.mean_difference == pytest.approx(np.mean(a - b))
    assert res.median_difference == pytest.approx(np.median(a - b))
    less = paired_comparison(a, b, n_resamples=500, alternative="less").overall
    assert less.wilcoxon_pvalue == pytest.approx(stats.wilcoxon(a, b, alternative="less").pvalue)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_permutation_pvalue_equals_scipy_exact_test(alternative: str) -> None:
    a, b = _pairs(11, 0.03, 1)  # 2**11 = 2048 <= n_resamples: exact enumeration on both sides
    res = paired_comparison(a, b, n_resamples=5000, alternative=alternative).overall
    ref = stats.permutation_test((a - b,), _mean, permutation_type="samples", vectorized=True, n_resamples=5000,
                                 alternative=alternative)
    assert res.permutation_pvalue == pytest.approx(ref.pvalue, abs=1e-12)


def test_randomised_permutation_pvalue_agrees_with_scipy() -> None:
    a, b = _pairs(200, 0.004, 2)
    res = paired_comparison(a, b, n_resamples=20000, seed=1).overall
    ref = stats.permutation_test((a - b,), _mean, permutation_type="samples", vectorized=True, n_resamples=20000,
                                 rng=np.random.default_rng(9))
    assert 0.05 < ref.pvalue < 0.95  # a p-value in the bulk, where Monte-Carlo error matters
    assert res.permutation_pvalue == pytest.approx(ref.pvalue, abs=0.02)


def test_per_level_tests_and_holm_correction() -> None:
    rng = np.random.default_rng(3)
    n = 300
    amb = np.array(["low", "medium", "high"] * (n // 3))
    b = rng.uniform(0.1, 0.6, n)
    shift = np.select([amb == "low", amb == "high"], [-0.05, 0.05], 0.0)  # A better at low, worse at high
    a = b + shift + rng.normal(0, 0.03, n)
    res = paired_comparison(a, b, amb, n_resamples=2000)
    assert list(res.per_level) == ["low", "medium", "high"]
    low, med, high = (res.per_level[k] for k in ("low", "medium", "high"))
    assert low.mean_difference < 0 < high.mean_difference
    assert low.wilcoxon_pvalue < 1e-6 and high.wilcoxon_pvalue < 1e-6
    assert low.mean_difference_ci95[1] < 0 < high.mean_difference_ci95[0]
    raw = [res.per_level[k].wilcoxon_pvalue for k in res.per_level]
    want = multipletests(raw, method="holm")[1]
    assert [res.per_level[k].wilcoxon_pvalue_corrected for k in res.per_level] == pytest.approx(list(want))
    perm = [res.per_level[k].permutation_pvalue for k in res.per_level]
    bonf = paired_comparison(a, b, amb, n_resamples=2000, correction="bonferroni")
    assert [bonf.per_level[k].permutation_pvalue_corrected for k in bonf.per_level] == pytest.approx(
        list(multipletests(perm, method="bonferroni")[1]))
    assert res.overall.wilcoxon_pvalue_corrected is None
    sub = paired_comparison(a[amb == "low"], b[amb == "low"], n_resamples=2000).overall
    assert sub.wilcoxon_pvalue == pytest.approx(low.wilcoxon_pvalue)


def test_seeded_results_and_json_round_trip() -> None:
    a, b = _pairs(100, 0.0, 4)
    amb = ["low", "high"] * 50
    r1 = paired_comparison(a, b, amb, n_resamples=1000, seed=5)
    r2 = paired_comparison(a, b, amb, n_resamples=1000, seed=5)
    r3 = paired_comparison(a, b, amb, n_resamples=1000, seed=6)
    assert r1 == r2 and r1.overall.mean_difference_ci95 != r3.overall.mean_difference_ci95
    d = json.loads(json.dumps(r1.to_dict()))
    assert d["per_level"]["high"]["n_items"] == 50 and d["correction"] == "holm"
    assert isinstance(d["overall"]["mean_difference_ci95"], list)


def test_identical_candidates_give_no_evidence() -> None:
    a = np.array([0.1, 0.2, 0.3, 0.4])
    res = paired_comparison(a, a.copy(), n_resamples=100).overall
    assert res.wilcoxon_pvalue == 1.0 and res.permutation_pvalue == 1.0
    assert res.rank_biserial is None and res.n_zero_differences == 4


def test_compare_candidates_scores_both_against_the_reference() -> None:
    rng = np.random.default_rng(5)
    ref = rng.dirichlet(np.ones(4), 60)
    near = 0.8 * ref + 0.2 * rng.dirichlet(np.ones(4), 60)
    far = 0.4 * ref + 0.6 * rng.dirichlet(np.ones(4), 60)
    res = compare_candidates(near, far, ref, n_resamples=500)
    direct = paired_comparison(js_divergence(near, ref), js_divergence(far, ref), n_resamples=500)
    assert res.overall == direct.overall and res.divergence == "js_divergence_base2"
    assert res.overall.mean_difference < 0 and res.overall.wilcoxon_pvalue < 1e-6
    tvd = compare_candidates(near, far, ref, divergence="total_variation_distance", n_resamples=200)
    assert tvd.overall.mean_a == pytest.approx(0.5 * np.abs(near - ref).sum(1).mean())
    with pytest.raises(ValueError, match=r"baseline_predictions row 2 has a negative entry"):
        bad = far.copy()
        bad[2, 0] = -0.1
        compare_candidates(near, bad, ref)
    with pytest.raises(ValueError, match=r"divergence must be one of .*got 'js'"):
        compare_candidates(near, far, ref, divergence="js")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"div_a": [0.1, 0.2], "div_b": [0.1]}, r"div_a has 2 items but div_b has 1"),
        ({"div_a": [], "div_b": []}, r"div_a is empty"),
        ({"div_a": [0.1, np.nan], "div_b": [0.1, 0.2]}, r"div_a row 1 is nan"),
        ({"div_a": [0.1, 0.2], "div_b": [0.1, 0.2], "ambiguity": ["low", "mid"]}, r"ambiguity row 1 .*'mid'"),
        ({"div_a": [0.1], "div_b": [0.2], "correction": "holmes"}, r"correction must be one of .*'holmes'"),
        ({"div_a": [0.1], "div_b": [0.2], "alternative": "lower"}, r"alternative must be one of"),
        ({"div_a": [[0.1]], "div_b": [[0.2]]}, r"div_a must be one value per item"),
    ],
)
def test_bad_input(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        paired_comparison(**kwargs)
