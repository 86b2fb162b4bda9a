"""In-memory datasets with the schema.py columns and generated WAV audio, for the DiME-Aug tests."""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
import soundfile as sf

CLASSES = ("neutral", "happy", "angry", "sad")
SR = 16000


def wav_bytes(y: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def tone(rng: np.random.Generator, cls: int, n_samples: int) -> np.ndarray:
    """A class-dependent tone with noise, amplitude ~0.3, on the 16-bit PCM grid (so decoding is exact)."""
    t = np.arange(n_samples) / SR
    f0 = 150.0 * (cls + 1) * rng.uniform(0.9, 1.1)
    y = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.02 * rng.standard_normal(n_samples)
    return np.clip(np.round(y * 32768), -32768, 32767) / 32768  # exactly representable in 16-bit PCM


def make_dataset(class_counts: Sequence[int], *, seed: int = 0, transcript: bool = True,
                 min_len: int = 2400, max_len: int = 6400, audio_override: dict[int, np.ndarray] | None = None,
                 dist_override: dict[int, object] | None = None, prefix: str = "utt"):
    """A dataset with ``class_counts[c]`` rows whose human_dist has argmax c; returns (dataset, waveforms)."""
    import datasets

    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in (
        "id", "corpus", "speaker", "gender", "audio", "transcript", "annotators", "raw_answers", "human_votes",
        "human_dist", "synthetic_dist", "n_annotators", "entropy", "ambiguity", "majority_label", "has_majority")}
    waves = []
    r = 0
    levels = ("low", "medium", "high")
    for c, count in enumerate(class_counts):
        for m in range(count):
            votes = np.zeros(len(CLASSES), dtype=int)
            votes[c] = 3
            other = int(rng.integers(len(CLASSES)))
            if other != c:
                votes[other] += int(rng.integers(0, 3))
            dist = (votes / votes.sum()).astype(np.float32).astype(np.float64).tolist()
            y = (audio_override or {}).get(r)
            if y is None:
                y = tone(rng, c, int(rng.integers(min_len, max_len)))
            waves.append(np.asarray(y, dtype=np.float32))
            rows["id"].append(f"{prefix}{r:04d}")
            rows["corpus"].append("iemocap")
            rows["speaker"].append(f"spk{r % 3}")
            rows["gender"].append("F" if r % 2 else "M")
            rows["audio"].append({"bytes": wav_bytes(y), "path": f"{prefix}{r:04d}.wav"})
            rows["transcript"].append(["Hello there.", "Really? No way!", "[LAUGHTER] okay, fine", ""][r % 4])
            rows["annotators"].append(["E1", "E2", "E3"])
            rows["raw_answers"].append(["Neutral", "Happiness", "Anger"])
            rows["human_votes"].append(votes.tolist())
            rows["human_dist"].append((dist_override or {}).get(r, dist))
            rows["synthetic_dist"].append(np.roll(dist, 1).tolist() if r % 5 else None)
            rows["n_annotators"].append(int(votes.sum()))
            rows["entropy"].append(0.5)
            rows["ambiguity"].append(levels[m % 3])
            rows["majority_label"].append(c)
            rows["has_majority"].append(True)
            r += 1
    features = datasets.Features({
        "id": datasets.Value("string"), "corpus": datasets.Value("string"), "speaker": datasets.Value("string"),
        "gender": datasets.Value("string"), "audio": datasets.Audio(sampling_rate=SR),
        "transcript": datasets.Value("string"), "annotators": datasets.List(datasets.Value("string")),
        "raw_answers": datasets.List(datasets.Value("string")),
        "human_votes": datasets.List(datasets.Value("float32")),  # as hf_ambiguity.builders.features
        "human_dist": datasets.List(datasets.Value("float32")),
        "synthetic_dist": datasets.List(datasets.Value("float32")),
        "n_annotators": datasets.Value("int32"), "entropy": datasets.Value("float32"),
        "ambiguity": datasets.Value("string"), "majority_label": datasets.ClassLabel(names=list(CLASSES)),
        "has_majority": datasets.Value("bool"),
    })
    if not transcript:
        rows.pop("transcript")
        del features["transcript"]
    return datasets.Dataset.from_dict(rows, features=features), waves


def decode(cell) -> np.ndarray:
    """Mono float waveform of a decoded datasets 5 audio cell (torchcodec AudioDecoder)."""
    return cell.get_all_samples().data.mean(dim=0).numpy().astype(np.float64)
