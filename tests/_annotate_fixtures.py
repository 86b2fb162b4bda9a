"""Shared helpers of the annotation tests: the tiny ALM (built once per session) and small in-memory datasets."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

CLASSES = ["neutral", "happy", "angry", "sad"]


def wav_bytes(seconds: float, seed: int, sr: int = 16000) -> bytes:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * (120 + 40 * seed % 200) * t) + 0.02 * rng.standard_normal(t.size)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_dataset(n: int = 6, *, seed: int = 0, seconds: float = 0.6, transcripts: bool = True):
    """A schema-conforming ``Dataset`` (id, audio, transcript, speaker, human_votes/dist, majority_label)."""
    from datasets import Audio, ClassLabel, Dataset, Features, List, Value

    rng = np.random.default_rng(seed)
    votes = rng.integers(0, 3, size=(n, len(CLASSES))).astype(float)
    votes[votes.sum(axis=1) == 0, 0] = 1.0
    features = Features({
        "id": Value("string"), "audio": Audio(sampling_rate=16000), "transcript": Value("string"),
        "speaker": Value("string"), "human_votes": List(Value("float64")), "human_dist": List(Value("float64")),
        "majority_label": ClassLabel(names=CLASSES),
    })
    data = {
        "id": [f"utt{i:03d}" for i in range(n)],
        "audio": [{"bytes": wav_bytes(seconds + 0.1 * (i % 3), seed * 1000 + i), "path": None} for i in range(n)],
        "transcript": [(f"sentence number {i}" if transcripts and i % 4 else "") for i in range(n)],
        "speaker": [f"spk{i % 2}" for i in range(n)],
        "human_votes": votes.tolist(),
        "human_dist": (votes / votes.sum(axis=1, keepdims=True)).tolist(),
        "majority_label": votes.argmax(axis=1).tolist(),
    }
    return Dataset.from_dict(data, features=features)


def tiny_model_dir(base: Path) -> Path:
    from hf_ambiguity.tiny_alm import build_tiny_qwen2_audio

    return build_tiny_qwen2_audio(base / "tiny-qwen2-audio")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny Qwen2-Audio checkpoint, built once per session (cached on disk)."""
    return tiny_model_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def tiny_annotator(tiny_model):
    from hf_ambiguity.alm.local import TransformersAnnotator

    return TransformersAnnotator(str(tiny_model))


@pytest.fixture(scope="module", autouse=False)
def one_torch_thread():
    """Run a module's tiny-model work on one torch thread (OpenMP spin contention makes 2 threads on a shared,
    loaded 2-core machine several times slower), restoring the previous setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
