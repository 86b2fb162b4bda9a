"""Calibration of synthetic annotators: recovers known miscalibration in simulated worlds, fits on the training split
only, writes raw and calibrated distributions side by side, and refuses sample mode."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from helpers import make_dataset
from hf_ambiguity.annotate.calibrate import calibrate_splits, calibration_inputs, fit_calibration
from hf_ambiguity.provenance import attach_provenance, read_provenance


def _world(n, seed=0, k=4, labels=20):
    rng = np.random.default_rng(seed)
    truth = rng.dirichlet(np.ones(k) * 0.8, size=n)
    human = np.stack([rng.multinomial(labels, p) / labels for p in truth])
    return truth, human


@pytest.mark.parametrize("true_t", [0.4, 2.5])
def test_temperature_recovers_a_known_miscalibration(true_t):
    truth, human = _world(3000)
    logp = np.log(truth) / true_t                       # too flat (t < 1) or too sharp (t > 1) by a known factor
    cal = fit_calibration("temperature", human, logprobs=logp)
    assert cal.temperature == pytest.approx(1 / true_t, rel=0.05)
    assert cal.loss_after < cal.loss_before and cal.n_rows == 3000 and cal.mode == "score"
    np.testing.assert_allclose(cal.apply(logprobs=logp), softmax(logp / cal.temperature, axis=1), atol=1e-12)
    # expected mode: identical annotators, each too sharp; the map acts on every annotator's log-distribution
    per = np.repeat(softmax(logp, axis=1)[:, None, :], 3, axis=1)
    cal_e = fit_calibration("temperature", human, annotator_dists=per)
    assert cal_e.mode == "expected" and cal_e.temperature == pytest.approx(cal.temperature, rel=1e-3)


def test_bias_recovers_a_known_class_offset():
    truth, human = _world(4000, seed=1)
    offset = np.array([0.0, 1.0, -0.5, 0.3])
    logp = np.log(truth) + offset
    cal = fit_calibration("bias", human, logprobs=logp)
    np.testing.assert_allclose(cal.bias, -offset, atol=0.08)
    assert cal.temperature == 1.0 and cal.loss_after < cal.loss_before
    per = softmax(np.stack([logp, logp + 0.2 * np.random.default_rng(2).standard_normal(logp.shape)], 1), axis=-1)
    cal_e = fit_calibration("bias", human, annotator_dists=per)
    assert cal_e.loss_after < cal_e.loss_before and cal_e.bias[1] < -0.5


def test_identity_when_already_calibrated_and_bad_input():
    truth, human = _world(2000, seed=3)
    cal = fit_calibration("temperature", human, logprobs=np.log(truth))
    assert cal.temperature == pytest.approx(1.0, abs=0.08) and cal.loss_after <= cal.loss_before
    with pytest.raises(ValueError, match="calibration must be one of"):
        fit_calibration("platt", human, logprobs=np.log(truth))
    with pytest.raises(ValueError, match="exactly one of logprobs"):
        fit_calibration("bias", human)
    with pytest.raises(ValueError, match="must be distributions"):
        fit_calibration("bias", human * 2, logprobs=np.log(truth))
    with pytest.raises(ValueError, match="human_dist has shape"):
        fit_calibration("bias", human[:5], logprobs=np.log(truth))


def _split(n, seed, mode="expected", n_annot=3):
    """A split annotated in ``mode`` (columns as annotate writes them), miscalibrated by a factor 2.5."""
    ds = make_dataset(n, seed=seed, seconds=0.05)
    rng = np.random.default_rng(seed)
    h = np.array(ds["human_dist"])
    logits = 2.5 * np.log(np.clip(h, 0.02, None))[:, None, :] + 0.3 * rng.standard_normal((n, n_annot, 4))
    per = softmax(logits, axis=-1)
    ds = ds.remove_columns([c for c in ds.column_names if c.startswith("synthetic_")])
    if mode == "expected":
        ds = ds.add_column("synthetic_annotator_dists", per.tolist())
        dist = per.mean(axis=1)
    elif mode == "score":
        ds = ds.add_column("synthetic_logprobs", logits[:, 0].tolist())
        dist = softmax(logits[:, 0], axis=-1)
    else:
        dist = per.mean(axis=1)
    ds = ds.add_column("synthetic_dist", dist.tolist()).add_column("synthetic_votes", (n_annot * dist).tolist())
    return attach_provenance(ds, "synthetic", {"mode": mode, "n_annotators": n_annot})


def test_calibrate_splits_fits_on_the_training_split_only():
    from datasets import DatasetDict

    dsd = DatasetDict({"train": _split(40, 0), "test": _split(12, 1)})
    out, cal = calibrate_splits(dsd, kind="temperature")
    assert cal.n_rows == 40 and cal.temperature > 1.5  # the simulated annotators are too sharp
    changed = DatasetDict({"train": dsd["train"], "test": _split(12, 7)})  # other test rows only
    out2, cal2 = calibrate_splits(changed, kind="temperature")
    assert cal2 == cal  # fitted parameters unchanged
    assert out2["train"]["synthetic_dist"] == out["train"]["synthetic_dist"]
    for split in ("train", "test"):
        ds = out[split]
        raw = np.array(dsd[split]["synthetic_dist"])
        np.testing.assert_allclose(np.array(ds["synthetic_uncalibrated_dist"]), raw)
        q = cal.apply(**calibration_inputs(dsd[split]))
        np.testing.assert_allclose(np.array(ds["synthetic_dist"]), q)
        np.testing.assert_allclose(np.array(ds["synthetic_votes"]), 3 * q)
        prov = read_provenance(ds)["synthetic"]
        assert prov["calibration"]["fitted_on"] == {"split": "train"} and prov["calibration"]["temperature"] == cal.temperature
        assert prov["mode"] == "expected"
    with pytest.raises(ValueError, match="calibrated already"):
        calibrate_splits(out, kind="temperature")
    score = DatasetDict({"train": _split(30, 2, "score"), "test": _split(6, 3, "score")})
    _, cal_s = calibrate_splits(score, kind="bias")
    assert cal_s.mode == "score" and cal_s.loss_after < cal_s.loss_before


def test_sample_mode_is_refused():
    from datasets import DatasetDict

    dsd = DatasetDict({"train": _split(8, 0, "sample")})
    with pytest.raises(ValueError, match="sample mode.*proportions of N sampled labels"):
        calibrate_splits(dsd, kind="temperature")
    with pytest.raises(ValueError, match="fitted on split 'dev'"):
        calibrate_splits(dsd, kind="temperature", fit_split="dev")
