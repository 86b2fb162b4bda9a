"""Whether an utterance's audio file can be used: it exists, can be opened, and decodes to a non-empty signal.

A file that only *looks* like audio (a RIFF header followed by garbage, or a 44-byte WAV header with no samples)
would pass a header check, be embedded by the build and fail much later, at annotation, far from the file that
caused it. So the readers open every file with libsndfile (``soundfile``), check its frame count and decode the
first few frames: about 0.1 ms a file, small next to the build reading every file's bytes to embed them.

>>> audio_problem("/nowhere/x.wav")
'missing'
"""

from __future__ import annotations

__all__ = ["audio_problem", "FIRST_FRAMES"]

#: Frames decoded from the start of each file (a short read proves the samples decode, not just the header).
FIRST_FRAMES = 64


def audio_problem(path: str) -> str | None:
    """Why the audio file at ``path`` cannot be used, or None when it decodes to a non-empty signal.

    The reasons: ``"missing"``, ``"unreadable (<OS reason>)"``, ``"not decodable audio (<libsndfile message>)"``,
    ``"empty (a header with no audio samples)"``, ``"truncated (...)"``.
    """
    import soundfile

    try:
        with soundfile.SoundFile(path) as f:
            frames = f.frames
            if frames <= 0:
                return "empty (a header with no audio samples)"
            n = min(frames, FIRST_FRAMES)
            got = len(f.buffer_read(n, dtype="int16")) // (2 * f.channels)
            if got < n:
                return f"truncated (the header announces {frames} frames, only {got} could be decoded)"
    except soundfile.LibsndfileError as err:
        return _os_problem(path) or f"not decodable audio ({_short(err)})"
    except (RuntimeError, ValueError, TypeError) as err:  # anything else libsndfile or soundfile refuses
        return _os_problem(path) or f"not decodable audio ({_short(err)})"
    return None


def _os_problem(path: str) -> str | None:
    """``"missing"`` / ``"unreadable (...)"`` when the operating system cannot give the file's bytes, else None."""
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except FileNotFoundError:
        return "missing"
    except OSError as err:
        return f"unreadable ({err.strerror or type(err).__name__})"
    return None


def _short(err: BaseException) -> str:
    """The libsndfile message without the ``Error opening '<path>':`` prefix (the caller names the file)."""
    text = str(err).strip() or type(err).__name__
    if text.startswith("Error opening") and ": " in text:
        text = text.split(": ", 1)[1]
    return text
