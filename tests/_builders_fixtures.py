"""Shared helpers of the builder / hub tests: fixture corpora written with the demo layout writers, and row
comparison that ignores the audio column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from hf_ambiguity.demo import write_iemocap_layout, write_msp_layout

IEMOCAP_BAD_FILE = "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"


def write_corpora(root: Path) -> tuple[Path, Path]:
    """The example IEMOCAP and MSP-Podcast corpora (every quirk the readers handle) under ``root``."""
    return write_iemocap_layout(root / "IEMOCAP_full_release"), write_msp_layout(root / "MSP-Podcast")


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


def without_audio(ds: Any) -> list[dict[str, Any]]:
    """The rows of a Dataset as plain dicts, audio column removed."""
    return ds.remove_columns("audio").to_list()


def decoded_samples(audio: Any) -> np.ndarray:
    """Samples of a decoded ``Audio`` cell (torchcodec AudioDecoder), shape (samples,)."""
    return audio.get_all_samples().data.numpy()[0]


def wav_samples(path: Path) -> np.ndarray:
    return sf.read(str(path), dtype="float32")[0]
