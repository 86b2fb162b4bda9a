"""Saturation analysis: curve fit, saturation point, subset means vs brute force, plot."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from hf_ambiguity.analysis.saturation import exp_curve, fit_saturation_curve, plot_saturation, saturation_analysis


@pytest.mark.parametrize("a,b,c", [(0.1, 0.5, 0.4), (0.9, -0.35, 0.7), (0.3, 0.2, 0.25)])
def test_fit_recovers_parameters_for_decreasing_and_increasing_curves(a: float, b: float, c: float) -> None:
    n = np.arange(1, 13)
    fit = fit_saturation_curve(n, exp_curve(n, a, b, c))
    assert fit.fit_ok and (fit.a, fit.b, fit.c) == pytest.approx((a, b, c), rel=1e-5)
    assert fit.saturation_n_asymptote == math.ceil(1 + math.log(10) / c)
    f = exp_curve(n, a, b, c)
    within = np.abs(f - f[-1]) <= 0.1 * abs(f[0] - f[-1])
    assert fit.saturation_n == int(n[np.argmax(within)])


def test_fit_falls_back_to_the_mean_curve() -> None:
    flat = fit_saturation_curve([1, 2, 3, 4], [0.2, 0.2, 0.2, 0.2])
    assert not flat.fit_ok and "flat" in flat.message and flat.saturation_n == 1
    two = fit_saturation_curve([1, 2], [0.5, 0.3])
    assert not two.fit_ok and two.saturation_n == 2
    with pytest.raises(ValueError, match=r"same length"):
        fit_saturation_curve([1, 2, 3], [0.5, 0.3])


def _synthetic_annotators(n: int, k: int, n_ann: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    human = rng.dirichlet(np.full(k, 0.7), n)
    belief = 0.7 * human + 0.3 * rng.dirichlet(np.ones(k), n)
    labels = np.stack([(belief.cumsum(1) > rng.random((n, 1))).argmax(1) for _ in range(n_ann)], axis=1)
    return human, labels


def test_means_equal_brute_force_and_the_curve_saturates() -> None:
    human, labels = _synthetic_annotators(300, 4, 6, 0)
    labels[:10, :] = -1  # no valid synthetic answer at all: skipped for every subset
    res = saturation_analysis(human, labels, n_subsets=1000)  # small pool: every subset is enumerated
    assert res.n_values == (1, 2, 3, 4, 5, 6)
    assert res.n_subsets == tuple(math.comb(6, s) for s in range(1, 7))
    # N = 6: one subset (all annotators), brute force with scipy
    votes = np.stack([np.bincount(row[row >= 0], minlength=4) for row in labels[10:]])
    dist = votes / votes.sum(1, keepdims=True)
    want_js = np.mean([jensenshannon(d, h, base=2) ** 2 for d, h in zip(dist, human[10:])])
    want_bc = np.mean(np.sqrt(dist * human[10:]).sum(1))
    assert res.js_mean[-1] == pytest.approx(want_js) and res.bc_mean[-1] == pytest.approx(want_bc)
    assert res.js_sd[-1] == 0.0 and res.n_items_skipped[-1] == 10
    # N = 1: average over the six single annotators
    singles = [np.mean([jensenshannon(np.eye(4)[lab], h, base=2) ** 2 for lab, h in zip(labels[10:, j], human[10:])])
               for j in range(6)]
    assert res.js_mean[0] == pytest.approx(np.mean(singles))
    assert all(np.diff(res.js_mean) < 0) and all(np.diff(res.bc_mean) > 0)
    assert res.js_fit.fit_ok and res.js_fit.b > 0 and res.bc_fit.b < 0
    assert 1 <= res.js_fit.saturation_n <= 6


def test_random_subsets_are_seeded_and_distinct() -> None:
    human, labels = _synthetic_annotators(100, 4, 10, 1)
    a = saturation_analysis(human, labels, n_subsets=5, seed=3, n_max=4)
    b = saturation_analysis(human, labels, n_subsets=5, seed=3, n_max=4)
    c = saturation_analysis(human, labels, n_subsets=5, seed=4, n_max=4)
    assert a == b and a.js_mean[1:] != c.js_mean[1:]
    assert a.n_subsets == (5, 5, 5, 5) and len(a.js_mean) == 4


def test_plot_writes_a_png(tmp_path) -> None:
    human, labels = _synthetic_annotators(80, 4, 6, 2)
    res = saturation_analysis(human, labels, n_subsets=4)
    out = plot_saturation(res, tmp_path / "plots" / "saturation.png", title="demo")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"synthetic_labels": [[0, 1], [1, 4]]}, r"synthetic_labels row 1 has a value outside -1..3"),
        ({"synthetic_labels": [[0, 1]]}, r"synthetic_labels must be \(n_items=2, n_annotators\)"),
        ({"synthetic_labels": [[0, 1], [1, 0]], "n_max": 3}, r"n_max must be between 1 and the number of annotators"),
        ({"synthetic_labels": [[0, 1], [1, 0]], "n_subsets": 0}, r"n_subsets must be >= 1"),
        ({"synthetic_labels": [[-1, -1], [-1, -1]]}, r"no item has a valid synthetic label in any subset of size 1"),
        ({"human_dist": [[0.5, 0.6, 0, 0], [1, 0, 0, 0]], "synthetic_labels": [[0], [1]]},
         r"human_dist row 0 does not sum to 1"),
    ],
)
def test_bad_input(kwargs, match) -> None:
    args = {"human_dist": [[0.5, 0.5, 0, 0], [1, 0, 0, 0]], **kwargs}
    with pytest.raises(ValueError, match=match):
        saturation_analysis(**args)


def test_from_dataset_reads_the_parsed_labels_in_annotator_order() -> None:
    from datasets import ClassLabel, Dataset, Features, List, Value

    classes = ["neutral", "happy", "angry", "sad"]
    human, labels = _synthetic_annotators(40, 4, 5, 3)
    labels[0, 1] = -1
    parsed = [[classes[x] if x >= 0 else None for x in row] for row in labels]   # what the annotation parsed
    features = Features({"majority_label": ClassLabel(names=classes), "human_dist": List(Value("float64")),
                         "synthetic_annotator_labels": List(Value("string"))})
    ds = Dataset.from_dict({"majority_label": human.argmax(1).tolist(), "human_dist": human.tolist(),
                            "synthetic_annotator_labels": parsed}, features=features)
    from hf_ambiguity.analysis.saturation import saturation_from_dataset, synthetic_label_matrix

    assert (synthetic_label_matrix(ds) == labels).all()
    assert saturation_from_dataset(ds, n_subsets=3) == saturation_analysis(human, labels, n_subsets=3)
    with pytest.raises(ValueError, match=r"no column 'gpt_annotator_labels'"):
        synthetic_label_matrix(ds, "gpt")
    empty = ds.map(lambda _: {"synthetic_annotator_labels": []})
    with pytest.raises(ValueError, match=r"needs sample-mode annotations"):
        synthetic_label_matrix(empty)


@pytest.mark.parametrize("c", [0.4812, 0.2458])  # the decay rates behind the published ~6 (IEMOCAP), ~10 (MSP)
def test_reference_rule_reads_90_percent_of_the_flipped_asymptote_on_a_100_point_grid(c: float) -> None:
    n = np.arange(1, 21)
    y = 0.36 + 0.1 * np.exp(-c * n)  # JS: lower is better
    fit = fit_saturation_curve(n, y, rule="reference", lower_is_better=True)
    grid = np.linspace(1, 20, 100)
    # flipped max(y) − y = a_r − b·e^(−cN) with a_r = 0.1·e^(−c); 90 % of a_r is reached at N = 1 + ln(10)/c
    want_x = grid[grid >= 1 + math.log(10) / c - 1e-9][0]
    assert fit.rule == "reference" and fit.saturation_x == pytest.approx(want_x)
    assert fit.saturation_n == round(want_x) and fit.saturation_n == (6 if c > 0.3 else 10)
    assert fit.threshold == pytest.approx(y.max() - 0.9 * 0.1 * math.exp(-c))
    assert (fit.a, fit.b, fit.c) == pytest.approx((0.36 + 0.1 * math.exp(-c) - 0.1 * math.exp(-c), 0.1, c), rel=1e-4)
    # higher is better (BC): the fit itself reaches 95 % of its asymptote
    bc = fit_saturation_curve(n, 0.8 - 0.3 * np.exp(-c * n), rule="reference", lower_is_better=False)
    assert bc.saturation_x == pytest.approx(grid[0.8 - 0.3 * np.exp(-c * grid) >= 0.95 * 0.8][0])
    assert bc.threshold == pytest.approx(0.95 * 0.8)


def test_reference_rule_without_a_crossing_gives_no_saturation_point() -> None:
    n = np.arange(1, 6)
    fit = fit_saturation_curve(n, 0.3 + 0.2 * np.exp(-0.05 * n), rule="reference")  # far from its asymptote at 5
    assert fit.fit_ok and fit.saturation_n is None and "never reaches 90%" in fit.message
    with pytest.raises(ValueError, match=r"rule must be one of \['project', 'reference'\]"):
        fit_saturation_curve(n, n, rule="paper")


def test_reference_procedure_draws_a_subset_per_item_with_pythons_random_and_seeds_42_on() -> None:
    import random

    human, labels = _synthetic_annotators(120, 4, 8, 4)
    labels[0, :] = -1  # no valid label: skipped
    labels[1, 3:] = -1  # 3 valid labels: every N >= 3 uses all three
    res = saturation_analysis(human, labels, procedure="reference")
    assert res.procedure == "reference" and res.seed == 42 and res.n_subsets == (5,) * 8
    assert res.n_items_skipped == (1,) * 8
    # N = 8: every item uses all its valid labels in every run: no spread over runs, brute force with scipy
    full = [np.bincount(row[row >= 0], minlength=4) for row in labels[1:]]
    want = np.mean([jensenshannon(v / v.sum(), h, base=2) ** 2 for v, h in zip(full, human[1:])])
    assert res.js_mean[-1] == pytest.approx(want) and res.js_sd[-1] == pytest.approx(0.0, abs=1e-15)
    # one item, N = 2: run r draws random.sample(valid labels, 2) from Python's random seeded 42 + r
    valid = labels[1, :3].tolist()
    runs = [np.bincount(random.Random(42 + r).sample(valid, 2), minlength=4) / 2 for r in range(2)]
    one = saturation_analysis(human[1:2], labels[1:2], procedure="reference", n_max=2, n_runs=2)
    assert one.js_mean[1] == pytest.approx(np.mean([jensenshannon(d, human[1], base=2) ** 2 for d in runs]))
    # deterministic; another base seed changes the draws
    assert saturation_analysis(human, labels, procedure="reference", n_max=3) == \
        saturation_analysis(human, labels, procedure="reference", n_max=3, seed=42)
    assert saturation_analysis(human, labels, procedure="reference", n_max=3, seed=7).js_mean[1] != res.js_mean[1]
    assert res.js_fit.rule == "reference" and res.js_mean[0] > res.js_mean[-1]
    with pytest.raises(ValueError, match=r"saturation procedure must be one of"):
        saturation_analysis(human, labels, procedure="paper")
    with pytest.raises(ValueError, match=r"n_runs must be >= 2"):
        saturation_analysis(human, labels, procedure="reference", n_runs=1)
