"""Votes from raw answers, the two ambiguity definitions and the majority rule, checked by hand and against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from hf_ambiguity.distributions import (
    fixed_levels,
    majority,
    normalized_entropy,
    reference_label_entropy,
    tercile_levels,
    votes_from_answers,
)
from hf_ambiguity.labels import UnknownLabelError, get_class_set


class TestVotesFromAnswers:
    def test_fractional_splits_each_annotator_over_every_label_named(self):
        votes, kept, dropped = votes_from_answers(
            [["Frustration", "Anger"], ["Anger", "Sadness", "Neutral state"], ["Excited"], []], "iemocap-4")
        # order: neutral, happy, angry, sad
        assert votes.tolist() == pytest.approx([1 / 3, 1.0, 0.5 + 1 / 3, 1 / 3])
        assert kept == ["angry", "angry", "sad", "neutral", "happy"]
        assert dropped == ["Frustration"]

    def test_whole_counts_every_label_once(self):
        votes, kept, dropped = votes_from_answers(
            [["Frustration", "Anger"], ["Anger", "Sadness"], ["Other"]], "iemocap-full", multi_label="whole")
        cs = get_class_set("iemocap-full")
        expected = np.zeros(cs.num_classes)
        expected[cs.index("angry")] = 2
        expected[cs.index("sad")] = 1
        expected[cs.index("frustrated")] = 1
        assert votes.tolist() == expected.tolist()
        assert dropped == ["Other"]

    def test_paper_4class_drops_excited_but_iemocap_4_merges_it(self):
        answers = [["Excited"], ["Happiness"], ["Excited"]]
        assert votes_from_answers(answers, "iemocap-4")[0].tolist() == [0, 3, 0, 0]
        v, kept, dropped = votes_from_answers(answers, "paper-4class")
        assert v.tolist() == [0, 1, 0, 0] and dropped == ["Excited", "Excited"]

    def test_all_out_of_set_gives_zero_votes_not_nan(self):
        v, kept, dropped = votes_from_answers([["Other"], ["Frustration"], ["xxx"]], "iemocap-4")
        assert v.tolist() == [0, 0, 0, 0] and kept == [] and len(dropped) == 3

    def test_unknown_spelling_raises_and_bad_mode_is_named(self):
        with pytest.raises(UnknownLabelError, match="'Angr'"):
            votes_from_answers([["Angr"]], "iemocap-4")
        with pytest.raises(ValueError, match="multi_label must be one of .*'partial'"):
            votes_from_answers([["Anger"]], "iemocap-4", multi_label="partial")

    def test_msp_other_free_text(self):
        v, kept, dropped = votes_from_answers([["Happy"], ["Other-playful"], ["N"]], "msp-8")
        assert v.tolist() == [0, 0, 1, 0, 0, 0, 0, 1] and dropped == ["Other-playful"]


class TestReferenceEntropy:
    @pytest.mark.parametrize("labels", [
        ["angry", "angry", "sad"],
        ["happy", "neutral", "neutral", "neutral", "sad", "sad"],
        ["a", "b", "c", "d", "a"],
    ])
    def test_matches_scipy_over_log_distinct(self, labels):
        _, counts = np.unique(labels, return_counts=True)
        expected = scipy_entropy(counts) / np.log(len(counts))
        assert reference_label_entropy(labels) == pytest.approx(expected, abs=1e-12)

    def test_hand_values(self):
        assert reference_label_entropy(["sad"] * 5) == 0.0
        assert reference_label_entropy(["sad", "happy"]) == pytest.approx(1.0)
        # 2-1 split: -(2/3 ln 2/3 + 1/3 ln 1/3) / ln 2
        assert reference_label_entropy(["x", "x", "y"]) == pytest.approx(0.9182958340544896)

    def test_differs_from_class_count_normalisation(self):
        # equal split over 2 of 4 classes: 1.0 by the reference definition, 0.5 by log(n_classes)
        assert reference_label_entropy(["sad", "happy"]) == pytest.approx(1.0)
        assert float(normalized_entropy(np.array([0.5, 0.5, 0, 0]))) == pytest.approx(0.5)

    def test_empty_is_an_error(self):
        with pytest.raises(ValueError, match="at least one label"):
            reference_label_entropy([])


class TestTerciles:
    def test_distinct_values_give_equal_sizes(self):
        rng = np.random.default_rng(0)
        v = rng.random(30)
        levels = np.array(tercile_levels(v))
        assert [int((levels == lv).sum()) for lv in ("low", "medium", "high")] == [10, 10, 10]
        order = np.argsort(v)
        assert set(levels[order[:10]]) == {"low"} and set(levels[order[20:]]) == {"high"}

    def test_ties_stay_together_and_do_not_depend_on_order(self):
        v = [0.0, 0.92, 0.0, 1.0, 0.0, 0.92, 0.0, 0.5, 1.0]
        levels = tercile_levels(v)
        assert levels == ["low", "medium", "low", "high", "low", "medium", "low", "medium", "high"]
        perm = np.random.default_rng(1).permutation(len(v))
        assert [levels[i] for i in perm] == tercile_levels([v[i] for i in perm])

    def test_rank_ties_give_exact_sizes(self):
        levels = tercile_levels([0.0] * 7 + [0.5, 1.0], ties="rank")
        assert [levels.count(x) for x in ("low", "medium", "high")] == [3, 3, 3]

    def test_bad_input(self):
        with pytest.raises(ValueError, match="ties must be one of"):
            tercile_levels([0.1], ties="random")
        with pytest.raises(ValueError, match=r"values\[1\] is nan"):
            tercile_levels([0.1, float("nan")])
        assert tercile_levels([]) == []


class TestFixedLevelsAndMajority:
    def test_fixed_cut_points_are_inclusive_upper_bounds(self):
        assert fixed_levels([0.0, 0.2, 0.2001, 0.7, 0.71], cuts=(0.2, 0.7)) == [
            "low", "low", "medium", "medium", "high"]
        with pytest.raises(ValueError, match="0 <= low < high <= 1"):
            fixed_levels([0.1], cuts=(0.7, 0.2))

    def test_majority_ties_pick_first_class_without_strict_majority(self):
        idx, strict = majority(np.array([[0, 2, 2, 0], [3, 1, 0, 0], [1.5, 1.5, 0, 0], [0.5, 0, 0, 0.6]]))
        assert idx.tolist() == [1, 0, 0, 3]
        assert strict.tolist() == [False, True, False, True]

    def test_plurality_is_not_a_strict_majority(self):
        idx, strict = majority(np.array([2.0, 1.0, 1.0, 1.0]))
        assert int(idx) == 0 and not bool(strict)
