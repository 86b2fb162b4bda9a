"""Agreement statistics cross-checked against the krippendorff package's raw-data path and statsmodels."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from hf_ambiguity.analysis import agreement as ag


def _votes(n: int, k: int, low: int, high: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random labels (annotators x items, NaN = did not rate) with item-dependent preferences, and vote counts."""
    rng = np.random.default_rng(seed)
    n_ann = high
    pref = rng.dirichlet(np.full(k, 0.5), n)
    raters = rng.integers(low, high + 1, n)
    data = np.full((n_ann, n), np.nan)
    for i in range(n):
        who = rng.choice(n_ann, raters[i], replace=False)
        data[who, i] = rng.choice(k, raters[i], p=pref[i])
    counts = np.stack([np.bincount(data[~np.isnan(data[:, i]), i].astype(int), minlength=k) for i in range(n)])
    return data, counts


@pytest.mark.parametrize("low,high,seed", [(3, 3, 0), (2, 7, 1), (1, 5, 2)])
def test_alpha_matches_the_raw_reliability_data_path(low: int, high: int, seed: int) -> None:
    data, counts = _votes(150, 4, low, high, seed)
    want = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    res = ag.krippendorff_alpha(counts)
    assert res.alpha == pytest.approx(want, rel=1e-10)
    assert res.n_pairable_items == int((counts.sum(1) >= 2).sum()) and res.n_votes == int(counts.sum())


def test_fleiss_equal_counts_is_plain_statsmodels() -> None:
    _, counts = _votes(200, 5, 4, 4, 3)
    want = sm_fleiss(counts, method="fleiss")
    for scheme in ("subsample", "modal"):
        res = ag.fleiss_kappa(counts, scheme=scheme)
        assert res.kappa == pytest.approx(want, rel=1e-12) and res.kappa_sd == 0.0
        assert res.n_items_used == 200 and res.n_items_excluded == 0 and res.n_raters == 4


def test_fleiss_modal_scheme_uses_items_with_the_most_common_count() -> None:
    _, counts = _votes(300, 4, 2, 6, 4)
    totals = counts.sum(1)
    modal = np.bincount(totals).argmax()
    res = ag.fleiss_kappa(counts, scheme="modal")
    assert res.n_raters == modal and res.n_items_used == int((totals == modal).sum())
    assert res.kappa == pytest.approx(sm_fleiss(counts[totals == modal]), rel=1e-12)


def test_fleiss_subsample_scheme_is_seeded_and_close_to_alpha() -> None:
    _, counts = _votes(600, 4, 3, 9, 5)
    a = ag.fleiss_kappa(counts, n_resamples=10, seed=1)
    b = ag.fleiss_kappa(counts, n_resamples=10, seed=1)
    c = ag.fleiss_kappa(counts, n_resamples=10, seed=2)
    assert a == b and a.kappa != c.kappa
    assert a.n_raters == 3 and a.n_resamples == 10 and a.kappa_sd > 0
    # subsampling keeps the expected agreement: kappa is close to alpha on the full data (same chance model)
    assert a.kappa == pytest.approx(ag.krippendorff_alpha(counts).alpha, abs=0.05)
    five = ag.fleiss_kappa(counts, n_raters=5)
    assert five.n_items_excluded == int((counts.sum(1) < 5).sum())


def test_subsample_draws_without_replacement() -> None:
    rng = np.random.default_rng(0)
    votes = np.array([[5, 0, 1], [2, 2, 2], [0, 3, 0]])
    draws = np.stack([ag.subsample_votes(votes, 3, rng) for _ in range(4000)])
    assert (draws.sum(axis=2) == 3).all() and (draws <= votes).all()
    # hypergeometric mean: m * K_c / N per class
    assert draws.mean(axis=0) == pytest.approx(3 * votes / votes.sum(1, keepdims=True), abs=0.05)
    assert (ag.subsample_votes(votes[1:], 3, rng) <= votes[1:]).all()


def test_synthetic_human_agreement_against_independent_computation() -> None:
    rng = np.random.default_rng(6)
    n, k, n_syn = 200, 4, 5
    _, human = _votes(n, k, 3, 3, 7)
    top = human.argmax(1)
    labels = np.where(rng.random((n, n_syn)) < 0.7, top[:, None], rng.integers(0, k, (n, n_syn)))
    labels[rng.random((n, n_syn)) < 0.05] = -1
    syn = np.stack([np.bincount(row[row >= 0], minlength=k) for row in labels])
    res = ag.synthetic_human_agreement(human, syn, synthetic_labels=labels)
    assert res.alpha_human == pytest.approx(ag.krippendorff_alpha(human).alpha)
    assert res.alpha_pooled == pytest.approx(ag.krippendorff_alpha(human + syn).alpha)
    assert res.alpha_pooled_minus_human == pytest.approx(res.alpha_pooled - res.alpha_human)
    ph, ps = ag.plurality(human), ag.plurality(syn)
    both = (ph >= 0) & (ps >= 0)
    assert res.plurality_agreement == pytest.approx(np.mean(ph[both] == ps[both]))
    assert len(res.per_annotator) == n_syn
    for j, one in enumerate(res.per_annotator):
        ok = (ph >= 0) & (labels[:, j] >= 0)
        assert one.n_items == ok.sum()
        assert one.agreement == pytest.approx(np.mean(ph[ok] == labels[ok, j]))
        assert one.cohen_kappa == pytest.approx(cohen_kappa_score(ph[ok], labels[ok, j], labels=list(range(k))))
    json.dumps(res.to_dict())


def test_one_synthetic_annotator_leaves_its_alpha_undefined_but_compares_with_humans() -> None:
    human = np.array([[2, 1, 0], [0, 3, 0], [1, 1, 1], [0, 0, 3]])
    one = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])   # N = 1: no synthetic pair to compare
    res = ag.synthetic_human_agreement(human, one, synthetic_labels=[[0], [1], [2], [2]])
    assert np.isnan(res.alpha_synthetic) and res.to_dict()["alpha_synthetic"] is None
    assert res.alpha_pooled == pytest.approx(ag.krippendorff_alpha(human + one).alpha)
    assert res.plurality_agreement == 1.0 and res.n_items_plurality == 3
    assert res.per_annotator[0].agreement == 1.0


def test_plurality_marks_ties() -> None:
    assert ag.plurality(np.array([[1, 1, 0], [0, 2, 1], [0, 0, 0]])).tolist() == [-1, 1, -1]


def test_undefined_alpha_is_reported_as_none() -> None:
    res = ag.krippendorff_alpha([[2, 0], [3, 0]])
    assert np.isnan(res.alpha) and res.to_dict()["alpha"] is None


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: ag.krippendorff_alpha([[1, 0], [0.5, 1]]), r"votes row 1 has a non-integer count"),
        (lambda: ag.krippendorff_alpha([[1, 0], [-1, 2]]), r"votes row 1 has a negative count"),
        (lambda: ag.krippendorff_alpha([[1, 0], [np.nan, 2]]), r"votes row 1 contains NaN"),
        (lambda: ag.krippendorff_alpha([[1, 0], [1, 0, 1]]), r"votes row 1 has 3 entries but row 0 has 2"),
        (lambda: ag.krippendorff_alpha(np.zeros((0, 3))), r"votes is empty"),
        (lambda: ag.krippendorff_alpha([[1, 0], [0, 1]]), r"no item has two or more votes"),
        (lambda: ag.fleiss_kappa([[2, 1]], scheme="mode"),
         r"scheme must be one of \['subsample', 'modal', 'reference'\]"),
        (lambda: ag.fleiss_kappa([[0, 0]], scheme="reference"), r"no item has a vote"),
        (lambda: ag.agreement_summary(np.array([[1.5, 0.5]])), r"votes row 0 has a non-integer count"),
        (lambda: ag.synthetic_human_agreement([[2, 1], [1, 2]], [[2, 0], [0, 2]], synthetic_labels=[[0, 0], [0, 1]]),
         r"synthetic_labels row 1 counts \[1, 1\] per class but synthetic_votes row 1 is \[0, 2\]"),
        (lambda: ag.synthetic_human_agreement([[2, 1]], [[2, 0]], synthetic_labels=[[0, -1]]),
         r"synthetic_labels row 0 counts \[1, 0\]"),
        (lambda: ag.fleiss_kappa([[2, 1]], n_raters=4), r"no item has 4 or more votes"),
        (lambda: ag.synthetic_human_agreement([[2, 1]], [[1, 1], [2, 0]]), r"human_votes has 1 items but"),
        (lambda: ag.synthetic_human_agreement([[2, 1]], [[1, 1, 0]]), r"synthetic_votes rows have 3 entries"),
        (lambda: ag.synthetic_human_agreement([[2, 1], [1, 2]], [[2, 0], [0, 2]], synthetic_labels=[[0, 1], [1, 5]]),
         r"synthetic_labels row 1 has a value outside -1..1"),
    ],
)
def test_bad_input(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def _reference_kappa_loop(counts: np.ndarray) -> float:
    """The reference library's estimator written out item by item (independent of the vectorised code)."""
    rows = [r for r in counts if r.sum() > 0]
    p_items = []
    for r in rows:
        n = r.sum()
        p_items.append(1.0 if n <= 1 else sum(c * (c - 1) for c in r) / (n * (n - 1)))
    pooled = np.sum(rows, axis=0) / np.sum(rows)
    p_e = float((pooled**2).sum())
    return float(np.clip((np.mean(p_items) - p_e) / (1 - p_e), -1, 1))


def test_reference_kappa_keeps_each_items_own_count() -> None:
    # 2 votes agreeing, 2 split, 1 single vote (counted as agreement): P = (1 + 0 + 1)/3, P_e = 0.8² + 0.2²
    res = ag.fleiss_kappa([[2, 0], [1, 1], [1, 0], [0, 0]], scheme="reference")
    assert res.kappa == pytest.approx((2 / 3 - 0.68) / 0.32)
    assert (res.n_raters, res.n_items_used, res.n_items_excluded, res.scheme) == (None, 3, 1, "reference")
    _, counts = _votes(300, 4, 1, 7, 5)  # 1..7 votes per item
    assert ag.fleiss_kappa(counts, scheme="reference").kappa == pytest.approx(_reference_kappa_loop(counts))
    assert ag.fleiss_kappa(counts, scheme="reference").kappa != pytest.approx(ag.fleiss_kappa(counts).kappa, abs=1e-3)
    _, equal = _votes(200, 4, 5, 5, 6)  # equal counts: Fleiss' own estimator, as statsmodels
    assert ag.fleiss_kappa(equal, scheme="reference").kappa == pytest.approx(sm_fleiss(equal, method="fleiss"))
    # the reference's edge cases: one class used everywhere -> 1; a single vote per item -> 1
    assert ag.fleiss_kappa([[3, 0], [2, 0]], scheme="reference").kappa == 1.0
    assert ag.fleiss_kappa([[1, 0], [0, 1]], scheme="reference").kappa == 1.0
    summary = ag.agreement_summary(counts, kappa_scheme="reference")
    assert summary["fleiss_kappa"] == pytest.approx(_reference_kappa_loop(counts))
    assert "the reference's estimator" in summary["note"]


def test_metric_module_refuses_labels_that_contradict_the_votes_and_offers_the_reference_kappa() -> None:
    import evaluate

    pair = evaluate.load("metrics/annotator_agreement", "synthetic_vs_human")
    with pytest.raises(ValueError, match=r"synthetic_labels row 1 counts \[2, 0\] per class but synthetic_votes"):
        pair.compute(predictions=[[2, 0], [0, 2]], references=[[3, 0], [1, 2]], synthetic_labels=[[0, 0], [0, 0]])
    metric = evaluate.load("metrics/annotator_agreement")
    votes = [[2, 0], [1, 1], [1, 0]]
    got = metric.compute(votes=votes, fleiss_scheme="reference")
    assert got["fleiss_kappa"] == pytest.approx(ag.fleiss_kappa(votes, scheme="reference").kappa)
    assert got["fleiss_scheme"] == "reference" and got["fleiss_n_raters"] is None
