"""Audio for every stage: the project's sampling rate, decoding an ``Audio`` cell to a mono float32 waveform, and
encoding a waveform back to WAV bytes (the one place these are defined).

Undecoded cells (``Audio(decode=False)``: a ``{"bytes", "path"}`` dict per row) are decoded here: libsndfile
(``soundfile``) for the formats it reads (WAV, FLAC, OGG, MP3), resampled with ``librosa`` to the project rate, and
``torchcodec`` (what ``datasets`` itself uses) for anything else. Reading a column undecoded and decoding here is
much cheaper than letting ``datasets`` create one torchcodec decoder per clip. Outputs are 16-bit PCM WAV bytes,
which every audio tool, hosted ALM API and ``datasets.Audio`` read.

>>> import numpy as np
>>> y = np.array([0.0, 0.5, -0.5, 0.25], dtype=np.float32)
>>> decode_audio({"bytes": encode_wav(y), "path": None}).round(4).tolist()
[0.0, 0.5, -0.5, 0.25]
"""

from __future__ import annotations

import io
from typing import Any, Mapping

import numpy as np
import soundfile as sf

from hf_ambiguity.errors import DataError

__all__ = ["SAMPLING_RATE", "decode_audio", "encode_wav", "waveform"]

#: The sampling rate of every hf-ambiguity dataset (``Audio(sampling_rate=16000)``).
SAMPLING_RATE = 16000


def _source(value: Mapping[str, Any]) -> bytes | str:
    if not isinstance(value, Mapping) or (value.get("bytes") is None and not value.get("path")):
        raise ValueError(
            f"audio cell must be a {{'bytes', 'path'}} dict with bytes or a path, got {type(value).__name__}; "
            "cast the column with datasets.Audio(decode=False) first"
        )
    return value["bytes"] if value.get("bytes") is not None else value["path"]


def decode_audio(value: Mapping[str, Any], sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Mono float32 waveform of an undecoded ``Audio`` cell, resampled to ``sampling_rate``; shape ``(n_samples,)``.

    Channels are averaged. A zero-length file gives an empty array (the caller decides what that means).
    """
    src = _source(value)
    try:
        data, sr = sf.read(io.BytesIO(src) if isinstance(src, bytes) else src, dtype="float32", always_2d=True)
        y = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    except (sf.LibsndfileError, RuntimeError):
        from torchcodec.decoders import AudioDecoder

        samples = AudioDecoder(src, sample_rate=sampling_rate).get_all_samples()
        return np.ascontiguousarray(samples.data.mean(dim=0).numpy(), dtype=np.float32)
    if sr != sampling_rate and y.size:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=sampling_rate)
    return np.ascontiguousarray(y, dtype=np.float32)


def encode_wav(y: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> bytes:
    """16-bit PCM WAV bytes of a mono waveform in [-1, 1] (values outside are clipped)."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(y, dtype=np.float32), -1.0, 1.0), sampling_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def waveform(value: Any, *, expected_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Mono float32 samples ``(n_samples,)`` and their rate, from any ``Audio`` cell: decoded by ``datasets``
    (a torchcodec ``AudioDecoder`` or an ``{"array", "sampling_rate"}`` dict) or undecoded (``{"bytes", "path"}``,
    decoded at :data:`SAMPLING_RATE`). Channels are averaged.

    With ``expected_rate``, a clip at another rate raises :class:`~hf_ambiguity.errors.DataError` (cast the column
    to ``datasets.Audio(sampling_rate=...)`` to resample it).

    >>> y, sr = waveform({"array": np.zeros((2, 4)), "sampling_rate": 8000})
    >>> y.shape, sr
    ((4,), 8000)
    """
    if hasattr(value, "get_all_samples"):
        samples = value.get_all_samples()
        data, sr = samples.data.numpy(), int(samples.sample_rate)
    elif isinstance(value, Mapping) and "array" in value:
        data, sr = np.asarray(value["array"]), int(value["sampling_rate"])
    elif isinstance(value, Mapping) and (value.get("bytes") is not None or value.get("path")):
        data, sr = decode_audio(value), SAMPLING_RATE
    else:
        raise DataError(f"cannot read audio from a {type(value).__name__}; cast the column to "
                        f"datasets.Audio(sampling_rate={expected_rate or SAMPLING_RATE})")
    if expected_rate is not None and sr != expected_rate:
        raise DataError(f"audio decoded at {sr} Hz but {expected_rate} Hz is needed; cast the column to "
                        f"Audio(sampling_rate={expected_rate})")
    data = data.astype(np.float32, copy=False)
    return (data.mean(axis=0) if data.ndim == 2 else data), sr
