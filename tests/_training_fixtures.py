"""Fixtures of the training tests: a tiny emotion dataset with the schema columns and generated audio.

Each utterance is a short tone whose pitch depends on its dominant class (so a model can actually fit it), with a
target distribution peaked on that class; ``session`` 1–2 (IEMOCAP-like) so speaker splits work too.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

CLASSES = ["neutral", "happy", "angry", "sad"]
TINY_MODEL_DIR_ENV = "HF_AMBIGUITY_TINY_ALM_DIR"


def wav_bytes(y: np.ndarray, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_rows(n: int, *, seed: int = 0, seconds: float = 0.5) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("id", "corpus", "speaker", "session", "audio", "transcript", "human_dist",
                                             "combined_dist", "ambiguity", "majority_label")}
    levels = ["low", "medium", "high"]
    for i in range(n):
        c = i % len(CLASSES)
        t = np.arange(int(seconds * 16000)) / 16000
        y = 0.3 * np.sin(2 * np.pi * (200 + 150 * c) * t) + 0.01 * rng.standard_normal(t.size)
        human = np.full(len(CLASSES), 0.1 / 3)
        human[c] = 0.9
        comb = 0.5 * human + 0.5 * rng.dirichlet(np.ones(len(CLASSES)))
        comb = comb / comb.sum()
        cols["id"].append(f"utt_{i:03d}")
        cols["corpus"].append("synthetic")
        cols["speaker"].append(f"S{i % 4}")
        cols["session"].append(1 + i % 2)
        cols["audio"].append({"bytes": wav_bytes(y), "path": None})
        cols["transcript"].append(["oh no", "what a wonderful day", "I can't believe you did that", "fine"][c])
        cols["human_dist"].append(human.tolist())
        cols["combined_dist"].append(comb.tolist())
        cols["ambiguity"].append(levels[i % 3])
        cols["majority_label"].append(c)
    return cols


def make_dataset(n: int = 12, *, seed: int = 0, seconds: float = 0.5):
    """A ``datasets.Dataset`` with the schema's columns used by training (class order = :data:`CLASSES`)."""
    from datasets import Audio, ClassLabel, Dataset, Features, Sequence, Value

    features = Features({
        "id": Value("string"), "corpus": Value("string"), "speaker": Value("string"), "session": Value("int32"),
        "audio": Audio(sampling_rate=16000), "transcript": Value("string"),
        "human_dist": Sequence(Value("float64")), "combined_dist": Sequence(Value("float64")),
        "ambiguity": Value("string"), "majority_label": ClassLabel(names=CLASSES),
    })
    return Dataset.from_dict(make_rows(n, seed=seed, seconds=seconds), features=features)


def save_dataset(folder: Path, n: int = 12, **kw) -> Path:
    ds = make_dataset(n, **kw)
    ds.save_to_disk(str(folder))
    return folder


def tiny_model(cache_root: Path) -> Path:
    """The tiny Qwen2-Audio of :mod:`hf_ambiguity.tiny_alm` (cached across tests)."""
    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    return build_tiny_qwen2_audio(Path(os.environ.get(TINY_MODEL_DIR_ENV, cache_root / "tiny_qwen2_audio")))
