"""Weighted sampler weights, on-the-fly audio augmentation, and the balanced evaluation view."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from helpers import CLASSES, make_dataset
from hf_ambiguity.augment.balanced_eval import balanced_eval_view
from hf_ambiguity.augment.sampler import (RandomAudioAugment, class_sample_weights, dataset_sample_weights,
                                          weighted_sampler)


# ------------------------------------------------------------------------------------------------------- sampler

def test_weights_give_each_class_equal_mass_times_its_multiplier():
    targets = np.eye(3)[[0] * 10 + [1] * 4 + [2] * 1] * 0.7 + 0.1
    w = class_sample_weights(targets, class_names=["a", "b", "c"])
    cls = targets.argmax(axis=1)
    np.testing.assert_allclose([w[cls == c].sum() for c in range(3)], [1 / 3] * 3)
    w2 = class_sample_weights(targets, class_names=["a", "b", "c"], multipliers={"c": 2.0})
    np.testing.assert_allclose([w2[cls == c].sum() for c in range(3)], [0.25, 0.25, 0.5])
    with pytest.raises(ValueError, match=r"multiplier for unknown class 'd'; classes are \['a', 'b', 'c'\]"):
        class_sample_weights(targets, class_names=["a", "b", "c"], multipliers={"d": 2.0})


def test_weighted_sampler_draws_classes_evenly():
    ds, _ = make_dataset([30, 6, 3, 1], seed=2, return_waves=True)
    w = dataset_sample_weights(ds, "human_dist", multipliers={"sad": 1.0})
    sampler = weighted_sampler(w, num_samples=20000, seed=0)
    assert isinstance(sampler, torch.utils.data.WeightedRandomSampler)
    drawn = np.array(ds["majority_label"])[list(sampler)]
    freq = np.bincount(drawn, minlength=len(CLASSES)) / drawn.size
    np.testing.assert_allclose(freq, 0.25, atol=0.02)
    assert list(weighted_sampler(w, num_samples=50, seed=1)) == list(weighted_sampler(w, num_samples=50, seed=1))


def _peak_hz(y: np.ndarray, sr: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.fft.rfftfreq(y.size, 1 / sr)[spec.argmax()])


def test_audio_augment_pitch_shift_and_time_stretch_do_what_they_say():
    sr = 16000
    y = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr)).astype(np.float32)
    aug = RandomAudioAugment(p=1.0, seed=0)
    seen = set()
    for _ in range(6):
        out = aug(y)
        kind, value = aug.last
        seen.add(kind)
        if kind == "pitch_shift":
            assert -1.0 <= value <= 1.0 and out.size == y.size
            assert _peak_hz(out[2000:-2000]) == pytest.approx(440.0 * 2 ** (value / 12), abs=2.0)
        else:
            assert kind == "time_stretch" and 0.95 <= value <= 1.05
            assert out.size == pytest.approx(y.size / value, abs=2)
    assert seen == {"pitch_shift", "time_stretch"}
    # p = 0: never changes anything; same seed: same output
    assert np.array_equal(RandomAudioAugment(p=0.0, seed=1)(y), y)
    a, b = RandomAudioAugment(p=1.0, seed=3), RandomAudioAugment(p=1.0, seed=3)
    assert np.array_equal(a(y), b(y))
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.3"):
        RandomAudioAugment(p=1.3)


def test_audio_augment_applies_with_probability_p():
    y = np.zeros(2048, dtype=np.float32)
    y[::7] = 0.1
    aug = RandomAudioAugment(p=0.3, seed=0)
    kinds = []
    for _ in range(200):
        aug(y)
        kinds.append(aug.last[0])
    assert 0.2 < np.mean([k != "none" for k in kinds]) < 0.4


# ------------------------------------------------------------------------------------------------- balanced view

@pytest.fixture(scope="module")
def test_split():
    ds, _ = make_dataset([30, 9, 12, 6], seed=8, return_waves=True)
    flags = [False] * len(ds)
    flags[0] = flags[40] = True  # pretend two rows were DiME-Aug samples: the view must ignore them
    return ds.add_column("augmented", flags)


def test_balanced_view_counts_every_cell_equally(test_split):
    view, table, weights = balanced_eval_view(test_split, "human_dist", seed=0)
    assert not any(view["augmented"])
    cells = {}
    for r in view.remove_columns(["audio"]).to_list():
        key = f"{CLASSES[r['majority_label']]}/{r['ambiguity']}"
        cells[key] = cells.get(key, 0) + 1
    assert len(cells) == 12 and set(cells.values()) == {2}  # the smallest cells (sad/*) hold 2 rows
    assert min(weights.counts.values()) == 2 and weights.counts["neutral/low"] == 9  # row 0 (neutral/low) excluded
    # weights: each non-empty cell gets the same total, augmented rows get none, total 1
    w = weights.row_weights
    assert w[0] == 0.0 and w[40] == 0.0 and w.sum() == pytest.approx(1.0)
    labels = np.array(test_split["majority_label"])
    amb = np.array(test_split["ambiguity"])
    totals = [w[(labels == c) & (amb == lv)].sum() for c in range(4) for lv in ("low", "medium", "high")]
    np.testing.assert_allclose(totals, 1 / 12)
    assert "| neutral | low | 9 | 2 | 0.009259 |" in table
    again, _, _ = balanced_eval_view(test_split, "human_dist", seed=0)
    other, _, _ = balanced_eval_view(test_split, "human_dist", seed=1)
    assert again["id"] == view["id"] and other["id"] != view["id"]


def test_balanced_view_by_class_only_and_errors(test_split):
    view, table, weights = balanced_eval_view(test_split, "human_dist", by=("class",))
    assert np.bincount(np.array(view["majority_label"])).tolist() == [6, 6, 6, 6]
    assert weights.empty_cells == () and "| sad | 6 | 6 | 0.041667 |" in table
    dsdict = datasets.DatasetDict({"train": test_split})
    with pytest.raises(ValueError, match=r"test split only; the DatasetDict has \['train'\]"):
        balanced_eval_view(dsdict, "human_dist")
    with pytest.raises(ValueError, match=r"by must be a non-empty subset of \['class', 'ambiguity'\]"):
        balanced_eval_view(test_split, "human_dist", by=("speaker",))
    bad, _ = make_dataset([3, 3, 0, 0], dist_override={4: [0.2, 0.2, 0.2, 0.2]}, return_waves=True)
    with pytest.raises(ValueError, match=r"row 4 \(id 'utt0004'\): human_dist is not a valid 4-class distribution"):
        balanced_eval_view(bad, "human_dist")
    _, table, weights = balanced_eval_view(bad.select([0, 1, 2, 3, 5]), "human_dist")
    assert "angry/low" in weights.empty_cells and "Empty cells (cannot be balanced)" in table
