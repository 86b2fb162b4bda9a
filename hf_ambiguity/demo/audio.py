"""Short synthetic audio for test and demo corpora: generated voiced signals, or speech from ``espeak-ng``.

Nothing here pretends to be emotional speech; it only has to look like speech to the pipeline (a voiced, varying
pitch contour with syllable-like amplitude modulation, or real synthetic speech) and be deterministic.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from hf_ambiguity.audio import SAMPLING_RATE

__all__ = ["voiced_signal", "espeak_available", "espeak_speech"]



def voiced_signal(duration: float, *, f0: float = 140.0, rate: float = 4.0, amplitude: float = 0.3,
                  sample_rate: int = SAMPLING_RATE, seed: int = 0) -> np.ndarray:
    """A speech-like voiced signal: harmonics of a drifting ``f0`` with ``rate`` syllables per second.

    >>> x = voiced_signal(0.5, seed=1)
    >>> x.shape, x.dtype.name, bool(np.abs(x).max() <= 1.0)
    ((8000,), 'float32', True)
    """
    rng = np.random.default_rng(seed)
    n = max(1, int(round(duration * sample_rate)))
    t = np.arange(n) / sample_rate
    contour = f0 * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(contour) / sample_rate
    harmonics = sum((0.6 ** k) * np.sin(k * phase) for k in range(1, 6))
    syllables = 0.5 * (1 - np.cos(2 * np.pi * rate * t + rng.uniform(0, np.pi)))
    noise = 0.02 * rng.standard_normal(n)
    x = amplitude * (harmonics / 1.6) * syllables + noise * amplitude
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on the PATH."""
    return shutil.which("espeak-ng") is not None


def espeak_speech(text: str, *, pitch: int = 50, speed: int = 160, amplitude: int = 100, voice: str = "en-us",
                  sample_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Synthesise ``text`` with ``espeak-ng`` (pitch 0-99, speed in words/min, amplitude 0-200), as float32 mono
    at ``sample_rate``. Raises ``RuntimeError`` when espeak-ng is missing or fails."""
    import soundfile
    from scipy.signal import resample_poly

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        cmd = [exe, "-v", voice, "-p", str(int(pitch)), "-s", str(int(speed)), "-a", str(int(amplitude)),
               "-w", str(wav), text]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.strip()}")
        x, sr = soundfile.read(str(wav), dtype="float32", always_2d=False)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != sample_rate:
        g = np.gcd(int(sr), int(sample_rate))
        x = resample_poly(x, sample_rate // g, int(sr) // g).astype(np.float32)
    return np.clip(x, -1.0, 1.0).astype(np.float32)
