"""Alignment statistics cross-checked against independent implementations (scipy, sklearn, plain loops)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cosine as cosine_distance
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import accuracy_score, f1_score, r2_score

from hf_ambiguity.analysis import alignment as al
from hf_ambiguity.analysis import divergences as dv


def _random_pair(n: int = 400, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random predictions and human-like references: Dirichlet rows, hard labels, 3-annotator ties, zeros."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.8), n)
    p[: n // 10, -1] = 0.0  # some exact zeros in predictions
    p /= p.sum(axis=1, keepdims=True)
    votes = np.stack([np.bincount(rng.integers(0, k, 3), minlength=k) for _ in range(n)])
    q = votes / votes.sum(axis=1, keepdims=True)  # thirds, with ties and zeros like IEMOCAP
    q[: n // 4] = rng.dirichlet(np.ones(k), n // 4)
    return p, q


def _ece_loop(p: np.ndarray, q: np.ndarray, soft: bool) -> float:
    """ECE written out with an explicit loop over 10 bins (b/10, (b+1)/10]."""
    conf = p.max(axis=1)
    pred = p.argmax(axis=1)
    correct = q[np.arange(len(q)), pred] if soft else (pred == q.argmax(axis=1)).astype(float)
    total = 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        in_bin = (conf > lo) & (conf <= hi) if b else (conf <= hi)
        if in_bin.any():
            total += in_bin.sum() / len(conf) * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return total


def _reference_stats(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Every statistic from scipy / sklearn / loops, row by row."""
    y_true, y_pred = q.argmax(axis=1), p.argmax(axis=1)
    spear = np.array([stats.spearmanr(a, b).statistic if np.ptp(a) and np.ptp(b) else np.nan for a, b in zip(p, q)])
    eps = dv.KL_EPSILON
    k = p.shape[1]
    top1 = []
    for a, b in zip(p, q):
        ta, tb = set(np.flatnonzero(np.isclose(a, a.max(), rtol=0, atol=1e-9))), set(
            np.flatnonzero(np.isclose(b, b.max(), rtol=0, atol=1e-9)))
        top1.append(len(ta & tb) / (len(ta) * len(tb)))
    return {
        "js_divergence_base2": np.mean([jensenshannon(a, b, base=2) ** 2 for a, b in zip(p, q)]),
        "js_distance_natural": np.mean([jensenshannon(a, b) for a, b in zip(p, q)]),
        "bhattacharyya_coefficient": np.mean([np.sum(np.sqrt(a * b)) for a, b in zip(p, q)]),
        "kl_divergence_natural": np.mean(
            [stats.entropy((b + eps) / (1 + k * eps), (a + eps) / (1 + k * eps)) for a, b in zip(p, q)]),
        "total_variation_distance": np.mean([0.5 * np.abs(a - b).sum() for a, b in zip(p, q)]),
        "cosine_similarity": np.mean([1 - cosine_distance(a, b) for a, b in zip(p, q)]),
        "top1_agreement": np.mean(top1),
        "argmax_accuracy": accuracy_score(y_true, y_pred),
        "f1_macro": f1_score(y_true, y_pred, average="macro"),
        "f1_weighted": f1_score(y_true, y_pred, average="weighted"),
        "r2_uniform_average": r2_score(q, p),
        "ece_10bin_argmax": _ece_loop(p, q, soft=False),
        "ece_10bin_soft": _ece_loop(p, q, soft=True),
        "spearman_per_item": np.nanmean(spear),
        "entropy_pearson_r": stats.pearsonr(stats.entropy(p, axis=1), stats.entropy(q, axis=1)).statistic,
        "mean_prediction_entropy_natural": stats.entropy(p, axis=1).mean(),
        "mean_reference_entropy_natural": stats.entropy(q, axis=1).mean(),
    }


@pytest.mark.parametrize("seed,k", [(0, 4), (1, 8), (2, 3), (3, 40)])
def test_every_statistic_matches_independent_reference(seed: int, k: int) -> None:
    p, q = _random_pair(k=k, seed=seed)
    got = al.alignment_statistics(p, q)["overall"]
    want = _reference_stats(p, q)
    assert set(want) == set(al.STATISTIC_NAMES)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert got["n_items"] == len(p)


def test_spearman_counts_undefined_rows_like_scipy() -> None:
    p, q = _random_pair(n=50)
    q[:7] = 0.25  # uniform human rows: rank correlation undefined
    got = al.alignment_statistics(p, q)["overall"]
    assert got["spearman_undefined_items"] == 7
    assert np.isnan(dv.spearman_per_item(p[:7], q[:7])).all()
    want = np.nanmean([stats.spearmanr(a, b).statistic for a, b in zip(p[7:], q[7:])])
    assert got["spearman_per_item"] == pytest.approx(want, rel=1e-12)


def test_row_functions_match_scipy_and_accept_single_vectors() -> None:
    p, q = _random_pair(n=100, k=5, seed=3)
    assert np.allclose(dv.js_divergence(p, q), [jensenshannon(a, b, base=2) ** 2 for a, b in zip(p, q)], atol=1e-12)
    assert np.allclose(dv.js_divergence(p, q, base=np.e), [jensenshannon(a, b) ** 2 for a, b in zip(p, q)])
    assert np.allclose(dv.js_distance(p, q), [jensenshannon(a, b) for a, b in zip(p, q)], atol=1e-12)
    assert np.allclose(dv.js_distance(p, q, base=2), [jensenshannon(a, b, base=2) for a, b in zip(p, q)])
    assert np.allclose(dv.kl_divergence(q, p + 0.0, epsilon=0.0), [stats.entropy(b, a) for a, b in zip(p, q)])
    assert np.allclose(dv.cosine_similarity(p, q), [1 - cosine_distance(a, b) for a, b in zip(p, q)])
    assert np.allclose(dv.shannon_entropy(p), stats.entropy(p, axis=1))
    single = dv.js_distance(p[0], q[0])
    assert isinstance(single, float) and single == pytest.approx(jensenshannon(p[0], q[0]))
    assert dv.js_divergence(p, p).max() == 0.0 and dv.js_distance(q, q).max() == 0.0
    assert np.allclose(dv.bhattacharyya_coefficient(p, p), 1.0)


def test_top1_agreement_handles_ties_and_accuracy_uses_first_index() -> None:
    p = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.5, 0.5, 0.0]])
    q = np.array([[1 / 3, 1 / 3, 1 / 3], [0.0, 0.5, 0.5], [0.5, 0.5, 0.0]])
    assert dv.top1_agreement(p, q).tolist() == pytest.approx([1 / 3, 0.0, 0.5])
    res = al.alignment_statistics(p, q)["overall"]
    assert res["argmax_accuracy"] == pytest.approx(2 / 3)  # rows 0 and 2 match on the first maximal index
    assert res["top1_agreement"] == pytest.approx((1 / 3 + 0.0 + 0.5) / 3)


def test_per_level_equals_statistics_of_the_subset() -> None:
    p, q = _random_pair(n=300, seed=4)
    amb = np.random.default_rng(4).choice(["low", "medium", "high"], len(p))
    res = al.alignment_statistics(p, q, amb)
    assert list(res["per_level"]) == ["low", "medium", "high"]
    for level, block in res["per_level"].items():
        sub = al.alignment_statistics(p[amb == level], q[amb == level])["overall"]
        assert block["n_items"] == int((amb == level).sum())
        for name in al.STATISTIC_NAMES:
            assert block[name] == pytest.approx(sub[name], rel=1e-9, abs=1e-12), (level, name)
    only_low = al.alignment_statistics(p[:5], q[:5], ["low"] * 5)
    assert list(only_low["per_level"]) == ["low"]


def test_bootstrap_resample_equals_statistics_on_explicitly_resampled_items() -> None:
    # pins the scheme: one resample = items drawn with replacement by default_rng(seed).integers(0, n, (1, n))
    p, q = _random_pair(n=120, seed=5)
    res = al.alignment_statistics(p, q, n_bootstrap=1, seed=11)
    idx = np.random.default_rng(11).integers(0, len(p), size=(1, len(p)))[0]
    explicit = _reference_stats(p[idx], q[idx])
    for name, value in explicit.items():
        low, high = res["confidence_intervals"]["overall"][name]
        assert low == pytest.approx(value, rel=1e-9, abs=1e-12) and high == low, name


def test_bootstrap_intervals_are_seeded_and_cover_the_estimate() -> None:
    p, q = _random_pair(n=500, seed=6)
    amb = np.where(np.arange(500) % 2, "low", "high")
    a = al.alignment_statistics(p, q, amb, n_bootstrap=300, seed=3)
    b = al.alignment_statistics(p, q, amb, n_bootstrap=300, seed=3)
    c = al.alignment_statistics(p, q, amb, n_bootstrap=300, seed=4)
    assert a["confidence_intervals"] == b["confidence_intervals"]
    assert a["confidence_intervals"] != c["confidence_intervals"]
    for name in al.STATISTIC_NAMES:
        low, high = a["confidence_intervals"]["overall"][name]
        assert low <= a["overall"][name] <= high, name
    js_low, js_high = a["confidence_intervals"]["per_level"]["low"]["js_divergence_base2"]
    width_overall = np.subtract(*a["confidence_intervals"]["overall"]["js_divergence_base2"][::-1])
    assert js_high - js_low > width_overall  # half the items: wider interval
    assert al.alignment_statistics(p, q)["confidence_intervals"] is None


def test_renormalize_turns_counts_into_distributions() -> None:
    counts_p = np.array([[3, 1, 0], [0, 2, 2]])
    counts_q = np.array([[2, 2, 0], [0, 0, 5]])
    res = al.alignment_statistics(counts_p, counts_q, renormalize=True)["overall"]
    direct = al.alignment_statistics(counts_p / 4, counts_q / counts_q.sum(1, keepdims=True))["overall"]
    assert res == direct
    with pytest.raises(ValueError, match=r"references row 1 has no votes inside the class set"):
        al.alignment_statistics(counts_p, [[1, 1, 0], [0, 0, 0]], renormalize=True)


@pytest.mark.parametrize(
    "pred,ref,amb,match",
    [
        ([[0.5, 0.5], [0.7, 0.2]], [[1, 0], [1, 0]], None, r"predictions row 1 does not sum to 1 .*renormalize=True"),
        ([[0.5, 0.5], [1.2, -0.2]], [[1, 0], [1, 0]], None, r"predictions row 1 has a negative entry"),
        ([[0.5, 0.5], [1, 0]], [[1, 0], [np.nan, 1]], None, r"references row 1 contains NaN"),
        ([[0.5, 0.5], [1, 0, 0]], [[1, 0], [1, 0]], None, r"predictions row 1 has 3 entries but row 0 has 2"),
        ([[0.5, 0.5]], [[1, 0], [1, 0]], None, r"predictions has 1 rows but references has 2"),
        ([[0.5, 0.5]], [[1, 0, 0]], None, r"references rows have 3 entries but the other input's rows have 2"),
        ([], [], None, r"predictions is empty"),
        ([[0.5, 0.5], [1, 0]], [[1, 0], [1, 0]], ["low", "hgh"], r"ambiguity row 1 has unknown level 'hgh'"),
        ([[0.5, 0.5], [1, 0]], [[1, 0], [1, 0]], ["low"], r"ambiguity needs one level per item \(2\)"),
    ],
)
def test_bad_input_names_the_first_offending_row(pred, ref, amb, match) -> None:
    with pytest.raises(ValueError, match=match):
        al.alignment_statistics(pred, ref, amb)


def test_ragged_object_array_names_the_row() -> None:
    # e.g. ds.with_format("numpy")[column] of a list column with rows of different lengths
    ragged = np.empty(3, dtype=object)
    ragged[:] = [np.array([0.5, 0.5]), np.array([1.0, 0.0]), np.array([0.2, 0.3, 0.5])]
    with pytest.raises(ValueError, match=r"predictions row 2 has 3 entries but row 0 has 2"):
        al.alignment_statistics(ragged, [[1, 0]] * 3)
    same = np.empty(2, dtype=object)
    same[:] = [np.array([0.5, 0.5]), np.array([1.0, 0.0])]
    assert al.alignment_statistics(same, [[1, 0], [1, 0]])["overall"]["argmax_accuracy"] == 1.0


def test_tolerance_and_options_are_validated() -> None:
    assert al.alignment_statistics([[0.50004, 0.5]], [[1, 0]])["overall"]["n_items"] == 1
    with pytest.raises(ValueError, match=r"tolerance 1e-06"):
        al.alignment_statistics([[0.50004, 0.5]], [[1, 0]], atol=1e-6)
    with pytest.raises(ValueError, match=r"n_bootstrap must be >= 0"):
        al.alignment_statistics([[1, 0]], [[1, 0]], n_bootstrap=-1)
    with pytest.raises(ValueError, match=r"predictions row 0 does not sum to 1"):
        dv.js_divergence([0.3, 0.3], [0.5, 0.5])


def test_large_input_runs_chunked_and_matches_small_blocks() -> None:
    p, q = _random_pair(n=70_000, k=6, seed=7)  # more than one internal block
    whole = al.alignment_statistics(p, q)["overall"]
    halves = [al.alignment_statistics(p[s], q[s])["overall"] for s in (slice(0, 35_000), slice(35_000, None))]
    for name in ("js_divergence_base2", "bhattacharyya_coefficient", "top1_agreement", "spearman_per_item"):
        assert whole[name] == pytest.approx(np.mean([h[name] for h in halves]), rel=1e-9), name


def test_threaded_blocks_give_identical_results(monkeypatch: pytest.MonkeyPatch) -> None:
    p, q = _random_pair(n=70_000, k=4, seed=8)
    amb = np.random.default_rng(8).choice(["low", "medium", "high"], len(p))
    monkeypatch.setattr(al, "_THREADS", 1)
    serial = al.alignment_statistics(p, q, amb)
    monkeypatch.setattr(al, "_THREADS", 3)
    assert al.alignment_statistics(p, q, amb) == serial


def test_reference_tie_order_matches_argmax_over_alphabetical_columns() -> None:
    """The reference takes np.argmax over its alphabetical class list: ``tie_order`` reproduces its accuracy and F1
    on the project's class order (neutral, happy, angry, sad), where 3-annotator references tie often."""
    names = ["neutral", "happy", "angry", "sad"]
    p, q = _random_pair(n=600, k=4, seed=3)
    p[:100] = q[:100]  # predictions tied exactly like their references: tie-breaking decides these items
    order = al.argmax_tie_order(names, "alphabetical")
    alpha = np.argsort(names)  # columns in the reference's order (angry, happy, neutral, sad)
    y_pred, y_true = p[:, alpha].argmax(axis=1), q[:, alpha].argmax(axis=1)
    got = al.alignment_statistics(p, q, tie_order=order)
    assert got["overall"]["argmax_accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert got["overall"]["f1_macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert got["overall"]["f1_weighted"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert got["settings"]["tie_order"] == [2, 1, 0, 3]
    default = al.alignment_statistics(p, q)["overall"]
    assert default["argmax_accuracy"] == pytest.approx(accuracy_score(q.argmax(1), p.argmax(1)))
    assert default["f1_macro"] != pytest.approx(got["overall"]["f1_macro"])  # the ties matter on this data
    # a 50/50 neutral/angry reference: neutral in class order, angry in the reference's order
    tie = al.alignment_statistics([[0.0, 0.0, 1.0, 0.0]], [[0.5, 0.0, 0.5, 0.0]], tie_order=order)
    assert tie["overall"]["argmax_accuracy"] == 1.0
    assert al.alignment_statistics([[0.0, 0.0, 1.0, 0.0]], [[0.5, 0.0, 0.5, 0.0]])["overall"]["argmax_accuracy"] == 0.0
    with pytest.raises(ValueError, match=r"tie_order must list every class index 0..3 once"):
        al.alignment_statistics(p, q, tie_order=[0, 1, 2])
    with pytest.raises(ValueError, match=r"argmax_ties must be one of"):
        al.argmax_tie_order(names, "by_name")


def test_negative_or_nan_tolerance_is_refused() -> None:
    for atol in (-1e-4, float("nan")):
        with pytest.raises(ValueError, match=r"atol .* must be a finite number >= 0"):
            al.alignment_statistics([[1.0, 0.0]], [[1.0, 0.0]], atol=atol)
