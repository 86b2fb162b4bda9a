"""DiME-Aug: interpolation, neighbours, balancing rule, provenance, determinism and bad input."""

from __future__ import annotations

import math

import datasets
import numpy as np
import pytest

from helpers import CLASSES, make_dataset, decode
from hf_ambiguity.augment import dime_aug
from hf_ambiguity.splits import split_train_validation
from hf_ambiguity.augment.dime_features import TEXT_FEATURE_NAMES, row_features, standardise
from hf_ambiguity.distributions import validate_distributions

COUNTS = [18, 4, 6, 1]
RATIO = 0.5


@pytest.fixture(scope="module")
def augmented():
    ds, waves = make_dataset(COUNTS, seed=1, return_waves=True)
    out, report = dime_aug(ds, "human_dist", ratio=RATIO, k=3, seed=7, progress=False)
    return ds, waves, out, report


def _by_id(ds):
    meta = ds.remove_columns(["audio"]).to_list()
    return {r["id"]: r for r in meta}


def test_originals_come_first_unchanged(augmented):
    ds, _, out, report = augmented
    assert report.n_original == len(ds) and len(out) == len(ds) + report.n_generated
    head = out.select(range(len(ds))).remove_columns(["audio"]).to_list()
    for before, after in zip(ds.remove_columns(["audio"]).to_list(), head):
        assert after["augmented"] is False and after["aug_sources"] == [] and after["aug_alpha"] is None
        assert {k: after[k] for k in before} == before
    raw = out.cast_column("audio", datasets.Audio(decode=False))
    assert raw[0]["audio"]["bytes"] == ds.cast_column("audio", datasets.Audio(decode=False))[0]["audio"]["bytes"]


def test_distributions_are_alpha_mixtures_and_valid(augmented):
    ds, _, out, report = augmented
    src = _by_id(ds)
    new = [r for r in _by_id(out).values() if r["augmented"]]
    assert len(new) == report.n_generated > 0
    for r in new:
        i, j = (src[s] for s in r["aug_sources"])
        a = r["aug_alpha"]
        assert 0.0 <= a <= 1.0 and r["aug_k"] == 3 and r["aug_seed"] == 7
        for col in ("human_dist", "synthetic_dist"):
            if i[col] is None or j[col] is None:
                assert r[col] is None
                continue
            mix = a * np.array(i[col]) + (1 - a) * np.array(j[col])
            np.testing.assert_allclose(r[col], mix / mix.sum(), atol=1e-6)  # float32 columns
            validate_distributions(np.array([r[col]]))
        assert r["majority_label"] == int(np.argmax(r["human_dist"])) == i["majority_label"]
        # annotator-level columns are not observed for a synthetic utterance; metadata comes from the first source
        assert r["human_votes"] is None and r["annotators"] is None and r["entropy"] is None
        assert r["speaker"] == i["speaker"] and r["corpus"] == i["corpus"]
        assert r["transcript"] == (i["transcript"] if a < 0.5 else j["transcript"])


def test_audio_is_alpha_mix_cut_to_shorter(augmented):
    ds, waves, out, _ = augmented
    index = {x: n for n, x in enumerate(ds["id"])}
    new_rows = [n for n, flag in enumerate(out["augmented"]) if flag]
    for n in new_rows[:6]:
        row = out[n]
        i, j = (waves[index[s]].astype(np.float64) for s in row["aug_sources"])
        y = decode(row["audio"])
        length = min(i.size, j.size)
        assert y.size == length
        a = row["aug_alpha"]
        np.testing.assert_allclose(y, a * i[:length] + (1 - a) * j[:length], atol=1.0 / 32768)
        assert row["audio"].metadata.sample_rate == 16000


@pytest.mark.parametrize("k", [3, 1])
def test_neighbours_are_nearest_within_class(augmented, k):
    ds, waves, out, _ = augmented
    if k == 1:  # with one neighbour the partner must be *the* nearest utterance of the class
        ds, waves = make_dataset([12, 7, 0, 0], seed=11, return_waves=True)
        out, _ = dime_aug(ds, "human_dist", ratio=1.0, k=1, seed=0, progress=False)
    ids = ds["id"]
    labels = np.array(ds["majority_label"])
    raw = np.vstack([row_features(w, t) for w, t in zip(waves, ds["transcript"])])
    for r in (r for r in _by_id(out).values() if r["augmented"]):
        a, b = (ids.index(s) for s in r["aug_sources"])
        assert labels[a] == labels[b] and a != b
        same = np.flatnonzero(labels == labels[a])
        x = standardise(raw[same]).values  # standardised within the class, as the reference code does
        d = np.linalg.norm(x - x[list(same).index(a)], axis=1)
        nearest = set(same[np.argsort(d, kind="stable")[1:k + 1]].tolist())
        assert b in nearest


def test_class_counts_follow_the_rule(augmented):
    _, _, out, report = augmented
    target = math.ceil(RATIO * max(COUNTS))
    assert report.target_count == target
    after = np.bincount(np.array(out["majority_label"]), minlength=len(CLASSES))
    for c, name in enumerate(CLASSES):
        expected = COUNTS[c] if COUNTS[c] >= target or COUNTS[c] < 2 else target
        assert after[c] == expected == report.counts_after[name]
        assert report.generated[name] == expected - COUNTS[c]
    # the single-utterance class cannot be interpolated: counted shortfall, no crash
    assert report.shortfall == {"neutral": 0, "happy": 0, "angry": 0, "sad": target - 1}
    assert "at least 2" in report.shortfall_reasons["sad"]
    assert "| sad | 1 | 0 | 1 | 8 |" in report.to_markdown()


def test_same_seed_identical_output_other_seed_differs():
    def run(seed, num_proc=None):
        ds, _ = make_dataset([38, 3, 2, 0], seed=3, return_waves=True)  # a fresh Dataset object each time (own fingerprint)
        out, _ = dime_aug(ds, "human_dist", ratio=0.1, seed=seed, num_proc=num_proc, progress=False)
        return out.cast_column("audio", datasets.Audio(decode=False)).to_list()

    a, b, c = run(5), run(5, num_proc=2), run(6)  # 43 rows = 2 chunks of 32: the process pool really runs
    assert a == b
    assert a != c
    with pytest.raises(ValueError, match="num_proc must be a positive integer or None, got 0"):
        run(5, num_proc=0)


def test_validation_rows_are_never_sources():
    ds, _ = make_dataset([20, 8, 8, 4], seed=4, return_waves=True)
    parts = split_train_validation(ds, validation_fraction=0.25, seed=42)
    val_ids = set(parts["validation"]["id"])
    assert len(val_ids) == 10 and not val_ids & set(parts["train"]["id"])
    out, report = dime_aug(parts["train"], "human_dist", ratio=1.0, seed=0, progress=False)
    used = {s for srcs in out["aug_sources"] for s in srcs}
    assert report.n_generated > 0 and used and used <= set(parts["train"]["id"]) and not used & val_ids
    with pytest.raises(TypeError, match="training portion only"):
        dime_aug(parts, "human_dist", progress=False)


def test_balance_by_class_and_ambiguity_cells():
    ds, _ = make_dataset([12, 3, 0, 6], seed=5, return_waves=True)  # ambiguity cycles low/medium/high within a class
    out, report = dime_aug(ds, "human_dist", ratio=1.0, balance_by="class_ambiguity", seed=0, progress=False)
    assert report.target_count == 4 and len(report.groups) == 12
    rows = out.remove_columns(["audio"]).to_list()
    cells = {}
    for r in rows:
        cells.setdefault((CLASSES[r["majority_label"]], r["ambiguity"]), []).append(r)
    for cls in ("neutral", "sad"):
        for lv in ("low", "medium", "high"):
            assert len(cells[(cls, lv)]) == 4 == report.counts_after[f"{cls}/{lv}"]
    src = _by_id(ds)
    for r in rows:
        if r["augmented"]:  # both sources come from the same (class, ambiguity) cell
            i, j = (src[s] for s in r["aug_sources"])
            assert (i["majority_label"], i["ambiguity"]) == (j["majority_label"], j["ambiguity"])
    # happy has one row per level: each of those cells is short by 3; angry has none: short by 4
    assert report.shortfall["happy/low"] == 3 and report.shortfall["angry/high"] == 4


# ------------------------------------------------------------------------------------------------------ bad input

def test_missing_audio_column_is_a_clear_error():
    ds, _ = make_dataset([3, 2, 2, 2], return_waves=True)
    with pytest.raises(ValueError, match=r"audio column 'audio' is not in the dataset .*audio_column="):
        dime_aug(ds.remove_columns(["audio"]), "human_dist", progress=False)
    with pytest.raises(ValueError, match=r"target distribution column 'nope' is not in the dataset"):
        dime_aug(ds, "nope", progress=False)
    with pytest.raises(ValueError, match=r"balance_by must be one of \['class', 'class_ambiguity'\], got 'cell'"):
        dime_aug(ds, "human_dist", balance_by="cell", progress=False)
    with pytest.raises(ValueError, match=r"ratio must be in \(0, 1\]"):
        dime_aug(ds, "human_dist", ratio=1.5, progress=False)


def test_missing_transcript_gives_zero_text_features_and_a_flag():
    ds, _ = make_dataset([6, 2, 2, 2], transcripts=False, return_waves=True)
    out, report = dime_aug(ds, "human_dist", ratio=0.5, progress=False)
    assert report.text_features_missing and "transcript" not in out.column_names
    assert "text features are zero" in report.to_markdown()
    m = standardise(np.random.default_rng(0).normal(size=(5, 82)), text_missing=True)
    assert m.text_missing and np.all(m.values[:, -len(TEXT_FEATURE_NAMES):] == 0.0)


def test_invalid_distribution_names_the_row_or_is_counted_when_lenient():
    ds, _ = make_dataset([6, 3, 2, 2], dist_override={7: [0.5, 0.6, 0.0, 0.0], 8: None}, return_waves=True)
    with pytest.raises(ValueError, match=r"row 7 \(id 'utt0007'\): human_dist does not sum to 1.*lenient=True"):
        dime_aug(ds, "human_dist", progress=False)
    out, report = dime_aug(ds, "human_dist", ratio=1.0, lenient=True, progress=False)
    assert [i for i, _ in report.invalid] == ["utt0007", "utt0008"]
    assert "is missing" in report.invalid[1][1]
    used = {s for srcs in out["aug_sources"] for s in srcs}
    assert used and not used & {"utt0007", "utt0008"}
    assert report.counts_before["happy"] == 1  # rows 6..8 were happy; two are unusable


def test_silent_and_zero_length_audio_are_counted_and_never_sources():
    ds, _ = make_dataset([6, 4, 2, 2], audio_override={0: np.zeros(4000), 6: np.zeros(4000), 7: np.zeros(0)},
                         return_waves=True)
    out, report = dime_aug(ds, "human_dist", ratio=1.0, progress=False)
    # utt0000 is in the majority class, which needs no new rows: it is never decoded, so not listed
    assert report.silent_ids == ("utt0006", "utt0007")
    used = {s for srcs in out["aug_sources"] for s in srcs}
    assert not used & {"utt0006", "utt0007"}
    assert report.counts_after["happy"] == 6 and report.generated["happy"] == 2
    assert "2 silent or zero-length rows" in report.to_markdown()
