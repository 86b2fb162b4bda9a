"""Decode an ``Audio`` cell to a mono float32 waveform and encode a waveform back to WAV bytes.

DiME-Aug reads its sources with ``Audio(decode=False)`` (a ``{"bytes", "path"}`` dict per row) so that it controls
decoding: libsndfile (``soundfile``) for the formats it reads (WAV, FLAC, OGG, MP3), resampled with ``librosa`` to
the project rate, and ``torchcodec`` (what ``datasets`` itself uses) for anything else. Outputs are 16-bit PCM WAV
bytes, which every audio tool and ``datasets.Audio`` read.

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

__all__ = ["SAMPLING_RATE", "decode_audio", "encode_wav"]

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
