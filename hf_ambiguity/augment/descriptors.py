"""librosa's frame-wise audio descriptors with librosa's default parameters, computed with numpy and ``scipy.fft``.

Why not call librosa: importing its feature code compiles (or, with a warm cache, loads) numba kernels — guvectorized
ufuncs with explicit signatures are compiled when their modules are imported, whether or not they are used — and
imports ``scipy.signal``. That cost is paid once per process: 20–35 s with a cold numba cache and 2.5–5 s with a warm
one on the project's 2-core machine (``bench/augment.py --first-call`` measures it), against about 0.1 s here. Each
function below follows librosa 0.11's definition and dtypes (float32 spectrogram, as ``librosa.stft`` of a float32
waveform), and ``tests/test_augment_features.py`` checks every descriptor against librosa's own call.

Shapes: a waveform is ``(n_samples,)`` float32; spectrograms and descriptors are ``(n_rows, n_frames)`` like
librosa's. Frames: ``n_fft = 2048``, ``hop = 512``, centred (zero padding for the STFT and RMS, edge padding for the
zero-crossing rate, as librosa).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["magnitude_spectrogram", "mel_filterbank", "power_to_db", "mfcc", "estimate_tuning", "chroma_filterbank",
           "chroma", "spectral_contrast", "zero_crossing_rate", "spectral_rolloff", "spectral_centroid", "rms"]


def _frames(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``(n_frames, n_fft)`` strided view of ``y`` (librosa ``util.frame``: ``1 + (len - n_fft) // hop`` frames)."""
    return np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]


@functools.lru_cache(maxsize=4)
def _hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window, as ``scipy.signal.get_window("hann", n_fft, fftbins=True)`` computes it."""
    return 0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n_fft + 1)[:-1])


def _fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, d=1.0 / sr)


def magnitude_spectrogram(y: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """``|librosa.stft(y, n_fft, hop, window="hann", center=True, pad_mode="constant")|``: ``(1 + n_fft // 2,
    n_frames)`` float32 (the transform runs in float64 and is stored as complex64, as librosa does)."""
    padded = np.pad(np.asarray(y, dtype=np.float32), n_fft // 2)
    spec = np.fft.rfft(_frames(padded, n_fft, hop) * _hann(n_fft), axis=-1).astype(np.complex64)
    return np.abs(spec).T


def _tiny(x: np.ndarray) -> float:
    return float(np.finfo(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32).tiny)


def _normalize(s: np.ndarray, norm: float, axis: int) -> np.ndarray:
    """``librosa.util.normalize(s, norm=norm, axis=axis)``: columns below ``tiny`` are left unnormalised."""
    mag = np.abs(s).astype(float)
    if norm == np.inf:
        length = np.max(mag, axis=axis, keepdims=True)
    else:
        length = np.sum(mag**norm, axis=axis, keepdims=True) ** (1.0 / norm)
    length[length < _tiny(s)] = 1.0
    out = np.empty_like(s)
    out[:] = s / length
    return out


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa ``hz_to_mel(htk=False)``): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mels = f / f_sp
    high = f >= min_log_hz
    mels[high] = min_log_mel + np.log(f[high] / min_log_hz) / logstep
    return mels


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    freqs = f_sp * m
    high = m >= min_log_mel
    freqs[high] = min_log_hz * np.exp(logstep * (m[high] - min_log_mel))
    return freqs


@functools.lru_cache(maxsize=4)
def mel_filterbank(sr: int, n_fft: int = 2048, n_mels: int = 128) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)`` (Slaney scale and area normalisation, 0 Hz to
    ``sr / 2``, float32): ``(n_mels, 1 + n_fft // 2)``."""
    fft_freqs = _fft_frequencies(sr, n_fft)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sr / 2.0]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper)).astype(np.float32)
    enorm = 2.0 / (mel_f[2:] - mel_f[:-2])
    weights = (weights * enorm[:, None]).astype(np.float32)
    weights.setflags(write=False)
    return weights


def power_to_db(s: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """``librosa.power_to_db(s)`` (ref 1, amin 1e-10, clipped ``top_db`` below the maximum)."""
    log_spec = 10.0 * np.log10(np.maximum(1e-10, s))
    return np.maximum(log_spec, log_spec.max() - top_db)


def mfcc(power: np.ndarray, sr: int, n_mfcc: int = 13) -> np.ndarray:
    """``librosa.feature.mfcc(S=power_to_db(mel power), n_mfcc)``: orthonormal DCT-II of the log-mel spectrogram."""
    import scipy.fft

    log_mel = power_to_db(mel_filterbank(sr, 2 * (power.shape[0] - 1)) @ power)
    return scipy.fft.dct(log_mel, axis=-2, type=2, norm="ortho")[:n_mfcc]


def _parabolic_shift(s: np.ndarray) -> np.ndarray:
    """Vertex offset of the parabola through each bin and its two neighbours along frequency (librosa's
    ``_parabolic_interpolation``; 0 at the edges and where the offset would exceed one bin)."""
    shift = np.zeros_like(s)
    a = (s[2:] + s[:-2]).astype(np.float64) - 2 * s[1:-1].astype(np.float64)
    b = (s[2:] - s[:-2]).astype(np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift[1:-1] = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a)
    return shift


def _local_max(x: np.ndarray) -> np.ndarray:
    """librosa ``util.localmax`` along axis 0: ``x[i] > x[i-1]`` and ``x[i] >= x[i+1]``; the first row is never a
    maximum, the last is when it exceeds its neighbour."""
    out = np.zeros(x.shape, dtype=bool)
    out[1:-1] = (x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])
    out[-1] = x[-1] > x[-2]
    return out


def estimate_tuning(power: np.ndarray, sr: int, bins_per_octave: int = 12) -> float:
    """``librosa.estimate_tuning(S=power, sr=sr, bins_per_octave=...)``: the deviation from A440 (in fractions of
    a bin) most common among the spectral peaks between 150 Hz and 4 kHz (``piptrack`` with threshold 0.1, peaks
    at or above the median magnitude, histogram of resolution 0.01); 0 when there is no peak."""
    s = np.abs(power)
    n_fft = 2 * (s.shape[0] - 1)
    freqs = _fft_frequencies(sr, n_fft)
    avg = np.gradient(s, axis=0)
    shift = _parabolic_shift(s)
    dskew = 0.5 * avg * shift
    band = ((150.0 <= freqs) & (freqs < min(4000.0, sr / 2.0)))[:, None]
    ref = 0.1 * np.max(s, axis=0, keepdims=True)
    idx = np.nonzero(band & _local_max(s * (s > ref)))
    pitches, mags = np.zeros_like(s), np.zeros_like(s)
    pitches[idx] = (idx[0] + shift[idx]) * float(sr) / n_fft
    mags[idx] = s[idx] + dskew[idx]
    has_pitch = pitches > 0
    threshold = np.median(mags[has_pitch]) if has_pitch.any() else 0.0
    f = pitches[(mags >= threshold) & has_pitch]
    f = f[f > 0]
    if not f.size:
        return 0.0
    residual = np.mod(bins_per_octave * np.log2(f / (440.0 / 16)), 1.0)
    residual[residual >= 0.5] -= 1.0
    counts, edges = np.histogram(residual, np.linspace(-0.5, 0.5, 101))
    return float(edges[np.argmax(counts)])


def chroma_filterbank(sr: int, n_fft: int, tuning: float, n_chroma: int = 12) -> np.ndarray:
    """``librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=n_chroma)`` (Gaussian bumps per pitch
    class, L2-normalised columns, octave weighting centred on octave 5 with width 2, starting at C; float32)."""
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    a440 = 440.0 * 2.0 ** (tuning / n_chroma)
    frqbins = n_chroma * np.log2(frequencies / (a440 / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidth = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    d = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    half = np.round(float(n_chroma) / 2)
    d = np.remainder(d + half + 10 * n_chroma, n_chroma) - half
    wts = np.exp(-0.5 * (2 * d / np.tile(binwidth, (n_chroma, 1))) ** 2)
    wts = _normalize(wts, 2, axis=0)
    wts *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - 5.0) / 2) ** 2)), (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)], dtype=np.float32)


def chroma(power: np.ndarray, sr: int, n_chroma: int = 12) -> np.ndarray:
    """``librosa.feature.chroma_stft(S=power, sr=sr)``: tuning estimated from ``power``, max-normalised frames."""
    fb = chroma_filterbank(sr, 2 * (power.shape[0] - 1), estimate_tuning(power, sr, n_chroma), n_chroma)
    return _normalize(fb @ power, np.inf, axis=0)


def spectral_contrast(mag: np.ndarray, sr: int, fmin: float = 200.0, n_bands: int = 6,
                      quantile: float = 0.02) -> np.ndarray:
    """``librosa.feature.spectral_contrast(S=mag, sr=sr)``: per octave band (from ``fmin``), the dB difference of
    the mean of the top and bottom ``quantile`` of bins; ``n_bands + 1`` rows."""
    freq = _fft_frequencies(sr, 2 * (mag.shape[0] - 1))
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    valley = np.zeros((n_bands + 1, mag.shape[1]))
    peak = np.zeros_like(valley)
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:])):
        band = (freq >= f_low) & (freq <= f_high)
        idx = np.flatnonzero(band)
        if k > 0:
            band[idx[0] - 1] = True
        if k == n_bands:
            band[idx[-1] + 1:] = True
        sub = mag[band]
        if k < n_bands:
            sub = sub[:-1]
        take = int(max(np.rint(quantile * np.sum(band)), 1))
        ordered = np.sort(sub, axis=0)
        valley[k] = np.mean(ordered[:take], axis=0)
        peak[k] = np.mean(ordered[-take:], axis=0)
    return power_to_db(peak) - power_to_db(valley)


def zero_crossing_rate(y: np.ndarray, frame_length: int = 2048, hop: int = 512,
                       threshold: float = 1e-10) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate(y)``: per centred frame (edge padding), the share of the frame's
    samples whose sign bit differs from the previous sample's (samples within ``threshold`` of 0 count as +0; the
    first sample of a frame never counts). ``(1, n_frames)``."""
    padded = np.pad(np.asarray(y), frame_length // 2, mode="edge")
    sign = np.signbit(np.where(np.abs(padded) <= threshold, 0.0, padded))
    changes = np.concatenate([[0], np.cumsum(sign[1:] != sign[:-1])])
    starts = np.arange(1 + (padded.size - frame_length) // hop) * hop
    return ((changes[starts + frame_length - 1] - changes[starts]) / frame_length)[None, :]


def spectral_rolloff(mag: np.ndarray, sr: int, roll_percent: float = 0.85) -> np.ndarray:
    """``librosa.feature.spectral_rolloff(S=mag, sr=sr)``: the lowest bin frequency below which ``roll_percent``
    of the frame's magnitude lies. ``(1, n_frames)``."""
    freq = _fft_frequencies(sr, 2 * (mag.shape[0] - 1))[:, None]
    total = np.cumsum(mag, axis=0)
    threshold = roll_percent * total[-1:]
    return np.nanmin(np.where(total < threshold, np.nan, 1) * freq, axis=0, keepdims=True)


def spectral_centroid(mag: np.ndarray, sr: int) -> np.ndarray:
    """``librosa.feature.spectral_centroid(S=mag, sr=sr)``: magnitude-weighted mean frequency. ``(1, n_frames)``."""
    freq = _fft_frequencies(sr, 2 * (mag.shape[0] - 1))[:, None]
    return np.sum(freq * _normalize(mag, 1, axis=0), axis=0, keepdims=True)


def rms(y: np.ndarray, frame_length: int = 2048, hop: int = 512) -> np.ndarray:
    """``librosa.feature.rms(y=y)``: root mean square of each centred (zero-padded) frame. ``(1, n_frames)``."""
    frames = _frames(np.pad(np.asarray(y), frame_length // 2), frame_length, hop)
    return np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=1))[None, :]
