"""The DiME-Aug feature space equals librosa's own descriptor functions; text statistics are what the doc says."""

from __future__ import annotations

import numpy as np
import pytest

from hf_ambiguity.augment.dime_features import (AUDIO_FEATURE_NAMES, FEATURE_NAMES, TEXT_FEATURE_NAMES, audio_features,
                                           raw_feature_matrix, text_features)


def test_audio_features_match_librosa_reference_calls():
    import librosa

    rng = np.random.default_rng(0)
    t = np.arange(24000) / 16000
    y = (0.3 * np.sin(2 * np.pi * 220 * t) * np.linspace(0.2, 1, t.size) + 0.05 * rng.standard_normal(t.size))
    y = y.astype(np.float32)
    sr = 16000
    rows = np.vstack([
        librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13),
        librosa.feature.chroma_stft(y=y, sr=sr),
        librosa.feature.spectral_contrast(y=y, sr=sr),
        librosa.feature.zero_crossing_rate(y),
        librosa.feature.spectral_rolloff(y=y, sr=sr),
        librosa.feature.spectral_centroid(y=y, sr=sr),
        librosa.feature.rms(y=y),
    ]).astype(np.float64)
    expected = np.concatenate([rows.mean(axis=1), rows.std(axis=1)])
    got = audio_features(y, sr)
    assert got.shape == (72,) == expected.shape and len(AUDIO_FEATURE_NAMES) == 72
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert AUDIO_FEATURE_NAMES[0] == "mfcc_0_mean" and AUDIO_FEATURE_NAMES[36] == "mfcc_0_std"
    assert AUDIO_FEATURE_NAMES[35] == "rms_mean" and AUDIO_FEATURE_NAMES[13] == "chroma_0_mean"


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(40000) / 16000
    return {
        "tone_noise": (0.3 * np.sin(2 * np.pi * 220 * t) * np.linspace(0.2, 1, t.size)
                       + 0.05 * rng.standard_normal(t.size)),
        "noise": 0.1 * rng.standard_normal(30000),
        "harmonics_vibrato": sum(0.2 / h * np.sin(2 * np.pi * h * (180 * t + 3 * np.sin(2 * np.pi * 5 * t)))
                                 for h in range(1, 8)),
        "shorter_than_a_hop_grid": 0.2 * np.sin(2 * np.pi * 300 * np.arange(5000) / 16000),
        "near_silent": 1e-6 * rng.standard_normal(20000),
        "zero_runs": np.concatenate([np.zeros(5000), 0.3 * rng.standard_normal(8000), np.zeros(7000)]),
        "silence": np.zeros(12000),
    }


@pytest.mark.parametrize("name", list(_signals()))
def test_each_descriptor_equals_librosa(name):
    """The numpy descriptors against librosa's own functions, frame by frame (they agree to the last bit on the
    project's machine; the tolerance only allows for another BLAS)."""
    import warnings

    import librosa

    from hf_ambiguity.augment import descriptors as d

    y = _signals()[name].astype(np.float32)
    sr = 16000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns on empty tuning sets (silence); its result is then 0
        want = {
            "stft": np.abs(librosa.stft(y)),
            "mfcc": librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13),
            "chroma": librosa.feature.chroma_stft(y=y, sr=sr),
            "contrast": librosa.feature.spectral_contrast(y=y, sr=sr),
            "zcr": librosa.feature.zero_crossing_rate(y),
            "rolloff": librosa.feature.spectral_rolloff(y=y, sr=sr),
            "centroid": librosa.feature.spectral_centroid(y=y, sr=sr),
            "rms": librosa.feature.rms(y=y),
            "tuning": librosa.estimate_tuning(S=np.abs(librosa.stft(y)) ** 2, sr=sr, bins_per_octave=12),
            "mel": librosa.filters.mel(sr=sr, n_fft=2048),
        }
    mag = d.magnitude_spectrogram(y)
    power = mag**2
    got = {"stft": mag, "mfcc": d.mfcc(power, sr), "chroma": d.chroma(power, sr),
           "contrast": d.spectral_contrast(mag, sr), "zcr": d.zero_crossing_rate(y),
           "rolloff": d.spectral_rolloff(mag, sr), "centroid": d.spectral_centroid(mag, sr), "rms": d.rms(y),
           "tuning": d.estimate_tuning(power, sr), "mel": d.mel_filterbank(sr, 2048)}
    for key, value in want.items():
        assert np.shape(got[key]) == np.shape(value), key
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6 * (np.abs(value).max() + 1e-30),
                                   err_msg=key)


def test_features_need_neither_librosa_nor_numba():
    """The per-process JIT compile of librosa's numba kernels is what the numpy descriptors avoid."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, numpy as np\n"
            "from hf_ambiguity.augment.dime_features import row_features\n"
            "row_features(np.sin(np.arange(20000) / 9.0).astype(np.float32), 'Hello.', style='reference')\n"
            "print(sorted(m for m in ('librosa', 'numba', 'scipy.signal') if m in sys.modules))")
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]"


def test_short_and_empty_audio():
    assert np.isfinite(audio_features(np.full(300, 0.1, dtype=np.float32))).all()  # padded to one frame
    with pytest.raises(ValueError, match=r"non-empty mono waveform, got shape \(0,\)"):
        audio_features(np.zeros(0, dtype=np.float32))


@pytest.mark.parametrize("text, expected", [
    ("", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    (None, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("I can't... WAIT!", [16, 3, 3.0, 0, 3, 0, 1, 1, 5 / 9, 0]),
    ("<laugh> so, you came? [BREATHING]", [33, 5, 4.6, 1, 0, 1, 0, 4, 9 / 23, 2]),
])
def test_text_features(text, expected):
    assert len(TEXT_FEATURE_NAMES) == 10 and len(FEATURE_NAMES) == 82
    np.testing.assert_allclose(text_features(text), expected)


def test_raw_feature_matrix_without_transcripts_has_zero_text():
    y = np.sin(np.linspace(0, 900, 8000)).astype(np.float32)
    m = raw_feature_matrix([y, y * 0.5], None)
    assert m.shape == (2, 82) and np.all(m[:, 72:] == 0) and np.any(m[:, :72] != 0)


def test_decode_audio_from_path_resamples_and_mixes_down(tmp_path):
    import soundfile as sf

    from hf_ambiguity.audio import decode_audio, encode_wav

    stereo = np.stack([np.full(8000, 0.5), np.full(8000, -0.25)], axis=1)
    sf.write(tmp_path / "a.wav", stereo, 8000, subtype="PCM_16")
    y = decode_audio({"bytes": None, "path": str(tmp_path / "a.wav")})
    assert y.dtype == np.float32 and y.size == 16000  # 1 s at 8 kHz -> 16 kHz
    np.testing.assert_allclose(y[2000:-2000], 0.125, atol=1e-3)
    assert decode_audio({"bytes": encode_wav(np.zeros(0)), "path": None}).size == 0
    with pytest.raises(ValueError, match=r"cast the column with datasets.Audio\(decode=False\) first"):
        decode_audio({"bytes": None, "path": None})
