"""The held-out-annotator test (`hf_ambiguity.analysis.synthetic_benefit`): known answers on simulated worlds,
through the library and through `evaluate.load("metrics/synthetic_benefit")`, an independent loop implementation,
cross-fitting (nothing fitted on the items it scores), invariances and input errors.

Which merge each known-answer property is tested with, and why:

- synthetic = the exact true distribution => "helps" overall and never "hurts" in a stratum: every merge.
- synthetic unrelated to the truth (independent Dirichlet draws) => never "helps": every merge; "hurts" overall:
  ``concat`` (a fixed weight of 8 votes on noise must hurt; ``weighted`` / ``adaptive`` may fit the weight to ~0 and
  then show no difference).
- synthetic shuffled across items => never "helps": every merge.
- synthetic equal to the smoothing target (uniform, ``smoothing_target="uniform"``) => exactly the baseline's
  forecasts: ``weighted`` (weight cross-fitted; a fixed concat weight is extra smoothing and may hurt).

Null properties are checked where the baseline knows the class prior exactly (balanced worlds, uniform target) or
where the synthetic mean is not the prior (imbalanced worlds, marginal target). A synthetic source whose mean equals
the true class prior can beat a baseline that estimates the prior by at most that estimation error (O(1/items)):
``test_a_synthetic_source_with_only_the_class_prior_moves_the_score_by_at_most_its_estimation_error``.
"""

from __future__ import annotations

import json
from pathlib import Path

import evaluate
import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from hf_ambiguity.analysis import synthetic_benefit as sbm
from hf_ambiguity.analysis.scoring_rules import brier_score, log_loss
from hf_ambiguity.analysis.synthetic_benefit import fit_merge, labels_to_votes, synthetic_benefit

REPO = Path(__file__).resolve().parents[1]
FAST = {"n_resamples": 300}


def _world(n: int, k: int, raters: tuple[int, int], seed: int, prior: np.ndarray | None = None):
    """Latent truths (Dirichlet around a dominant class, ambiguity from clear to flat), raters per item uniform in
    ``raters``, each label a draw from the truth. Returns ``(truth, labels, rng)``."""
    rng = np.random.default_rng(seed)
    dom = rng.choice(k, n, p=prior)
    mass = rng.uniform(1.0 / k, 0.95, n)
    conc = np.exp(rng.uniform(np.log(2.0), np.log(50.0), n))
    mean = np.repeat(((1 - mass) / (k - 1))[:, None], k, axis=1)
    mean[np.arange(n), dom] = mass
    g = rng.standard_gamma(conc[:, None] * mean) + 1e-300
    truth = g / g.sum(axis=1, keepdims=True)
    n_r = rng.integers(raters[0], raters[1] + 1, n)
    cdf = np.cumsum(truth, axis=1)
    draws = (rng.random((n, raters[1]))[:, :, None] > cdf[:, None, :]).sum(axis=2).clip(0, k - 1)
    labels = [row[:m].tolist() for row, m in zip(draws, n_r)]
    return truth, labels, rng


def _imbalanced(k: int) -> np.ndarray:
    p = np.arange(k, 0, -1, dtype=float)
    return p / p.sum()


@pytest.fixture(scope="module")
def metric():
    import os

    old = os.getcwd()
    os.chdir(REPO)
    try:
        yield evaluate.load("metrics/synthetic_benefit")
    finally:
        os.chdir(old)


def _verdicts(res: dict) -> tuple[str, dict[str, str]]:
    return res["overall"]["verdict"], {k: v["verdict"] for k, v in res["per_stratum"].items()}


def _run(api, labels, synthetic, k, **kw) -> dict:
    if api == "library":
        return synthetic_benefit(labels, np.asarray(synthetic), k, **FAST, **kw).to_dict()
    return api.compute(human_labels=labels, synthetic=np.asarray(synthetic).tolist(), n_classes=k, **FAST, **kw)


WORLDS = [  # (n_classes, raters, seed, balanced)
    (4, (3, 7), 0, True),
    (8, (3, 7), 1, False),
    (4, (3, 3), 2, False),
    (8, (5, 7), 3, True),
]
MERGES = [{"merge": "weighted"}, {"merge": "concat", "synthetic_weight": 8}, {"merge": "adaptive"}]


@pytest.mark.parametrize("world", WORLDS, ids=lambda w: f"K{w[0]}-r{w[1][0]}{w[1][1]}-s{w[2]}")
def test_known_answers_across_worlds(world):
    k, raters, seed, balanced = world
    truth, labels, rng = _world(450, k, raters, seed, None if balanced else _imbalanced(k))
    target = {"smoothing_target": "uniform" if balanced else "marginal"}
    unrelated = rng.dirichlet(np.ones(k), len(truth))
    shuffled = truth[rng.permutation(len(truth))]
    for m in MERGES:
        overall, strata = _verdicts(_run("library", labels, truth, k, seed=seed, **m))
        assert overall == "helps" and "hurts" not in strata.values(), (m, overall, strata)
        overall, strata = _verdicts(_run("library", labels, unrelated, k, seed=seed, **m, **target))
        assert "helps" not in (overall, *strata.values()), (m, overall, strata)
        if m["merge"] == "concat":
            assert overall == "hurts"
        overall, strata = _verdicts(_run("library", labels, shuffled, k, seed=seed, **m, **target))
        assert "helps" not in (overall, *strata.values()), (m, overall, strata)
    if balanced:
        res = _run("library", labels, np.full((len(truth), k), 1.0 / k), k, seed=seed, smoothing_target="uniform")
        assert res["overall"]["mean_difference"] == 0.0
        assert {res["overall"]["verdict"], *_verdicts(res)[1].values()} <= {"no detectable difference",
                                                                           "too few items"}


def test_known_answers_through_evaluate_and_the_split_half_design(metric):
    truth, labels, rng = _world(450, 4, (4, 7), 5)
    for api, design in ((metric, "leave_one_out"), ("library", "leave_one_out"), ("library", "split_half")):
        kw = {"design": design, "seed": 1}
        overall, strata = _verdicts(_run(api, labels, truth, 4, **kw))
        assert overall == "helps" and "hurts" not in strata.values()
        unrelated = rng.dirichlet(np.ones(4), len(truth))
        res = _run(api, labels, unrelated, 4, merge="concat", synthetic_weight=8, smoothing_target="uniform",
                   **kw)
        assert res["overall"]["verdict"] == "hurts" and "helps" not in _verdicts(res)[1].values()
        res = _run(api, labels, truth[rng.permutation(len(truth))], 4, smoothing_target="uniform", **kw)
        assert "helps" not in (res["overall"]["verdict"], *_verdicts(res)[1].values())
        res = _run(api, labels, np.full((len(truth), 4), 0.25), 4, smoothing_target="uniform", **kw)
        assert res["overall"]["mean_difference"] == 0.0
        assert res["overall"]["verdict"] == "no detectable difference"


def test_the_old_paradoxes_are_gone():
    """The issue's two failures of the old test on 3-rater data: synthetic labels from the *true* distribution came
    out "significantly harmful" at low ambiguity, and 8 uniformly random labels "helpful" at high ambiguity."""
    truth, labels, rng = _world(600, 4, (3, 3), 7)
    true_votes = np.stack([rng.multinomial(8, p) for p in truth]) / 8.0
    res = synthetic_benefit(labels, true_votes, 4, merge="concat", synthetic_weight=8, **FAST)
    assert res.per_stratum["low"].verdict != "hurts" and res.overall.verdict == "helps"
    random_votes = rng.multinomial(8, np.full(4, 0.25), size=len(truth)) / 8.0
    res = synthetic_benefit(labels, random_votes, 4, merge="concat", synthetic_weight=8, **FAST)
    assert "helps" not in {res.overall.verdict, *(g.verdict for g in res.per_stratum.values())}


def test_a_synthetic_source_with_only_the_class_prior_moves_the_score_by_at_most_its_estimation_error():
    truth, labels, _ = _world(600, 4, (3, 7), 8)
    res = synthetic_benefit(labels, np.full((600, 4), 0.25), 4, **FAST)  # marginal target, estimated
    assert abs(res.overall.mean_difference) < 2e-4


def test_results_do_not_depend_on_annotator_order():
    truth, labels, rng = _world(200, 4, (4, 6), 9)
    shuffled = [rng.permutation(row).tolist() for row in labels]
    for design in ("leave_one_out", "split_half"):
        a = synthetic_benefit(labels, truth, 4, design=design, min_items=10, **FAST).to_dict()
        b = synthetic_benefit(shuffled, truth, 4, design=design, min_items=10, **FAST).to_dict()
        assert a == b


def test_same_seed_same_result_and_json_safe_output():
    truth, labels, _ = _world(150, 4, (3, 5), 10)
    a = synthetic_benefit(labels, truth, 4, margin=0.01, min_items=10, **FAST)
    assert a.to_dict() == synthetic_benefit(labels, truth, 4, margin=0.01, min_items=10, **FAST).to_dict()
    text = json.dumps(a.to_dict(), allow_nan=False)
    assert '"verdict"' in text and a.overall.non_inferiority is not None
    assert a.overall.non_inferiority.verdict == "non-inferior"
    assert "overall: helps" in a.summary()


def test_cross_fitting_never_uses_the_scored_fold():
    """Changing only the labels of the items in one fold leaves every parameter used on that fold unchanged."""
    truth, labels, rng = _world(300, 4, (3, 6), 11)
    n_folds = 5
    fold = np.random.default_rng(0).spawn(4)[0].permutation(300) % n_folds  # the function's own fold draw
    changed = [rng.integers(0, 4, len(row)).tolist() if fold[i] == 2 else row for i, row in enumerate(labels)]
    for merge in ({"merge": "weighted"}, {"merge": "adaptive"}):
        a = synthetic_benefit(labels, truth, 4, seed=0, n_folds=n_folds, **merge, **FAST)
        b = synthetic_benefit(changed, truth, 4, seed=0, n_folds=n_folds, **merge, **FAST)
        fa = [f for f in a.fits if f["fold"] == 2]
        fb = [f for f in b.fits if f["fold"] == 2]
        assert fa == fb and fa
        assert all(f["n_items_used"] <= 240 for f in fa)
        others = [f for f in a.fits if f["fold"] != 2]
        assert others != [f for f in b.fits if f["fold"] != 2]  # the other folds did see the change


def test_fit_merge_uses_only_the_rows_it_is_given():
    """What the pipeline fits on the training split is unchanged by any change to the test split's labels."""
    import datasets

    truth, labels, rng = _world(400, 4, (3, 7), 12)
    ds = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"human_labels": labels[:300], "synthetic": truth[:300].tolist()}),
        "test": datasets.Dataset.from_dict({"human_labels": labels[300:], "synthetic": truth[300:].tolist()}),
    })
    flipped = ds["test"].map(lambda row: {"human_labels": [(x + 1) % 4 for x in row["human_labels"]]})
    for merge in ("smoothing", "weighted", "adaptive"):
        syn = None if merge == "smoothing" else ds["train"]["synthetic"]
        before = fit_merge(ds["train"]["human_labels"], syn, 4, merge=merge)
        after = fit_merge(datasets.DatasetDict({"train": ds["train"], "test": flipped})["train"]["human_labels"], syn,
                          4, merge=merge)
        assert before == after and before.n_items_used == 300
        pred = before.predict(labels_to_votes(ds["test"]["human_labels"], 4), ds["test"]["synthetic"])
        np.testing.assert_allclose(pred.sum(axis=1), 1.0)
    good = fit_merge(labels, truth, 4, merge="weighted")
    assert good.synthetic_weight > 1.0 and json.dumps(good.to_dict())
    assert fit_merge(labels, rng.dirichlet(np.ones(4), 400), 4, merge="weighted").synthetic_weight < 0.5


def _loop_reference(labels, synthetic, k, res, score="brier"):
    """Independent per-item, per-held-out-label loop with the fitted parameters of ``res`` (weighted merge)."""
    fold = np.random.default_rng(res.settings["seed"]).spawn(4)[0].permutation(len(labels)) % res.settings["n_folds"]
    params = {(f["fold"], f["stratum"]): f for f in res.fits if f["score"] == score}
    num = {g: 0.0 for g in ("overall", "low", "medium", "high")}
    den = dict.fromkeys(num, 0.0)
    for i, row in enumerate(labels):
        for j, held in enumerate(row):
            rest = np.bincount(np.delete(np.asarray(row), j), minlength=k).astype(float)
            p_rest = rest / rest.sum()
            ent = -sum(x * np.log(x) for x in p_rest if x > 0) / np.log(k)
            level = "low" if ent <= 0.33 else ("medium" if ent <= 0.66 else "high")
            fit = params[(int(fold[i]), level)]
            pi = np.asarray(fit["smoothing_target"])
            base = (rest + fit["baseline_pseudo_count"] * pi) / (rest.sum() + fit["baseline_pseudo_count"])
            lam, beta = fit["candidate_synthetic_weight"], fit["candidate_pseudo_count"]
            cand = (rest + lam * synthetic[i] + beta * pi) / (rest.sum() + lam + beta)
            rule = brier_score if score == "brier" else log_loss
            d = rule(cand[None], [held])[0] - rule(base[None], [held])[0]
            for g in ("overall", level):
                num[g] += d / len(row)
                den[g] += 1.0 / len(row)
    return {g: num[g] / den[g] for g in num if den[g] > 0}


@pytest.mark.parametrize("score", ["brier", "log_loss"])
def test_vectorised_scores_equal_an_independent_loop(score):
    truth, labels, rng = _world(200, 4, (3, 6), 13)
    syn = 0.6 * truth + 0.4 * rng.dirichlet(np.ones(4), 200)
    res = synthetic_benefit(labels, syn, 4, primary=score, min_items=10, **FAST)
    want = _loop_reference(labels, syn, 4, res, score)
    assert res.overall.scores[score].mean_difference == pytest.approx(want["overall"], rel=1e-9, abs=1e-12)
    for level, g in res.per_stratum.items():
        assert g.scores[score].mean_difference == pytest.approx(want[level], rel=1e-9, abs=1e-12)
    # the strata decompose the overall mean (pair weights 1/n_i)
    w = {lv: g.n_pairs for lv, g in res.per_stratum.items()}
    assert sum(w.values()) == res.overall.n_pairs == sum(len(r) for r in labels)


def test_closed_form_brier_objective_equals_the_direct_mean():
    truth, labels, rng = _world(120, 5, (3, 6), 14)
    h = labels_to_votes(labels, 5)
    sc = sbm._loo_scenarios(h)
    s = rng.dirichlet(np.ones(5), 120)[sc.item]
    pi = np.array([0.3, 0.2, 0.2, 0.2, 0.1])
    train = sbm._Training(sc.rest, sc.m, sc.target, s, sc.weight, pi)
    for lam, beta in ((0.0, 0.7), (2.5, 0.1), (13.0, 4.0)):
        q = sbm._forecast(sc.rest, sc.m, s, np.full(len(sc.m), lam), np.full(len(sc.m), beta), pi)
        direct = (brier_score(q, sc.target) * sc.weight).sum() / sc.weight.sum()
        assert float(train.brier(lam, beta)) == pytest.approx(direct, rel=1e-12)
        ll = (log_loss(q, sc.target) * sc.weight).sum() / sc.weight.sum()
        assert train.log_loss(lam, beta) == pytest.approx(ll, rel=1e-12)
        if lam > 0:
            v, g, _ = train.log_loss_newton_terms(np.log([lam, beta]))
            eps = 1e-6
            num = [(train.log_loss(lam * np.exp(eps), beta) - train.log_loss(lam * np.exp(-eps), beta)) / (2 * eps),
                   (train.log_loss(lam, beta * np.exp(eps)) - train.log_loss(lam, beta * np.exp(-eps))) / (2 * eps)]
            np.testing.assert_allclose(g, num, rtol=1e-5)


def test_holm_equals_statsmodels():
    p = [0.01, 0.04, None, 0.03, 0.5]
    got = sbm._holm(p)
    want = multipletests([0.01, 0.04, 0.03, 0.5], method="holm")[1]
    assert got[2] is None
    np.testing.assert_allclose([got[i] for i in (0, 1, 3, 4)], want)


def test_skipped_items_are_counted_and_strata_can_be_switched():
    truth, labels, _ = _world(120, 4, (3, 5), 15)
    labels = labels + [[1]] * 5 + [[0, 1, 2]] * 3
    syn = np.vstack([truth, np.full((5, 4), 0.25), np.zeros((3, 4))])
    res = synthetic_benefit(labels, syn, 4, strata="none", min_items=10, **FAST)
    st = res.settings
    assert (st["n_items_input"], st["n_items_used"], st["n_items_skipped_too_few_labels"],
            st["n_items_skipped_no_synthetic"]) == (128, 120, 5, 3)
    assert list(res.per_stratum) == ["all"]
    ref = synthetic_benefit(labels, syn, 4, strata="reference", min_items=10, **FAST)
    assert set(ref.per_stratum) == {"low", "medium", "high"}
    few = synthetic_benefit(labels, syn, 4, min_items=100, **FAST)
    assert few.per_stratum["high"].verdict == "too few items" and few.per_stratum["high"].confidence_interval is None


@pytest.mark.parametrize("kwargs, match", [
    ({"human_labels": [[0, 1], [0, 4]]}, r"human_labels row 1: label 4 is not a class index in \[0, 3\]"),
    ({"human_labels": [[0, 1], [0, 1.5]]}, r"human_labels row 1: label 1.5 is not a whole number"),
    ({"human_labels": [[0, 1], 3]}, r"human_labels row 1 must be a list of class indices"),
    ({"human_labels": [[0, 1], ["sad"]]}, r"human_labels row 1: labels must be class indices \(integers\)"),
    ({"synthetic": [[0.25] * 4, [0.5, 0.5]]}, r"synthetic row 1 has 2 entries but n_classes is 4"),
    ({"synthetic": [[0.25] * 4, [0.5, 0.6, 0, 0]]}, r"synthetic row 1 does not sum to 1"),
    ({"synthetic": [[0.25] * 4, [1.5, -0.5, 0, 0]]}, r"synthetic row 1 has a negative entry"),
    ({"synthetic": [[0.25] * 4, [np.nan, 1, 0, 0]]}, r"synthetic row 1 contains NaN"),
    ({"synthetic": [[0.25] * 4]}, r"synthetic has 1 rows but human_labels has 2"),
    ({"merge": "concat"}, r"merge='concat' needs synthetic_weight > 0"),
    ({"synthetic_weight": 8}, r"synthetic_weight is only used by merge='concat'"),
    ({"design": "halves"}, r"design must be one of \['leave_one_out', 'split_half'\], got 'halves'"),
    ({"primary": "js"}, r"primary must be one of \['brier', 'log_loss'\]"),
    ({"alpha": 0.7}, r"alpha must be a number in \(0, 0.5\)"),
    ({"margin": -0.1}, r"margin must be None or a number >= 0"),
    ({"n_resamples": 10}, r"n_resamples must be an integer >= 100"),
    ({"cuts": (0.7, 0.3)}, r"cuts must be two numbers 0 <= low < high <= 1"),
    ({}, r"only 2 items have >= 2 human labels and a synthetic distribution; the test needs at least 20"),
])
def test_bad_input_names_the_row_and_the_fix(kwargs, match):
    args = {"human_labels": [[0, 1], [0, 1]], "synthetic": [[0.25] * 4, [0.25] * 4], "n_classes": 4} | kwargs
    labels, syn, k = args.pop("human_labels"), args.pop("synthetic"), args.pop("n_classes")
    with pytest.raises(ValueError, match=match):
        synthetic_benefit(labels, syn, k, **args)


def test_module_errors_and_batches(metric):
    truth, labels, _ = _world(120, 4, (3, 5), 16)
    for s in range(0, 120, 50):
        metric.add_batch(human_labels=labels[s:s + 50], synthetic=truth[s:s + 50].tolist())
    batched = metric.compute(n_resamples=300, min_items=10)
    direct = synthetic_benefit(labels, truth, 4, n_resamples=300, min_items=10).to_dict()
    assert {k: v for k, v in batched.items() if k in direct} == direct   # the detail, beside the flat overall scalars
    assert batched["verdict"] == direct["overall"]["verdict"] and batched["n_items"] == direct["overall"]["n_items"]
    with pytest.raises(ValueError, match=r"human_labels row 1: label 7 is not a class index"):
        metric.compute(human_labels=[[0, 1], [7, 1]], synthetic=[[0.5, 0.5], [0.5, 0.5]])
    order = np.random.default_rng(0)
    shuffled = [order.permutation(row).tolist() for row in labels]  # annotator order must not matter
    assert metric.compute(human_labels=shuffled, synthetic=truth.tolist(), n_resamples=300, min_items=10) == batched
    missing = truth.tolist()
    missing[3], missing[5] = None, []  # no parsable synthetic answer: skipped and counted
    res = metric.compute(human_labels=labels, synthetic=missing, n_classes=4, n_resamples=200, min_items=10)
    assert res["settings"]["n_items_skipped_no_synthetic"] == 2 and res["overall"]["n_items"] == 118


def test_inputs_are_not_modified():
    truth, labels, _ = _world(100, 4, (3, 5), 17)
    syn = truth * (1 + 1e-9)  # sums to 1 within atol, renormalised internally
    before, labels_before = syn.copy(), [list(r) for r in labels]
    synthetic_benefit(labels, syn, 4, min_items=10, **FAST)
    np.testing.assert_array_equal(syn, before)
    assert labels == labels_before
