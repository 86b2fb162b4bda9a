"""DiME-Aug options that follow the authors' code: top-up rule, neighbour query, anchor transcript, text statistics,
tie order of the dominant emotion."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import CLASSES, make_dataset
from hf_ambiguity.augment import dime_aug
from hf_ambiguity.augment.dime import DIME_OPTIONS, REFERENCE_OPTIONS
from hf_ambiguity.augment.dime_features import (REFERENCE_MIN_SAMPLES, audio_features, reference_text_features,
                                                row_features, standardise, text_features)


def _new_rows(out):
    return [r for r in out.remove_columns(["audio"]).to_list() if r["augmented"]]


def test_reference_top_up_truncates_and_skips_absent_classes() -> None:
    ds = make_dataset([18, 4, 6, 0], seed=2)  # 0.3 x 18 = 5.4: ceil gives 6, the authors' int() gives 5
    _, ceil = dime_aug(ds, "human_dist", ratio=0.3, seed=0, progress=False)
    _, ref = dime_aug(ds, "human_dist", ratio=0.3, seed=0, progress=False, top_up="reference")
    assert ceil.target_count == 6 and ref.target_count == 5
    assert ceil.generated["happy"] == 2 and ref.generated["happy"] == 1
    assert ceil.generated["angry"] == 0 and ref.generated["angry"] == 0
    # the absent class: a counted shortfall under "ceil", nothing asked under the authors' rule
    assert ceil.shortfall["sad"] == 6 and ref.shortfall["sad"] == 0 and "sad" not in ref.shortfall_reasons
    assert ref.options["top_up"] == "reference" and ref.to_dict()["options"]["top_up"] == "reference"


def test_reference_neighbour_query_drops_the_first_hit_leaving_k_minus_1_neighbours() -> None:
    ds, waves = make_dataset([30, 12, 0, 0], seed=11, return_waves=True)
    labels = np.array(ds["majority_label"])
    raw = np.vstack([row_features(w, t) for w, t in zip(waves, ds["transcript"])])
    ids = ds["id"]

    def ranks(out):
        """Rank of j among i's class mates by distance (1 = nearest other), for every new row."""
        found = []
        for r in _new_rows(out):
            a, b = (ids.index(s) for s in r["aug_sources"])
            same = np.flatnonzero(labels == labels[a])
            x = standardise(raw[same]).values
            d = np.linalg.norm(x - x[list(same).index(a)], axis=1)
            order = [int(same[t]) for t in np.argsort(d, kind="stable") if same[t] != a]
            found.append(order.index(b) + 1)
        return found

    project, _ = dime_aug(ds, "human_dist", ratio=1.0, k=3, seed=1, progress=False)
    reference, _ = dime_aug(ds, "human_dist", ratio=1.0, k=3, seed=1, progress=False, neighbours="reference")
    assert set(ranks(project)) == {1, 2, 3}  # 18 draws among 3 neighbours each
    assert set(ranks(reference)) == {1, 2}   # the authors' query: 2 true neighbours for k = 3


def test_reference_neighbour_query_cannot_serve_a_two_source_group() -> None:
    ds = make_dataset([10, 2, 0, 0], seed=3)
    _, project = dime_aug(ds, "human_dist", ratio=1.0, progress=False)
    _, reference = dime_aug(ds, "human_dist", ratio=1.0, progress=False, neighbours="reference")
    assert project.generated["happy"] == 8 and project.shortfall["happy"] == 0
    assert reference.generated["happy"] == 0 and reference.shortfall["happy"] == 8
    assert "leaves no neighbour" in reference.shortfall_reasons["happy"]


def test_anchor_transcript_and_metadata_whatever_alpha() -> None:
    ds = make_dataset([12, 5, 0, 0], seed=4)
    src = {r["id"]: r for r in ds.remove_columns(["audio"]).to_list()}
    out, report = dime_aug(ds, "human_dist", ratio=1.0, seed=2, progress=False, transcript_from="anchor")
    rows = _new_rows(out)
    assert any(r["aug_alpha"] < 0.5 for r in rows) and any(r["aug_alpha"] >= 0.5 for r in rows)
    for r in rows:
        anchor, neighbour = (src[s] for s in r["aug_sources"])
        assert r["transcript"] == anchor["transcript"] and r["speaker"] == anchor["speaker"]
    alpha_rule, _ = dime_aug(ds, "human_dist", ratio=1.0, seed=2, progress=False)
    # same plan (the transcript rule does not change which pairs are drawn), different transcripts
    assert [r["aug_sources"] for r in _new_rows(alpha_rule)] == [r["aug_sources"] for r in rows]
    assert [r["transcript"] for r in _new_rows(alpha_rule)] != [r["transcript"] for r in rows]
    assert "transcript_from `anchor`" in report.to_markdown()


@pytest.mark.parametrize("text, expected", [
    (None, [0] * 10),
    ("   ", [0] * 10),
    # '"well. i know!"': 15 characters, words of 6, 1 and 6 characters, vowels e i o, consonants w l l k n w
    (" Well. I KNOW! ", [15, 3, 1, 0, 1, 0, 3 / 15, 6 / 15, 13 / 3, 0]),
    # '"hm, what?"': 11 characters, vowel a, consonants h m w h t
    ("Hm, what?", [11, 2, 0, 1, 0, 1, 1 / 11, 5 / 11, 5.0, 0]),
])
def test_reference_text_statistics(text, expected) -> None:
    np.testing.assert_allclose(reference_text_features(text), expected)


def test_reference_feature_style_pads_short_clips_to_half_a_second() -> None:
    y = np.sin(np.linspace(0, 300, 3000)).astype(np.float32)  # 0.19 s
    ref = row_features(y, "Oh!", style="reference")
    np.testing.assert_allclose(ref[:72], audio_features(np.pad(y, (0, REFERENCE_MIN_SAMPLES - y.size))))
    assert not np.allclose(ref[:72], row_features(y, "Oh!")[:72])  # project: one frame of padding
    np.testing.assert_allclose(ref[72:], reference_text_features("Oh!"))
    assert not np.allclose(text_features("Oh!"), reference_text_features("Oh!"))
    with pytest.raises(ValueError, match=r"features must be one of \['project', 'reference'\]"):
        row_features(y, None, style="paper")


def test_dominant_ties_alphabetical_groups_a_tied_target_as_the_reference_does() -> None:
    # classes (neutral, happy, angry, sad); row 0 ties neutral and angry: class order -> neutral, names -> angry
    ds = make_dataset([6, 3, 3, 0], seed=5, dist_override={0: [0.5, 0.0, 0.5, 0.0]})
    _, by_order = dime_aug(ds, "human_dist", ratio=1.0, progress=False)
    _, by_name = dime_aug(ds, "human_dist", ratio=1.0, progress=False, dominant_ties="alphabetical")
    assert (by_order.counts_before["neutral"], by_order.counts_before["angry"]) == (6, 3)
    assert (by_name.counts_before["neutral"], by_name.counts_before["angry"]) == (5, 4)


def test_all_reference_options_together_and_bad_values() -> None:
    assert set(REFERENCE_OPTIONS) == set(DIME_OPTIONS)
    assert all(REFERENCE_OPTIONS[k] in v and REFERENCE_OPTIONS[k] != v[0] for k, v in DIME_OPTIONS.items())
    ds = make_dataset([12, 4, 5, 3], seed=6)
    out, report = dime_aug(ds, "human_dist", ratio=0.5, seed=0, progress=False, **REFERENCE_OPTIONS)
    assert dict(report.options) == REFERENCE_OPTIONS and report.n_generated == 2 + 1 + 3
    assert len(out) == len(ds) + report.n_generated
    for name in DIME_OPTIONS:
        with pytest.raises(ValueError, match=rf"{name} must be one of"):
            dime_aug(ds, "human_dist", progress=False, **{name: "exact"})
    assert CLASSES[2] == "angry"
