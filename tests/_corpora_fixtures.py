"""Shared helpers of the corpus-reader tests: small corpora in the real layouts, written per test."""

from __future__ import annotations

from pathlib import Path

from hf_ambiguity.demo import write_iemocap_layout, write_msp_layout


def iemocap_corpus(tmp_path: Path, **kwargs) -> Path:
    """The example IEMOCAP turns (every quirk) under ``tmp_path/IEMOCAP_full_release``."""
    return write_iemocap_layout(tmp_path / "IEMOCAP_full_release", **kwargs)


def msp_corpus(tmp_path: Path, **kwargs) -> Path:
    """The example MSP-Podcast files (every quirk) under ``tmp_path/MSP-Podcast``."""
    return write_msp_layout(tmp_path / "MSP-Podcast", **kwargs)


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
