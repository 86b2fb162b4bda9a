"""Helpers shared by the tests (imported as ``from helpers import ...``; the fixtures are in ``conftest.py``):
a small dataset with the schema columns and generated audio, and corpora in the real release layouts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import soundfile as sf

from hf_ambiguity.demo import write_iemocap_layout, write_msp_layout

CLASSES = ["neutral", "happy", "angry", "sad"]
SR = 16000
IEMOCAP_BAD_FILE = "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
_LEVELS = ("low", "medium", "high")
_TRANSCRIPTS = ("Hello there.", "Really? No way!", "[LAUGHTER] okay, fine", "")


# ------------------------------------------------------------------------------------------------ datasets


def wav_bytes(y: np.ndarray, sr: int = SR) -> bytes:
    """16-bit PCM WAV bytes of a mono waveform."""
    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def tone(rng: np.random.Generator, cls: int, n_samples: int) -> np.ndarray:
    """A class-dependent tone with noise, amplitude ~0.3, on the 16-bit PCM grid (so decoding is exact): the
    pitch says the class, so a model can learn it."""
    t = np.arange(n_samples) / SR
    f0 = 150.0 * (cls + 1) * rng.uniform(0.9, 1.1)
    y = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.02 * rng.standard_normal(n_samples)
    return np.clip(np.round(y * 32768), -32768, 32767) / 32768


def make_dataset(size: int | Sequence[int], *, seed: int = 0, seconds: float | None = None, min_len: int = 2400,
                 max_len: int = 6400, transcripts: bool = True, prefix: str = "utt",
                 audio_override: dict[int, np.ndarray] | None = None, dist_override: dict[int, object] | None = None,
                 return_waves: bool = False) -> Any:
    """A ``datasets.Dataset`` with the columns of a built corpus (:mod:`hf_ambiguity.schema`) and generated audio.

    ``size``: a number of rows (row ``r``'s dominant class is ``r % 4``) or one count per class (the rows of class
    0, then class 1, ...). Each row has 3 human votes for its dominant class plus 0-2 for another, a class-dependent
    tone of ``seconds`` (or a random ``min_len``-``max_len`` samples), ``session`` 1-2, ``speaker`` ``spk0-3``,
    ``synthetic_dist`` (null every 5th row), ``combined_dist``, and ``ambiguity`` cycling low / medium / high within
    a class. ``audio_override`` / ``dist_override`` replace the waveform / ``human_dist`` of given rows.
    ``return_waves``: return ``(dataset, waveforms)``.
    """
    import datasets

    counts = [size // len(CLASSES) + (c < size % len(CLASSES)) for c in range(len(CLASSES))] \
        if isinstance(size, int) else list(size)
    classes = [c for c, n in enumerate(counts) for _ in range(n)] if not isinstance(size, int) \
        else [r % len(CLASSES) for r in range(size)]
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {k: [] for k in (
        "id", "corpus", "session", "speaker", "gender", "audio", "transcript", "annotators", "raw_answers",
        "human_labels", "human_votes", "human_dist", "synthetic_dist", "combined_dist", "n_annotators", "entropy",
        "ambiguity", "majority_label", "has_majority")}
    waves = []
    seen = [0] * len(CLASSES)
    for r, c in enumerate(classes):
        votes = np.zeros(len(CLASSES), dtype=int)
        votes[c] = 3
        other = int(rng.integers(len(CLASSES)))
        if other != c:
            votes[other] += int(rng.integers(0, 3))
        dist = (votes / votes.sum()).astype(np.float32).astype(np.float64).tolist()
        y = (audio_override or {}).get(r)
        if y is None:
            n = int(seconds * SR) if seconds is not None else int(rng.integers(min_len, max_len))
            y = tone(rng, c, n)
        waves.append(np.asarray(y, dtype=np.float32))
        comb = 0.5 * np.asarray(dist) + 0.5 * rng.dirichlet(np.ones(len(CLASSES)))
        rows["id"].append(f"{prefix}{r:04d}")
        rows["corpus"].append("iemocap")
        rows["session"].append(1 + r % 2)
        rows["speaker"].append(f"spk{r % 4}")
        rows["gender"].append("F" if r % 2 else "M")
        rows["audio"].append({"bytes": wav_bytes(y), "path": f"{prefix}{r:04d}.wav"})
        rows["transcript"].append(_TRANSCRIPTS[r % 4])
        rows["annotators"].append([f"E{i + 1}" for i in range(int(votes.sum()))])
        rows["raw_answers"].append([CLASSES[k] for k in range(len(CLASSES)) for _ in range(votes[k])])
        rows["human_labels"].append([CLASSES[k] for k in range(len(CLASSES)) for _ in range(votes[k])])
        rows["human_votes"].append(votes.tolist())
        rows["human_dist"].append((dist_override or {}).get(r, dist))
        rows["synthetic_dist"].append(np.roll(dist, 1).tolist() if r % 5 else None)
        rows["combined_dist"].append((comb / comb.sum()).tolist())
        rows["n_annotators"].append(int(votes.sum()))
        rows["entropy"].append(0.5)
        rows["ambiguity"].append(_LEVELS[seen[c] % 3])
        rows["majority_label"].append(c)
        rows["has_majority"].append(True)
        seen[c] += 1
    floats = datasets.List(datasets.Value("float32"))  # built datasets use float64: readers must take both
    strings = datasets.List(datasets.Value("string"))
    features = datasets.Features({
        "id": datasets.Value("string"), "corpus": datasets.Value("string"), "session": datasets.Value("int32"),
        "speaker": datasets.Value("string"), "gender": datasets.Value("string"),
        "audio": datasets.Audio(sampling_rate=SR), "transcript": datasets.Value("string"),
        "annotators": strings, "raw_answers": strings, "human_labels": strings, "human_votes": floats,
        "human_dist": floats, "synthetic_dist": floats, "combined_dist": floats,
        "n_annotators": datasets.Value("int32"), "entropy": datasets.Value("float32"),
        "ambiguity": datasets.Value("string"), "majority_label": datasets.ClassLabel(names=list(CLASSES)),
        "has_majority": datasets.Value("bool"),
    })
    if not transcripts:
        rows.pop("transcript")
        del features["transcript"]
    ds = datasets.Dataset.from_dict(rows, features=features)
    return (ds, waves) if return_waves else ds


def save_dataset(folder: Path, size: int | Sequence[int] = 12, **kwargs: Any) -> Path:
    """:func:`make_dataset` written with ``save_to_disk`` to ``folder``."""
    make_dataset(size, **kwargs).save_to_disk(str(folder))
    return folder


def decode(cell: Any) -> np.ndarray:
    """Mono float waveform of a decoded datasets 5 audio cell (torchcodec AudioDecoder)."""
    return cell.get_all_samples().data.mean(dim=0).numpy().astype(np.float64)


def decoded_samples(audio: Any) -> np.ndarray:
    """Samples of a decoded ``Audio`` cell (torchcodec AudioDecoder), shape (samples,)."""
    return audio.get_all_samples().data.numpy()[0]


def wav_samples(path: Path) -> np.ndarray:
    return sf.read(str(path), dtype="float32")[0]


def without_audio(ds: Any) -> list[dict[str, Any]]:
    """The rows of a Dataset as plain dicts, audio column removed."""
    return ds.remove_columns("audio").to_list()


# ------------------------------------------------------------------------------------------------ corpora


def iemocap_corpus(tmp_path: Path, **kwargs: Any) -> Path:
    """The example IEMOCAP turns (every quirk) under ``tmp_path/IEMOCAP_full_release``."""
    return write_iemocap_layout(tmp_path / "IEMOCAP_full_release", **kwargs)


def msp_corpus(tmp_path: Path, **kwargs: Any) -> Path:
    """The example MSP-Podcast files (every quirk) under ``tmp_path/MSP-Podcast``."""
    return write_msp_layout(tmp_path / "MSP-Podcast", **kwargs)


def write_corpora(root: Path) -> tuple[Path, Path]:
    """The example IEMOCAP and MSP-Podcast corpora (every quirk the readers handle) under ``root``."""
    return iemocap_corpus(root), msp_corpus(root)


def replace_in_file(path: Path, old: str, new: str) -> None:
    """Replace one exact piece of a corpus file (bytes as latin-1), failing loudly when it is not there."""
    data = path.read_bytes().decode("latin-1")
    assert old in data, f"{old!r} not in {path}"
    path.write_bytes(data.replace(old, new, 1).encode("latin-1"))


def line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of ``path`` containing ``needle``."""
    for i, line in enumerate(path.read_bytes().decode("latin-1").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def break_iemocap(root: Path) -> tuple[int, str]:
    """Corrupt one categorical line of Ses01F_impro01 and delete one wav. Returns (bad line number, deleted id)."""
    path = root / IEMOCAP_BAD_FILE
    lines = path.read_bytes().decode("latin-1").split("\r\n")
    lineno = next(i for i, line in enumerate(lines, start=1) if line.startswith("C-E2:"))
    lines[lineno - 1] = lines[lineno - 1].replace("C-E2:", "C-E2 ", 1)
    path.write_bytes("\r\n".join(lines).encode("latin-1"))
    deleted = "Ses05M_script01_1b_F012"
    (root / "Session5/sentences/wav/Ses05M_script01_1b" / f"{deleted}.wav").unlink()
    return lineno, deleted
