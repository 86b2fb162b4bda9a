"""Ambiguity levels as the reference bins them: equal thirds by rank of the *evaluated* (test) set."""

from __future__ import annotations

import numpy as np
import pytest

from hf_ambiguity.distributions import AmbiguityDefinition, evaluation_levels, reference_label_entropy, tercile_levels


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 874, 875, 823])
def test_reference_bins_are_n_div_3_with_the_remainder_high(n: int) -> None:
    levels = tercile_levels(np.random.default_rng(n).random(n), ties="reference")
    sizes = [levels.count(x) for x in ("low", "medium", "high")]
    assert sizes == [n // 3, n // 3, n - 2 * (n // 3)]


def test_reference_and_rank_bins_differ_on_the_published_test_sizes() -> None:
    """875 IEMOCAP test items: the reference's 291 / 291 / 293, not ceil-based 292 / 292 / 291."""
    values = np.random.default_rng(0).random(875)
    ref = tercile_levels(values, ties="reference")
    rank = tercile_levels(values, ties="rank")
    assert [ref.count(x) for x in ("low", "medium", "high")] == [291, 291, 293]
    assert [rank.count(x) for x in ("low", "medium", "high")] == [292, 292, 291]


def test_reference_ties_are_split_by_row_order_like_a_stable_sort() -> None:
    # 3-rater label lists: many unanimous items (score 0) and 2-vs-1 splits (0.918...) tie at the cuts
    labels = [["a"] * 3, ["a", "a", "b"], ["b"] * 3, ["a", "b", "c"], ["c"] * 3, ["b", "b", "c"],
              ["a"] * 3, ["c", "c", "a"], ["b"] * 3]
    scores = [reference_label_entropy(x) for x in labels]
    got = tercile_levels(scores, ties="reference")
    ranked = sorted(range(len(scores)), key=lambda i: scores[i])  # Python's sort is stable: ties keep row order
    want = [""] * len(scores)
    for pos, i in enumerate(ranked):
        want[i] = "low" if pos < 3 else "medium" if pos < 6 else "high"
    assert got == want
    # five unanimous items (score 0) in rows 0, 2, 4, 6, 8: the first three are low, the last two medium
    assert [got[i] for i in (0, 2, 4, 6, 8)] == ["low", "low", "low", "medium", "medium"]


def test_levels_of_the_test_split_differ_from_levels_of_the_whole_corpus() -> None:
    """With 3 raters most items are unanimous or 2-vs-1: levels taken over the corpus are lopsided, and a test
    split's own terciles are not a subset of them."""
    rng = np.random.default_rng(1)
    votes = rng.integers(0, 4, size=(600, 3))
    scores = np.array([reference_label_entropy(list(map(str, row))) for row in votes])
    corpus = AmbiguityDefinition(ties="together").levels(scores)
    sizes = [corpus.count(x) for x in ("low", "medium", "high")]
    assert max(sizes) - min(sizes) > 100  # ties kept together: far from thirds
    test_rows = np.arange(0, 600, 5)
    definition = AmbiguityDefinition(ties="reference")
    test_levels = evaluation_levels(scores[test_rows].tolist(), definition)
    assert [test_levels.count(x) for x in ("low", "medium", "high")] == [40, 40, 40]
    assert test_levels != [corpus[i] for i in test_rows]
    assert "the test split" in definition.describe("the test split") and "n // 3" in definition.describe()


def test_evaluation_levels_refuses_missing_scores_and_fixed_levels_do_not_depend_on_the_subset() -> None:
    with pytest.raises(ValueError, match=r"entropy row 2 is missing"):
        evaluation_levels([0.1, 0.2, None], AmbiguityDefinition(ties="reference"))
    fixed = AmbiguityDefinition("fixed", cuts=(0.3, 0.6))
    assert evaluation_levels([0.1, 0.5, 0.9], fixed) == ["low", "medium", "high"]
    assert evaluation_levels([0.9, 0.1], fixed) == ["high", "low"]  # the same level in any subset
    with pytest.raises(ValueError, match=r"ties must be one of \['together', 'rank', 'reference'\]"):
        AmbiguityDefinition(ties="random")
    assert AmbiguityDefinition.from_options({"ambiguity_ties": "reference"}).ties == "reference"
