"""The DiME-Aug feature space: 72 audio statistics (librosa) + 10 transcript statistics, standardised.

Audio (72 = 2 × 36): for each frame-wise descriptor below, its mean over frames (first 36 dimensions) and its
standard deviation over frames (last 36), in this order — 13 MFCCs, 12 chroma bands, 7 spectral-contrast bands
(6 bands + the valley/peak residual row librosa returns), zero-crossing rate, spectral roll-off (85 %), spectral
centroid, RMS energy: librosa's descriptors with their defaults at 16 kHz (``n_fft=2048``, ``hop_length=512``),
computed by :mod:`hf_ambiguity.augment.descriptors` (numpy, no numba JIT); the magnitude STFT is computed once and
shared by the spectral descriptors. A signal shorter than one frame is zero-padded to ``n_fft``.

Text (10, from the transcript; IEMOCAP transcripts carry non-verbal marks such as ``[LAUGHTER]``):

==  =====================  ==========================================================================
 1  ``n_chars``            characters
 2  ``n_words``            whitespace-separated tokens
 3  ``mean_word_length``   mean number of letters/digits per token (0 without tokens)
 4  ``n_commas``           ``,``
 5  ``n_periods``          ``.`` (an ellipsis counts 3)
 6  ``n_questions``        ``?``
 7  ``n_exclamations``     ``!``
 8  ``n_other_punct``      every other ``string.punctuation`` character (apostrophes, dashes, brackets ...)
 9  ``uppercase_ratio``    upper-case letters / letters (0 without letters)
10  ``n_nonverbal``        bracketed marks ``[...]`` or ``<...>``
==  =====================  ==========================================================================

When a dataset has no transcript column the 10 text dimensions are zero for every row and
:attr:`FeatureMatrix.text_missing` is ``True`` (an empty transcript ``""`` simply gives zero counts).

``style="reference"`` (:func:`row_features`) uses the authors' ten statistics instead
(:func:`reference_text_features`: characters, words, ``!``, ``?``, ``.``, ``,``, vowel share, consonant share,
mean word length, upper-case share, on the quoted and lower-cased transcript) and pads audio shorter than 0.5 s
to 0.5 s, as the authors' code does.
Standardisation (zero mean, unit variance per dimension, ``sklearn.preprocessing.StandardScaler``) is fitted on the
rows passed together, so constant dimensions (e.g. missing text) stay zero.

>>> text_features("Oh, no! [LAUGHTER] Really?").tolist()
[26.0, 4.0, 4.5, 1.0, 0.0, 1.0, 1.0, 2.0, 0.6, 1.0]
>>> audio_features(np.sin(np.linspace(0, 2000, 16000)).astype(np.float32)).shape
(72,)
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hf_ambiguity.audio import SAMPLING_RATE

__all__ = [
    "AUDIO_DESCRIPTORS", "AUDIO_FEATURE_NAMES", "TEXT_FEATURE_NAMES", "FEATURE_NAMES", "N_FFT", "HOP_LENGTH",
    "FeatureMatrix", "audio_features", "text_features", "row_features", "raw_feature_matrix",
    "single_threaded_blas", "standardise", "reference_text_features", "REFERENCE_TEXT_FEATURE_NAMES",
    "FEATURE_STYLES", "REFERENCE_MIN_SAMPLES",
]

N_FFT = 2048
HOP_LENGTH = 512

#: (descriptor, number of rows) in the order of the 36 frame-wise rows.
AUDIO_DESCRIPTORS: tuple[tuple[str, int], ...] = (
    ("mfcc", 13), ("chroma", 12), ("contrast", 7), ("zcr", 1), ("rolloff", 1), ("centroid", 1), ("rms", 1),
)
_ROWS = [f"{name}_{i}" if n > 1 else name for name, n in AUDIO_DESCRIPTORS for i in range(n)]
AUDIO_FEATURE_NAMES: tuple[str, ...] = tuple([f"{r}_mean" for r in _ROWS] + [f"{r}_std" for r in _ROWS])
TEXT_FEATURE_NAMES: tuple[str, ...] = (
    "n_chars", "n_words", "mean_word_length", "n_commas", "n_periods", "n_questions", "n_exclamations",
    "n_other_punct", "uppercase_ratio", "n_nonverbal",
)
FEATURE_NAMES: tuple[str, ...] = AUDIO_FEATURE_NAMES + TEXT_FEATURE_NAMES
#: The authors' ten transcript statistics, in their order (``style="reference"``).
REFERENCE_TEXT_FEATURE_NAMES: tuple[str, ...] = (
    "n_chars", "n_words", "n_exclamations", "n_questions", "n_periods", "n_commas", "vowel_share",
    "consonant_share", "mean_word_length", "uppercase_share",
)
#: Feature styles of :func:`row_features`: the project's and the authors' (text statistics, short-clip padding).
FEATURE_STYLES = ("project", "reference")
#: The authors' code pads clips shorter than 0.5 s to 0.5 s (at 16 kHz) before computing audio features.
REFERENCE_MIN_SAMPLES = SAMPLING_RATE // 2

_OTHER_PUNCT = set(string.punctuation) - set(",.?!")
_NONVERBAL = re.compile(r"\[[^\]]*\]|<[^>]*>")


def audio_features(y: np.ndarray, sampling_rate: int = SAMPLING_RATE, *, min_samples: int = N_FFT) -> np.ndarray:
    """The 72 audio statistics of a mono waveform ``(n_samples,)``: shape ``(72,)``, float64.

    The descriptors are librosa's (``librosa.feature.mfcc``, ``chroma_stft``, ``spectral_contrast``,
    ``zero_crossing_rate``, ``spectral_rolloff``, ``spectral_centroid``, ``rms`` with their defaults), computed by
    :mod:`hf_ambiguity.augment.descriptors` without librosa's numba kernels (no per-process JIT compile).
    A waveform shorter than ``min_samples`` (default one frame) is zero-padded to it first.
    Raises ``ValueError`` for an empty waveform (the caller counts such rows instead of using them).
    """
    from hf_ambiguity.augment import descriptors as d

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"audio_features needs a non-empty mono waveform, got shape {y.shape}")
    if y.size < max(min_samples, N_FFT):
        y = np.pad(y, (0, max(min_samples, N_FFT) - y.size))
    mag = d.magnitude_spectrogram(y, N_FFT, HOP_LENGTH)
    power = mag**2
    rows = np.vstack([
        d.mfcc(power, sampling_rate, n_mfcc=13),
        d.chroma(power, sampling_rate, n_chroma=12),
        d.spectral_contrast(mag, sampling_rate),
        d.zero_crossing_rate(y, N_FFT, HOP_LENGTH),
        d.spectral_rolloff(mag, sampling_rate),
        d.spectral_centroid(mag, sampling_rate),
        d.rms(y, N_FFT, HOP_LENGTH),
    ]).astype(np.float64)
    return np.concatenate([rows.mean(axis=1), rows.std(axis=1)])


def text_features(text: str | None) -> np.ndarray:
    """The 10 transcript statistics (see the module docstring), shape ``(10,)``; ``None`` counts as ``""``."""
    text = text or ""
    tokens = text.split()
    word_lengths = [sum(ch.isalnum() for ch in tok) for tok in tokens]
    letters = [ch for ch in text if ch.isalpha()]
    return np.array([
        len(text),
        len(tokens),
        float(np.mean(word_lengths)) if tokens else 0.0,
        text.count(","),
        text.count("."),
        text.count("?"),
        text.count("!"),
        sum(ch in _OTHER_PUNCT for ch in text),
        sum(ch.isupper() for ch in letters) / len(letters) if letters else 0.0,
        len(_NONVERBAL.findall(text)),
    ], dtype=np.float64)


def reference_text_features(text: str | None) -> np.ndarray:
    """The authors' ten transcript statistics (``REFERENCE_TEXT_FEATURE_NAMES``), shape ``(10,)``.

    They are computed on the transcript as the authors' training prompt quotes it (``"`` + stripped text + ``"``),
    lower-cased: characters, whitespace-separated words, counts of ``!``, ``?``, ``.`` and ``,``, the share of
    characters that are the vowels ``aeiou``, the share that are other letters (``y`` and non-ASCII letters count as
    consonants), the mean word length (quotes included) and the share of upper-case characters, which is always 0
    after lower-casing (kept so that the vector has the authors' ten dimensions). No transcript (``None`` or blank)
    gives zeros, as the authors' missing-utterance case.

    >>> reference_text_features("Oh, no!").tolist()
    [9.0, 2.0, 1.0, 0.0, 0.0, 1.0, 0.2222222222222222, 0.2222222222222222, 4.0, 0.0]
    """
    if text is None or not text.strip():
        return np.zeros(10, dtype=np.float64)
    quoted = f'"{text.strip()}"'.lower()
    words = quoted.split()
    size = len(quoted)
    vowels = sum(ch in "aeiou" for ch in quoted)
    consonants = sum(ch.isalpha() and ch not in "aeiou" for ch in quoted)
    return np.array([
        size, len(words), quoted.count("!"), quoted.count("?"), quoted.count("."), quoted.count(","),
        vowels / size, consonants / size, sum(map(len, words)) / len(words),
        sum(ch.isupper() for ch in quoted) / size,
    ], dtype=np.float64)


@dataclass(frozen=True)
class FeatureMatrix:
    """Standardised DiME-Aug features of a set of rows.

    ``values``: ``(n_rows, 82)`` (``FEATURE_NAMES`` order), zero mean / unit variance per non-constant dimension;
    ``text_missing``: the dataset had no transcript, so the last 10 dimensions are zero.
    """

    values: np.ndarray
    text_missing: bool


def standardise(raw: np.ndarray, *, text_missing: bool = False) -> FeatureMatrix:
    """Standardise raw ``(n_rows, 82)`` features (audio ++ text) with ``StandardScaler``.

    >>> m = standardise(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> m.values.tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    from sklearn.preprocessing import StandardScaler

    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[0] == 0:
        raise ValueError(f"features must be a non-empty (n_rows, n_dims) array, got shape {raw.shape}")
    if text_missing:
        raw = raw.copy()
        raw[:, len(AUDIO_FEATURE_NAMES):] = 0.0
    return FeatureMatrix(StandardScaler().fit_transform(raw), text_missing)


def row_features(y: np.ndarray, transcript: str | None, sampling_rate: int = SAMPLING_RATE, *,
                 style: str = "project") -> np.ndarray:
    """Raw (unstandardised) 82-d feature vector of one utterance: audio (72) ++ text (10); ``style="reference"``:
    the authors' text statistics and short-clip padding (module docstring)."""
    if style not in FEATURE_STYLES:
        raise ValueError(f"features must be one of {list(FEATURE_STYLES)}, got {style!r}")
    if style == "reference":
        min_samples = REFERENCE_MIN_SAMPLES * sampling_rate // SAMPLING_RATE
        return np.concatenate([audio_features(y, sampling_rate, min_samples=min_samples),
                               reference_text_features(transcript)])
    return np.concatenate([audio_features(y, sampling_rate), text_features(transcript)])


def raw_feature_matrix(waveforms: Sequence[np.ndarray], transcripts: Sequence[str | None] | None) -> np.ndarray:
    """Raw ``(n_rows, 82)`` features of several utterances (``transcripts=None``: text dimensions zero)."""
    texts = transcripts if transcripts is not None else [None] * len(waveforms)
    with single_threaded_blas():
        return np.vstack([row_features(y, t) for y, t in zip(waveforms, texts)])


def single_threaded_blas() -> Any:
    """Context manager limiting BLAS to one thread: the per-utterance matrices are small, and a multi-threaded BLAS
    on a busy machine made feature extraction up to 4x slower in ``bench/augment.py``."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
