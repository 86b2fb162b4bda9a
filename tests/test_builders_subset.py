"""Trial subsets that represent the corpus (issue 17): every split and class present, proportions kept, seeded."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest

from hf_ambiguity.builders import build_dataset, stratified_subset
from hf_ambiguity.demo import make_demo_corpus

CLASSES = ["neutral", "happy", "angry", "sad"]


def corpus(sizes: dict[str, list[int]]) -> datasets.DatasetDict:
    """A DatasetDict with one split per key; ``sizes[split][c]`` rows of class ``c`` (interleaved)."""
    features = datasets.Features({"id": datasets.Value("string"), "majority_label": datasets.ClassLabel(names=CLASSES)})
    out = {}
    for split, per_class in sizes.items():
        labels = [c for c, n in enumerate(per_class) for _ in range(n)]
        labels = [labels[i] for i in np.random.default_rng(0).permutation(len(labels))]
        out[split] = datasets.Dataset.from_dict({"id": [f"{split}_{i:04d}" for i in range(len(labels))],
                                                 "majority_label": labels}, features=features)
    return datasets.DatasetDict(out)


# five sessions in session order, as IEMOCAP is read: the first N turns would all be session 1
SIZES = {f"session{s}": [150 + 10 * s, 60 + 5 * s, 90 - 5 * s, 100] for s in range(1, 6)}


def _counts(dsdict) -> dict[tuple[str, str], int]:
    return Counter((split, CLASSES[c]) for split, ds in dsdict.items() for c in ds["majority_label"])


def test_every_split_and_class_present_and_proportions_kept() -> None:
    full = corpus(SIZES)
    total = sum(len(d) for d in full.values())
    sub, how = stratified_subset(full, 300, seed=1)
    got, available = _counts(sub), _counts(full)
    assert sum(got.values()) == 300 and how.n_drawn == 300 and how.n_total == total
    assert set(got) == set(available)  # all 5 sessions x 4 classes
    for stratum, n in available.items():
        assert abs(got[stratum] - 300 * n / total) < 1  # its exact share, rounded
    assert str(how).startswith(f"a seeded sample of 300 of {total} utterances (seed 1), stratified by split and "
                               "majority_label (20 strata")
    assert how.to_dict()["counts"]["session3"]["happy"] == {"drawn": got[("session3", "happy")],
                                                             "available": available[("session3", "happy")]}
    ids = set(i for d in sub.values() for i in d["id"])
    assert ids <= set(i for d in full.values() for i in d["id"]) and len(ids) == 300  # no row twice


def test_small_strata_get_one_and_the_draw_is_seeded() -> None:
    full = corpus({"train": [500, 3, 0, 1], "test": [50, 0, 2, 0]})
    sub, _ = stratified_subset(full, 20, seed=0)
    got = _counts(sub)
    assert got[("train", "happy")] == 1 and got[("train", "sad")] == 1 and got[("test", "angry")] == 1
    assert sum(got.values()) == 20 and ("train", "angry") not in got  # an empty stratum stays empty
    again, _ = stratified_subset(full, 20, seed=0)
    other, _ = stratified_subset(full, 20, seed=1)
    ids = lambda d: [i for s in d.values() for i in s["id"]]  # noqa: E731
    assert ids(again) == ids(sub) and ids(other) != ids(sub)
    assert all(list(d["id"]) == sorted(d["id"]) for d in sub.values())  # corpus order kept within a split


def test_fewer_utterances_than_strata_keeps_every_split_and_says_what_is_missing() -> None:
    full = corpus(SIZES)
    sub, how = stratified_subset(full, 7, seed=0)
    assert sorted(sub) == sorted(SIZES) and sum(len(d) for d in sub.values()) == 7  # every session present
    assert len(how.missing) == 20 - 7
    assert "7 is smaller than the number of strata, so 13 strata have no utterance: " in str(how)
    sub, how = stratified_subset(full, 3, seed=0)  # fewer than the splits: the largest splits first
    assert sorted(sub) == ["session3", "session4", "session5"]


def test_whole_corpus_when_n_is_not_smaller_and_bad_n() -> None:
    full = corpus({"train": [3, 2, 1, 0]})
    sub, how = stratified_subset(full, 6, seed=0)
    assert sub is full and not how.is_subset and str(how) == ("all 6 utterances (max_utterances=6 is not smaller "
                                                              "than the corpus)")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n must be a positive number of utterances"):
            stratified_subset(full, bad)
    with pytest.raises(ValueError, match="cannot stratify by 'emotion'"):
        stratified_subset(full, 2, by=("emotion",))


def test_on_a_built_five_session_corpus(tmp_path: Path) -> None:
    raw = make_demo_corpus(tmp_path / "IEMOCAP_full_release", n_utterances=400, clip_seconds=0.1)
    dsdict, report = build_dataset("iemocap", raw, cache_dir=tmp_path / "cache", progress=False)
    assert list(dsdict) == [f"session{s}" for s in range(1, 6)]
    sub, how = stratified_subset(dsdict, 60, seed=0)
    assert list(sub) == list(dsdict) and sum(len(d) for d in sub.values()) == 60 and not how.missing
    assert set(_counts(sub)) == set(_counts(dsdict))
    assert sub["session2"].features == dsdict["session2"].features
