"""Parsing an annotator's free-text answer into one class name (the reference protocol's rule).

Case-insensitive exact match against the class list first (surrounding whitespace, quotes and punctuation
ignored); otherwise a substring match — the class whose name occurs earliest in the answer (the longest name
wins a tie, so ``"frustrated"`` is not read as a shorter class it contains). No match gives ``None``: the answer is
dropped from the votes and counted in ``<name>_invalid``.

>>> parse_answer("Happy.", ["neutral", "happy", "angry", "sad"])
'happy'
>>> parse_answer("The speaker sounds SAD, maybe angry", ["neutral", "happy", "angry", "sad"])
'sad'
>>> parse_answer("I cannot tell", ["neutral", "happy"]) is None
True
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["parse_answer"]

_STRIP = " \t\r\n\"'`.,;:!?*()[]{}<>"


def parse_answer(answer: str | None, class_names: Sequence[str]) -> str | None:
    """The class named by ``answer``, or ``None`` when it names none (see the module docstring)."""
    if not answer:
        return None
    text = answer.strip().strip(_STRIP).lower()
    lowered = {c.lower(): c for c in class_names}
    if text in lowered:
        return lowered[text]
    hits = [(text.find(low), -len(low), name) for low, name in lowered.items() if low and low in text]
    return min(hits)[2] if hits else None
