"""One fingerprint of a raw corpus release, used by the builders' cache and by the pipeline's stage hash: if any file
a reader uses changes, the fingerprint changes and the corpus is read again.

Label and transcript files are small and hashed **by content** (an edit that keeps a file's size and modification
time, e.g. a one-letter label fix restored to its old mtime by a sync tool, still changes the fingerprint); audio
files are hashed by path, size and modification time (hashing their content would read the whole corpus, GBs, at
each run; a replaced or restored wav changes its size or mtime). An ``ids_file`` is hashed by content too.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from hf_ambiguity.corpora.msp_labels import LABEL_DIRS

__all__ = ["corpus_fingerprint", "CorpusFiles", "CORPUS_FILES"]


@dataclass(frozen=True)
class CorpusFiles:
    """Glob patterns (relative to ``data_dir``) of the files a corpus reader uses."""

    text: tuple[str, ...]   # label and transcript files: hashed by content
    audio: tuple[str, ...]  # audio files: hashed by size and modification time


_IEMOCAP_TEXT = ("Session*/dialog/EmoEvaluation/*.txt", "Session*/dialog/transcriptions/*.txt")
_IEMOCAP_AUDIO = ("Session*/sentences/wav/*/*.wav",)

#: The files each corpus reader uses (IEMOCAP: ``data_dir`` may be the folder holding ``IEMOCAP_full_release``).
CORPUS_FILES: Mapping[str, CorpusFiles] = {
    "iemocap": CorpusFiles(text=_IEMOCAP_TEXT + tuple(f"IEMOCAP_full_release/{g}" for g in _IEMOCAP_TEXT),
                           audio=_IEMOCAP_AUDIO + tuple(f"IEMOCAP_full_release/{g}" for g in _IEMOCAP_AUDIO)),
    "msp-podcast": CorpusFiles(text=tuple(f"{d}/*" for d in LABEL_DIRS) + ("Transcripts/*.txt",),
                               audio=("Audios/**/*",)),
}


def corpus_fingerprint(corpus: str, data_dir: str | os.PathLike[str], *,
                       ids_file: str | os.PathLike[str] | None = None) -> str:
    """A 16-hex-digit hash of the files ``corpus``'s reader uses under ``data_dir`` (see the module docstring).

    ``corpus`` is ``iemocap`` or ``msp-podcast`` (a key of :data:`CORPUS_FILES`); a missing ``data_dir`` hashes
    to the fingerprint of an empty folder (the reader then says what is missing).
    """
    if corpus not in CORPUS_FILES:
        raise ValueError(f"corpus must be one of {sorted(CORPUS_FILES)}, got {corpus!r}")
    files = CORPUS_FILES[corpus]
    root = Path(data_dir).expanduser()
    h = hashlib.sha256(f"{corpus}\n".encode())
    for patterns, by_content in ((files.text, True), (files.audio, False)):
        paths = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
        for path in paths:
            h.update(f"{path.relative_to(root).as_posix()}\0{_digest(path, by_content)}\n".encode())
    if ids_file is not None:
        h.update(f"ids_file\0{_digest(Path(ids_file).expanduser(), True)}\n".encode())
    return h.hexdigest()[:16]


def _digest(path: Path, by_content: bool) -> str:
    try:
        if by_content:
            with open(path, "rb") as fh:
                return hashlib.file_digest(fh, "sha256").hexdigest()
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    except OSError as err:  # unreadable: the reader reports it; the fingerprint still changes when it is fixed
        return f"unreadable:{err.errno}"
