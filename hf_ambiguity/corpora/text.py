"""Reading the small text files of a corpus release (label, transcript and id-list files): bytes → text the way
the releases are actually encoded, and an unreadable file turned into an error that names it.

Releases are not consistently encoded. IEMOCAP's files are ASCII with the odd latin-1 or Windows-1252 byte in
free text; files re-saved by an editor may be UTF-8, with or without a byte-order mark. :func:`decode_text`:

- strips a UTF-8 byte-order mark (an editor adds one; left in place it glues ``ï»¿`` to the first line);
- decodes UTF-8 when the bytes are valid UTF-8 (text that is latin-1 but happens to be valid UTF-8 needs byte
  pairs such as ``Ã©`` that real free text does not contain);
- otherwise decodes byte by byte as Windows-1252 where latin-1 would give a C1 control character (0x80-0x9F:
  ``’`` ``“`` ``”`` ``–`` ``€`` in Windows text) and as latin-1 elsewhere (the five bytes Windows-1252 leaves
  undefined keep their latin-1 meaning), so no control character ends up in a transcript or an 'Other' text.

>>> decode_text(b"\\xef\\xbb\\xbf[5.3661 - 7.1] x")
('[5.3661 - 7.1] x', 'utf-8')
>>> decode_text(b"Caf\\xe9"), decode_text(b"it\\x92s \\x93fine\\x94")
(('Café', 'latin-1'), ('it’s “fine”', 'windows-1252'))
>>> decode_text("naïve".encode("utf-8"))
('naïve', 'utf-8')
"""

from __future__ import annotations

import os
from pathlib import Path

from hf_ambiguity.errors import CorpusFormatError

__all__ = ["decode_text", "read_bytes", "read_text_or_raise", "unreadable_message", "UTF8_BOM"]

UTF8_BOM = b"\xef\xbb\xbf"


def _c1_table() -> dict[int, str]:
    """Latin-1 C1 control code point → its Windows-1252 character (where Windows-1252 defines one)."""
    table = {}
    for b in range(0x80, 0xA0):
        try:
            table[b] = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: undefined in Windows-1252, kept as latin-1
            pass
    return table


_C1_TO_CP1252 = _c1_table()


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of a corpus text file's bytes: ``utf-8``, ``windows-1252`` or ``latin-1`` (see the
    module docstring); a leading UTF-8 byte-order mark is removed."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("latin-1")
    if any(0x80 <= ord(c) < 0xA0 for c in text):
        return text.translate(_C1_TO_CP1252), "windows-1252"
    return text, "latin-1"


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path`` (the one place the readers read a label or transcript file, so tests can make it
    fail the way a permission problem does)."""
    with open(path, "rb") as fh:
        return fh.read()


def unreadable_message(err: OSError) -> str:
    """``"cannot be read (<reason>); ..."`` for an ``OSError`` raised while opening or reading a corpus file (the
    caller puts the file's name in front)."""
    reason = err.strerror or type(err).__name__
    return f"cannot be read ({reason}); check the file's permissions or restore it from the release"


def read_text_or_raise(path: Path, rel: str) -> tuple[str, str]:
    """:func:`decode_text` of a file that must be readable: an ``OSError`` becomes a :class:`CorpusFormatError`
    naming ``rel``."""
    try:
        return decode_text(read_bytes(path))
    except OSError as err:
        raise CorpusFormatError(f"{rel}: {unreadable_message(err)}") from None
